"""RunRequest: everything one run needs, in one typed object.

A command builds it from the command line (or a library caller builds it in code) and hands it
to :func:`samcli.pipeline.run`; no option group travels on its own. The groups and their
defaults are defined in :mod:`samcli.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from samcli.config import (AutomaskConfig, FromBoxesConfig, InputOptions, ModelOptions,
                           OutputOptions, PolygonOptions, ScaleOptions)
from samcli.errors import ConfigError, UsageError

COMMANDS = ("automask", "from-boxes")


@dataclass(frozen=True)
class RunRequest:
    """One run: the command, its inputs and every option group.

    - ``command``: ``"automask"`` (``task`` an :class:`AutomaskConfig`) or ``"from-boxes"``
      (``task`` a :class:`FromBoxesConfig`).
    - ``inputs``: image or label files and folders as given (``-`` reads paths from stdin);
      empty for from-boxes with ``--coco-dets``.
    """

    command: str
    inputs: tuple[str, ...]
    task: Union[AutomaskConfig, FromBoxesConfig]
    model: ModelOptions = field(default_factory=ModelOptions)
    polygon: PolygonOptions = field(default_factory=PolygonOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    input: InputOptions = field(default_factory=InputOptions)
    scale: ScaleOptions = field(default_factory=ScaleOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(str(i) for i in self.inputs))
        expected = AutomaskConfig if self.command == "automask" else FromBoxesConfig
        if self.command not in COMMANDS:
            raise UsageError(f"unknown command {self.command!r}")
        if not isinstance(self.task, expected):
            raise TypeError(f"{self.command} needs a {expected.__name__}, "
                            f"not {type(self.task).__name__}")
        for group in (self.task, self.polygon, self.output, self.input, self.scale):
            group.validate()  # ConfigError before any work, whoever built the request
        if self.scale.enabled and not self.automask:  # (the command has no such options)
            raise ConfigError("Ray runs automask only: from-boxes runs in-process")

    @property
    def automask(self) -> bool:
        return self.command == "automask"
