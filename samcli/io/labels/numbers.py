"""Strict number parsing for label files: plain ASCII decimals only, finite, ids exact.

``class`` and ``track_id`` are integers from 0 to :data:`MAX_CLASS_ID` (2^31 - 1), written as
any numeral equal to one (``3``, ``3.0``, ``3e0``; checked exactly, so ``1.0000000000000001``
is not an integer); no ``nan``/``inf``, ``_`` separators or non-ASCII digits, all of which
Python's ``float()``/``int()`` would accept.
"""

from __future__ import annotations

import math
import re

from samcli.config import MAX_CLASS_ID
from samcli.errors import InputError
from samcli.io.labels.text import _tok


# A plain ASCII decimal numeral: groups (integer digits, fraction digits, fraction digits
# without integer part, exponent). ``re.ASCII``: ``\d`` must not match '٣' or '３'. No two
# ways to split a digit run (``\d+\.?\d*`` had them): a long digit run followed by a bad
# character then backtracks in O(n) rather than O(n^2) (20,000 digits took 10 s).
_NUMBER = re.compile(r"[+-]?(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?\Z", re.ASCII)

_CANONICAL_INT = re.compile(r"(?:0|[1-9][0-9]*)\Z", re.ASCII)


def _exact_int(m: re.Match[str]) -> int | None:
    """The integer a :data:`_NUMBER` match denotes exactly, or None when it is not an integer.

    Callers check the range with ``float()`` first, so the result has at most ~20 digits.
    Exact, unlike ``float(text).is_integer()`` (``"1.0000000000000001"``, ``"1e-400"``).
    """
    ip = m.group(1) or ""
    fp = m.group(2) or m.group(3) or ""
    digits = (ip + fp).lstrip("0")
    if not digits:
        return 0
    core = digits.rstrip("0")
    exp = m.group(4) or "0"
    mag = exp.lstrip("+-").lstrip("0") or "0"
    if len(mag) > 9:  # |exponent| >= 1e9: tiny (not an integer) or caught as out of range
        return None
    e = (-int(mag) if exp.startswith("-") else int(mag)) - len(fp) + (len(digits) - len(core))
    if e < 0 or len(core) + e > 40:
        return None
    value = int(core) * 10**e
    return -value if m.group(0).startswith("-") else value


def _parse_float(text: str, what: str, where: str) -> float:
    if _NUMBER.match(text):
        value = float(text)
        if math.isfinite(value):
            return value
        raise InputError(f"{where}: {what} {_tok(text)} is out of range")
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {what} {_tok(text)} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: {what} {_tok(text)} is not finite")
    # float() accepts more than a label file should hold: '1_0', '٣', '３'
    raise InputError(f"{where}: {what} {_tok(text)} is not a number (plain ASCII decimals only: "
                     "no '_' separators, no non-ASCII digits)")


def _parse_int(text: str, what: str, where: str, hint: str = "") -> int:
    """An id: a decimal numeral equal to an integer in [0, MAX_CLASS_ID] (``3``, ``3.0``, ``3e0``)."""
    noun = what if what.endswith(" id") else f"{what} id"
    bounds = f"{noun}s are integers from 0 to {MAX_CLASS_ID}"
    m = _NUMBER.match(text)
    if m is None:
        _parse_float(text, what, where)  # raises with the reason
        raise AssertionError("unreachable")
    value = float(text)
    if value < 0:
        raise InputError(f"{where}: {what} {_tok(text)} is negative ({bounds})")
    if not value <= MAX_CLASS_ID:  # also inf: '1e400'
        raise InputError(f"{where}: {what} {_tok(text)} is out of range ({bounds})")
    exact = _exact_int(m)
    if exact is None:
        raise InputError(f"{where}: {what} {_tok(text)} is not an integer{hint}")
    if not 0 <= exact <= MAX_CLASS_ID:  # float rounding at the edges
        raise InputError(f"{where}: {what} {_tok(text)} is out of range ({bounds})")
    return exact


def _parse_conf(text: str, where: str) -> float:
    value = _parse_float(text, "confidence", where)
    if not 0.0 <= value <= 1.0:
        hint = ("; a track id? a file of 'class cx cy w h track_id' rows (ultralytics tracking "
                "without save_conf) is read so when the column holds whole numbers only"
                if value > 1 and value == int(value) else "")
        raise InputError(f"{where}: confidence {_tok(text)} is outside [0, 1]{hint}")
    return value + 0.0  # -0.0 -> 0.0
