"""Executors: where the unit of work (:mod:`samcli.jobs`) runs. Interchangeable around it.

An executor takes the inputs left to do and yields one :class:`Outcome` per input, in any
order (the runner writes each as it comes): the finished result, or the input's error
message. Anything else that goes wrong (weights that cannot be loaded, a lost cluster) is
raised as a :class:`~samcli.errors.SamcliError` and stops the run; what was yielded before
stays written. Closing the iterator early (``--fail-fast``, Ctrl-C) stops the work.

- :class:`samcli.executors.local.InProcess`: this process, one input after another.
- :class:`samcli.executors.ray_actors.RayExecutor`: a pool of Ray actors (optional extra ``ray``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Protocol, Sequence

from samcli.io.inputs import InputItem
from samcli.results import ImageResult

#: ``on_batch(item, done, total)``: progress through one input's prompt batches (executors
#: that can report it call it; others never do).
OnItemBatch = Callable[[InputItem, int, int], None]


@dataclass
class Outcome:
    """One input's outcome: ``result`` or ``error`` (an InputError's message), and the
    seconds its unit of work took."""

    item: InputItem
    result: ImageResult | None = None
    error: str | None = None
    seconds: float = 0.0


class Executor(Protocol):
    """See the module docstring."""

    def outcomes(self, items: Sequence[InputItem],
                 on_batch: OnItemBatch | None = None) -> Iterator[Outcome]: ...
