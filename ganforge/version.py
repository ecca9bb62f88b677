"""ganforge's version, in a module of its own so that `import ganforge` and the provenance
record read it without loading anything else (pyproject.toml repeats it for packaging)."""
__version__ = "0.1.0"
