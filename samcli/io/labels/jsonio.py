"""Strict JSON input for COCO files: the file named in every error (``file:line`` and column
for bad syntax), a key repeated in one object refused (JSON readers keep the last one
silently), numbers too long for any id kept as text, and value checks shared by the COCO
readers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from samcli.errors import InputError
from samcli.io.labels.text import _read_text

class _BigInt:
    """A JSON integer too long to be any id (Python refuses to convert over 4300 digits)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _json_int(text: str) -> int | _BigInt:
    return int(text) if len(text) <= 40 else _BigInt(text)


class _DupDict(dict):
    """A JSON object in which ``duplicate`` appeared more than once."""

    duplicate: str = ""


def _show(value: Any, limit: int = 80) -> str:
    """A JSON value for an error message: JSON spelling, ASCII, cut when long."""
    if isinstance(value, _BigInt):
        return f"{value.text[:20]}... ({len(value.text)}-digit number)"
    try:
        text = json.dumps(value, ensure_ascii=True, default=lambda o: "<number>")
    except (ValueError, RecursionError):
        text = "<value>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_where(data: Any) -> tuple[str, str] | None:
    """Where the first object with a repeated key is: (JSON path, key), or None."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            if isinstance(node, _DupDict):
                return where or "the top-level object", node.duplicate
            children = [(v, f"{where}.{k}" if where else str(k)) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(v, f"{where}[{i}]") for i, v in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    return None


def _load_json(path: Path) -> Any:
    """JSON with the file named in every error: bad syntax (``file:line: ... (column c)``),
    nesting too deep, a key repeated in one object (JSON keeps the last silently; here it
    is an error naming the object), numbers with more digits than any id."""
    text = _read_text(path)
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict:
        d = dict(items)
        if len(d) != len(items):
            seen: set[str] = set()
            d = _DupDict(d)
            for key, _ in items:
                if key in seen:
                    d.duplicate = key
                    break
                seen.add(key)
            duplicates.append(d.duplicate)
        return d

    try:
        data = json.loads(text, parse_int=_json_int, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply") from None
    except MemoryError:
        raise InputError(f"{path}: too large to read into memory") from None
    except ValueError as exc:  # defensive: any other number the decoder refuses
        raise InputError(f"{path}: not valid JSON: {exc}") from None
    if duplicates:
        found = _json_where(data)
        where, key = found if found is not None else ("an object", duplicates[0])
        raise InputError(f"{path}: {where}: key {_show(key)} appears more than once "
                         "(which one is meant is ambiguous)")
    return data


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _json_uint(v: Any, bound: int) -> int | None:
    """``v`` as an integer in [0, bound] (a JSON integer or an integer-valued float), else None."""
    if not _is_number(v):
        return None
    if isinstance(v, float):
        if not (math.isfinite(v) and v.is_integer()):
            return None
        v = int(v)
    return v if 0 <= v <= bound else None


def _valid_text(s: str) -> bool:
    """Encodable as UTF-8 (JSON's \\ud800 escapes make lone surrogates) and no NUL."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in s



def _json_type(v: Any) -> str:
    if isinstance(v, _BigInt):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null", int: "a number", float: "a number"}.get(type(v), type(v).__name__)
