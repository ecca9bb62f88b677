"""Optional packages for some formats, imported only when that format is used."""
from __future__ import annotations

import importlib

from ganforge.errors import DataError


def import_extra(module: str, extra: str, what: str):
    """Import `module`, or stop with one line saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise DataError(f"reading {what} needs the '{module}' package: pip install 'ganforge[{extra}]' "
                        f"({error.__class__.__name__}: {error})".replace("\n", " ")) from error
