"""Reading label-side text files: bytes to ``str`` with the file named in every error, line
breaks, short quoted values for messages, and file tests that never raise."""

from __future__ import annotations

import re
from pathlib import Path

from samcli.errors import InputError

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a label file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError:  # a NUL character in the path
        raise InputError(f"{path!r}: not a valid file name") from None
    except MemoryError:
        raise InputError(f"{path}: too large to read into memory") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 text (byte {exc.start})") from None
    except MemoryError:
        raise InputError(f"{path}: too large to read into memory") from None


def _tok(text: str) -> str:
    """A field for an error message: quoted, control characters escaped, long ones cut."""
    if len(text) > 40:
        return f"{text[:30]!r}... ({len(text)} characters)"
    return repr(text)



def _is_file(path: Path) -> bool:
    """``path.is_file()`` that is False, not an error, for names the OS refuses (too long,
    NUL, unencodable)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False
