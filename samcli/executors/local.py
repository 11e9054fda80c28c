"""InProcess: the unit of work in this process, one input after another."""

from __future__ import annotations

import time
from typing import Any, Iterator, Sequence

from samcli.errors import InputError
from samcli.executors import OnItemBatch, Outcome
from samcli.io.inputs import InputItem
from samcli.loader import ModelLoader


class InProcess:
    """Runs ``work`` (an :class:`~samcli.jobs.AutomaskWork` or
    :class:`~samcli.jobs.FromBoxesWork`) with the run's model, reporting prompt batches."""

    def __init__(self, work: Any, model: ModelLoader) -> None:
        self.work = work
        self.model = model

    def outcomes(self, items: Sequence[InputItem],
                 on_batch: OnItemBatch | None = None) -> Iterator[Outcome]:
        for item in items:
            batches = None if on_batch is None else (
                lambda done, total, item=item: on_batch(item, done, total))
            t0 = time.perf_counter()
            try:
                result = self.work(self.model, item, on_batch=batches)
            except InputError as exc:
                yield Outcome(item, error=str(exc), seconds=time.perf_counter() - t0)
                continue
            yield Outcome(item, result=result, seconds=time.perf_counter() - t0)
