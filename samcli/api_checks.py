"""The library API's arguments (:mod:`samcli.api`): Python values checked and converted to
what the command line's parser would give (an option of the flag's type, boxes as an (N, 4)
array, class ids and confidences as label files allow them), or samcli's errors before any
work: :class:`~samcli.errors.UsageError` for a value of the wrong kind,
:class:`~samcli.errors.ConfigError` for one that cannot work, as for the command's options.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import typing
from typing import Any, Sequence

import numpy as np

from samcli.config import (MAX_CLASS_ID, AutomaskConfig, FromBoxesConfig, ModelOptions,
                           PolygonOptions, flag_of)
from samcli.errors import ConfigError, InputError, UsageError
from samcli.fs import text_of_path


def typed_options(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` for the option dataclass ``cls``, each value of its field's type, NumPy
    scalars as Python ones; None (the default) left out. A value of another type is a
    :class:`UsageError` before any work (as Typer refuses it on the command line): a bool
    field wants a bool (not ``"no"``, which is true), an int field an integer, a float field
    a real number; a text field takes text or a number (``min_area=500``)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for key, value in options.items():
        if value is None:
            continue
        kinds = set(typing.get_args(hints[key])) or {hints[key]}
        kind = next(k for k in (bool, int, float, str) if k in kinds)
        if kind is bool and isinstance(value, (bool, np.bool_)):
            out[key] = bool(value)
        elif kind is int and is_int(value):
            out[key] = int(value)
        elif kind in (float, str) and is_real(value):  # (an area: 1e-05 as 0.00001)
            out[key] = float(value) if kind is float else _plain_number(value)
        elif kind is str and isinstance(value, str):
            out[key] = value
        else:
            wanted = {bool: "True or False", int: "an integer", float: "a number",
                      str: "text or a number"}[kind]
            raise UsageError(f"{key}={short(value)}: expected {wanted}")
    return out


def _plain_number(value: Any) -> str:
    """A number as the command line would take it as text: digits and a point, never an
    exponent (``str(1e-05)`` is ``'1e-05'``, which no area option reads)."""
    if is_int(value):
        return str(int(value))
    shortest = value if isinstance(value, np.floating) else float(value)  # (its own digits)
    return np.format_float_positional(shortest, trim="-")


#: An option flag in a message: ``--points-per-side`` (not the middle of a word or path),
#: with the placeholder of its value when one follows (``--checkpoint FILE``)
_FLAG = re.compile(r"(?<![\w/-])(--[a-z0-9][a-z0-9-]*)(?![\w-])( [A-Z]+\b(?![\w-]))?")


#: from-boxes options of the command alone: the library is given the image and its boxes
COMMAND_ONLY_BOX_OPTIONS = frozenset({"images", "coco_dets", "image_map"})


@functools.lru_cache(maxsize=1)
def _keywords() -> dict[str, str]:
    """Every option flag the library's calls take, as its keyword: each field of the
    option dataclasses by its flags (both of a ``--x/--no-x`` pair), and the three that
    are not in them or are named otherwise in Python."""
    names = {}
    for cls in (ModelOptions, AutomaskConfig, FromBoxesConfig, PolygonOptions):
        for f in dataclasses.fields(cls):
            if cls is FromBoxesConfig and f.name in COMMAND_ONLY_BOX_OPTIONS:
                continue
            for flag in flag_of(f).split("/"):
                names[flag] = f.name
    names.update({"--classes": "only_classes", "--preset": "preset",
                  "--max-pixels": "max_pixels"})
    return names


def api_terms(message: str, keep: Sequence[str] = ()) -> str:
    """A message written for the command line in the library's terms: each option flag it
    names that a library call takes as a keyword becomes that keyword (``--points-per-side``
    -> ``points_per_side``, ``--classes`` -> ``only_classes``, ``--checkpoint FILE`` ->
    ``checkpoint=FILE``); the rest is unchanged, and so is every occurrence of the texts in
    ``keep`` (the caller's own paths and names: a file ``--simplify.png`` stays so named)."""
    names = _keywords()

    def keyword(m: re.Match) -> str:
        name = names.get(m.group(1))
        if name is None:
            return m.group(0)
        return name + ("=" + m.group(2)[1:] if m.group(2) else "")

    kept = sorted({k for k in keep if "--" in k}, key=len, reverse=True)  # (others: safe)
    if not kept:
        return _FLAG.sub(keyword, message)
    pieces = re.split("(" + "|".join(map(re.escape, kept)) + ")", message)
    return "".join(piece if i % 2 else _FLAG.sub(keyword, piece)
                   for i, piece in enumerate(pieces))


def is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    return is_int(value) or isinstance(value, (float, np.floating))


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def record_name(name: str) -> str:
    """A record's ``image`` field: valid Unicode, undecodable bytes as ``\\xNN`` (the
    command's rule for file names)."""
    try:
        return text_of_path(name)
    except UnicodeEncodeError:  # a lone surrogate not from a file name
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def fs_text(path: Any, what: str, expected: str = "a path") -> str:
    """A path given as str, bytes or path-like, as the str the file system functions take;
    anything else is a :class:`UsageError` saying what was ``expected``."""
    try:
        return os.fsdecode(path)
    except TypeError:
        raise UsageError(f"{what}={short(path)}: expected {expected}") from None


def path_text(path: Any, what: str) -> str:
    """An input file's path as :func:`fs_text` gives it (the other choice being an array);
    an empty path or one with a NUL byte is an :class:`InputError`."""
    text = fs_text(path, what, "a path or an array")
    if not text or "\0" in text:
        raise InputError(f"{what} path {short(text)}: " + ("empty" if not text else
                                                             "contains a NUL byte"))
    return text


def _untensored(values: Any) -> Any:
    """A torch tensor (a detector's output, on any device, with or without autograd) as a
    NumPy array; anything else as it is."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        tensor = values.detach().cpu()
        try:
            return tensor.numpy()
        except TypeError:  # bfloat16 (a detector under autocast), float8: no NumPy dtype
            if not tensor.is_floating_point():
                raise ConfigError(f"a tensor of {tensor.dtype}: expected real numbers") from None
            return tensor.float().numpy()  # (exact: float32 holds every such value)
    return values


def _scalar(value: Any) -> Any:
    """One box's value given as a 0-d tensor or array (``list(tensor)`` gives those) as a
    NumPy scalar; anything else as it is."""
    value = _untensored(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def boxes_xyxy(boxes: Any) -> np.ndarray:
    """(N, 4) float64 xyxy from ``boxes`` (ConfigError for anything else); torch tensors as
    NumPy arrays."""
    boxes = _untensored(boxes)
    if isinstance(boxes, (str, bytes, dict)):
        raise ConfigError(f"boxes: expected an (N, 4) array of x1 y1 x2 y2, got "
                          f"{short(boxes)}")
    try:
        xyxy = np.asarray(list(boxes) if not isinstance(boxes, np.ndarray) else boxes,
                          dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"boxes: expected an (N, 4) array of x1 y1 x2 y2 numbers "
                          f"({exc})") from None
    if xyxy.size == 0:
        return xyxy.reshape(0, 4)
    if xyxy.ndim != 2 or xyxy.shape[1] != 4:
        raise ConfigError(f"boxes: expected an (N, 4) array of x1 y1 x2 y2, got shape "
                          f"{xyxy.shape}")
    return xyxy


def _per_box(values: Any, n: int, what: str) -> list[Any]:
    """``values`` as a list of ``n`` (ConfigError for anything that is not an iterable of n)."""
    try:
        values = list(values)
    except TypeError:
        raise ConfigError(f"{what}: expected one per box ({n}), got {short(values)}") from None
    if len(values) != n:
        raise ConfigError(f"{what}: one per box ({n}), got {len(values)}")
    return [_scalar(v) for v in values]


def class_ids(classes: Any, n: int) -> np.ndarray:
    """Per-box class ids as int64: integers from 0 to MAX_CLASS_ID, or floats equal to one
    (``3.0``, as label files may write them and ultralytics' ``boxes.cls`` holds them);
    ConfigError else."""
    if classes is None:
        return np.zeros(n, np.int64)
    values = _per_box(_untensored(classes), n, "classes")
    for i, c in enumerate(values):
        whole = is_int(c) or (is_real(c) and math.isfinite(c) and float(c).is_integer())
        if not (whole and 0 <= c <= MAX_CLASS_ID):
            raise ConfigError(f"classes[{i}]={short(c)}: expected an integer from 0 to "
                              f"{MAX_CLASS_ID}")
    return np.array([int(c) for c in values], np.int64)


def confidences_array(confidences: Any, n: int) -> np.ndarray:
    """Per-box confidences as float64, NaN for none: numbers from 0 to 1, or None/NaN."""
    if confidences is None:
        return np.full(n, np.nan)
    values = _per_box(_untensored(confidences), n, "confidences")
    out = np.full(n, np.nan)
    for i, c in enumerate(values):
        if c is None or (is_real(c) and math.isnan(c)):
            continue
        if not (is_real(c) and 0.0 <= float(c) <= 1.0):
            raise ConfigError(f"confidences[{i}]={short(c)}: expected a number from 0 to 1, "
                              "or None for none")
        out[i] = float(c)
    return out


def only_classes_text(only: Any) -> str | None:
    """``only_classes`` as the command's ``--classes`` text: ids (checked there), or that
    text itself; an empty list would keep nothing, so it is refused."""
    if only is None or isinstance(only, str):
        return only
    if isinstance(only, (bytes, dict)) or not isinstance(only, (Sequence, np.ndarray, set,
                                                                frozenset)):
        raise UsageError(f"only_classes={short(only)}: expected a list of class ids")
    ids = list(only)
    if not ids:
        raise UsageError("only_classes=[]: would keep no box; give None for every class")
    if not all(is_int(c) for c in ids):
        raise UsageError(f"only_classes={short(only)}: expected integer class ids")
    return ",".join(str(int(c)) for c in ids)
