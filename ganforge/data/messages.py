"""Error text: the CLI prints DataError messages as a single line, so squeeze library errors."""

from __future__ import annotations


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
