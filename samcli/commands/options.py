"""Typer options derived from the config dataclasses (``samcli.config``).

``build_command(fn, groups, extra)`` gives ``fn`` a signature with one Typer option per
dataclass field, so the flag, default and help line come from the field. Options whose value
the user did not give arrive as ``None`` for preset-able groups (so presets can fill them) and as
the field default otherwise. ``split(kwargs, Group)`` builds the dataclass back.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any, Callable, Optional

import typer
from rich.markup import escape

from samcli import config


#: What ``--help`` shows for an option's value when the field names nothing better.
_METAVARS = {int: "N", float: "X", str: "TEXT", bool: ""}


def metavar_of(f: dataclasses.Field, base: Any) -> str:
    """The value placeholder shown in ``--help`` (``N``, ``X``, ``DIR``, ``sam|dense|...``):
    the field's ``metavar`` metadata, else one by type; flags show none."""
    if base is bool:
        return ""
    return f.metadata.get("metavar") or _METAVARS.get(base, "VALUE")


def default_text(f: dataclasses.Field) -> str:
    """The default as ``--help`` shows it: the field's ``default_text`` when the value would
    read badly (512/1500), the flag in force for an on/off pair (``--keep-border``)."""
    if f.metadata.get("default_text"):
        return f.metadata["default_text"]
    flag = config.flag_of(f)
    if isinstance(f.default, bool) and "/" in flag:
        on, off = flag.split("/", 1)
        return on if f.default else off
    return str(f.default)


def _option(f: dataclasses.Field, annotation: Any, default: Any, base: Any) -> inspect.Parameter:
    flags = [config.flag_of(f)]
    if f.metadata.get("short"):
        flags.append(f.metadata["short"])
    shown: bool | str = default is not None and base is not bool
    if shown and f.metadata.get("default_text"):
        shown = f.metadata["default_text"]
    help = f.metadata["help"]
    if default is not None and base is bool and "/" in flags[0]:
        # a flag pair (--multimask/--single-mask) names the flag in force, as the presettable
        # options' help does (Typer's own text would drop its dashes)
        help += escape(f" [default: {default_text(f)}]")
    info = typer.Option(
        default,
        *flags,
        help=help,
        rich_help_panel=f.metadata["panel"],
        show_default=shown,
        metavar=metavar_of(f, base),
    )
    return inspect.Parameter(
        f.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation
    )


def params_for(cls: type, presettable: bool = False) -> list[inspect.Parameter]:
    """One Typer option per field of ``cls``; ``presettable`` makes every default None."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        base = hints[f.name]
        if typing.get_origin(base) is typing.Union:  # Optional[X]
            base = next(a for a in typing.get_args(base) if a is not type(None))
        if presettable:
            default = None
            changed = any(f.name in values for values in config.PRESETS.values())
            family = "".join(f"; {values[f.name]} with {config.FAMILY_LABELS.get(name, name)} "
                             "models" for name, values in config.FAMILY_DEFAULTS.items()
                             if f.name in values)
            help_suffix = escape(f" [default: {default_text(f)}{family}"
                                 + ("; --preset may change it]" if changed else "]"))
            f = _with_help(f, f.metadata["help"] + help_suffix)
        else:
            default = f.default
        out.append(_option(f, Optional[base], default, base))
    return out


def _with_help(f: dataclasses.Field, help: str) -> dataclasses.Field:
    g = dataclasses.field(default=f.default, metadata={**f.metadata, "help": help})
    g.name = f.name
    return g


def build_command(fn: Callable, leading: list[inspect.Parameter], groups: list[tuple[type, bool]]):
    """Give ``fn(**kwargs)`` the signature: ``leading`` params, then every group's options."""
    params = list(leading)
    for cls, presettable in groups:
        params.extend(params_for(cls, presettable))
    fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return fn


def take(kwargs: dict[str, Any], cls: type) -> dict[str, Any]:
    """The values of ``cls``'s fields in ``kwargs`` (removed from it)."""
    return {f.name: kwargs.pop(f.name) for f in dataclasses.fields(cls) if f.name in kwargs}


def make(kwargs: dict[str, Any], cls: type):
    """Build ``cls`` from its fields in ``kwargs`` (None -> field default), validated."""
    values = {k: v for k, v in take(kwargs, cls).items() if v is not None}
    obj = cls(**values)
    return obj.validate() if hasattr(obj, "validate") else obj
