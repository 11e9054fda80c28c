"""Small helpers for the model package's one-paragraph error messages."""

from __future__ import annotations


def one_line(text: object, limit: int = 200) -> str:
    """``text`` with its whitespace collapsed to single spaces, cut to ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def count(n: int, noun: str, verb: bool = True) -> str:
    """``1 key is`` / ``3 keys are`` / ``2 entries are`` (or without the verb)."""
    plural = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    text = f"{n} {noun if n == 1 else plural}"
    if verb:
        text += " is" if n == 1 else " are"
    return text


def listing(keys: list[str], limit: int = 3) -> str:
    """The first ``limit`` of ``keys``, comma-separated, with ``, ...`` when there are more."""
    shown = ", ".join(keys[:limit])
    return shown + (", ..." if len(keys) > limit else "")
