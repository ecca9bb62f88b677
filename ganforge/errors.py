"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""


class GanforgeError(Exception):
    """Base class: anything raised as this is the user's problem to fix, stated in one line."""


class ConfigError(GanforgeError):
    """Unknown recipe, unknown key, wrong type, illegal combination."""


class DataError(GanforgeError):
    """Missing, empty, corrupt or malformed data; the message names the file."""


class CheckpointError(GanforgeError):
    """Unreadable, tampered or incompatible checkpoint or run directory."""
