"""ModelLoader: which model a run uses, where and in which precision; loaded on first use.

Device, dtypes, model name and checkpoint file are checked when the loader is made (before any
work), but the weights are read only when the first image needs them, so a resumed run with
nothing left to do, or a folder of unreadable files, loads nothing. Each executor worker (this
process, or a Ray actor) has its own loader, made from the same :class:`ModelOptions`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from samcli.config import ModelOptions
from samcli.errors import CheckpointError

if TYPE_CHECKING:
    from samcli.predictor import Predictor


class ModelLoader:
    """The run's model: resolved precision and device now, the :class:`Predictor` on
    :meth:`get`."""

    def __init__(self, opts: ModelOptions) -> None:
        from samcli.model.specs import get_spec
        from samcli.predictor import resolve_decoder_precision, resolve_device, resolve_dtype

        # Bad names, devices, dtypes and missing checkpoint files fail before any work
        if opts.model is not None:
            get_spec(opts.model)
        if opts.checkpoint and not Path(opts.checkpoint).is_file():
            raise CheckpointError(f"checkpoint {opts.checkpoint}: no such file")
        self.device = resolve_device(opts.device)
        self.dtype = resolve_dtype(opts.dtype, self.device)
        self.decoder_dtype, self.decoder_products = resolve_decoder_precision(
            opts.decoder_dtype, self.dtype, self.device)
        self.opts = opts
        self._predictor: Predictor | None = None

    @property
    def identity(self) -> dict[str, Any]:
        """What identifies the weights and precision, for the manifest hash."""
        ident: dict[str, Any] = {"model": self.opts.model or "vit_b", "dtype": self.opts.dtype}
        if self.decoder_dtype != self.dtype:  # absent otherwise: earlier runs' hashes hold
            ident["decoder_dtype"] = str(self.decoder_dtype).removeprefix("torch.")
        if self.decoder_products is not None:
            ident["decoder_products"] = str(self.decoder_products).removeprefix("torch.")
        if self.opts.checkpoint:
            p = Path(self.opts.checkpoint)
            ident["checkpoint"] = str(p.resolve())
            ident["checkpoint_size"] = p.stat().st_size if p.exists() else None
        return ident

    def get(self) -> Predictor:
        """The predictor, loading the weights (downloading them into the cache if needed) the
        first time."""
        if self._predictor is None:
            from samcli.console import download_progress
            from samcli.model.loading import load_model
            from samcli.predictor import Predictor

            checkpoint = Path(self.opts.checkpoint) if self.opts.checkpoint else None
            with download_progress(f"{self.opts.model or 'vit_b'} weights") as progress:
                model = load_model(self.opts.model, checkpoint, device=self.device,
                                   progress=progress)
            self._predictor = Predictor(model, device=self.device, dtype=self.dtype,
                                        decoder_dtype=self.decoder_dtype,
                                        decoder_products=self.decoder_products)
        return self._predictor
