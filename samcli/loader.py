"""ModelLoader: which model a run uses, where and in which precision; loaded on first use.

Device, dtypes, model name and checkpoint file are checked when the loader is made (before any
work), but the weights are read only when the first image needs them, so a resumed run with
nothing left to do, or a folder of unreadable files, loads nothing. Each executor worker (this
process, or a Ray actor) has its own loader, made from the same :class:`ModelOptions`.
The predictor class follows the model's family (:func:`make_predictor`): SAM 1 and MobileSAM
get :class:`~samcli.predictor.Predictor`, SAM 2 :class:`~samcli.predictor_sam2.Sam2Predictor`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from samcli.config import ModelOptions
from samcli.threads import use_model_threads

if TYPE_CHECKING:
    import torch

    from samcli.predictor import PromptModel


def make_predictor(family: str, model: torch.nn.Module, **precision: Any) -> PromptModel:
    """The predictor of a model of ``family`` (``sam``, ``mobile_sam``, ``sam2``: see
    :mod:`samcli.model.specs`), with ``device``, ``dtype``, ``decoder_dtype`` and
    ``decoder_products`` as the predictors take them."""
    if family == "sam2":
        from samcli.predictor_sam2 import Sam2Predictor

        return Sam2Predictor(model, **precision)
    from samcli.predictor import Predictor

    return Predictor(model, **precision)


class ModelLoader:
    """The run's model: resolved precision and device now, its predictor on :meth:`get`."""

    def __init__(self, opts: ModelOptions) -> None:
        from samcli.model.specs import spec_or_default
        from samcli.predictor import resolve_decoder_precision, resolve_device, resolve_dtype

        # Bad names, devices, dtypes and missing checkpoint files fail before any work
        named = spec_or_default(opts.model).name
        if opts.checkpoint is not None:
            from samcli.model.loading import check_checkpoint

            named, said = check_checkpoint(opts.model, opts.checkpoint)
        else:
            said = []
        #: The table name of the model :meth:`get` builds: ``--model``'s, else the one the
        #: checkpoint's keys and shapes name (checked now), else the default model.
        self.model_name: str = named
        #: What the caller should tell the user before the run (a file of the other release
        #: of the model named); the loader prints nothing itself.
        self.warnings: list[str] = said
        self.device = resolve_device(opts.device)
        self.dtype = resolve_dtype(opts.dtype, self.device)
        self.decoder_dtype, self.decoder_products = resolve_decoder_precision(
            opts.decoder_dtype, self.dtype, self.device)
        self.opts = opts
        self._predictor: PromptModel | None = None
        self._identity: dict[str, Any] | None = None

    @property
    def identity(self) -> dict[str, Any]:
        """What identifies the run's model, for the manifest hash: the architecture asked for,
        the weights by their content (the official file's SHA-256; for ``--checkpoint`` the
        file's SHA-256, computed once per file identity and remembered in the cache folder:
        :func:`samcli.model.cache.weights_digest`) and the precision as resolved on this
        machine (never the word ``auto``). The checkpoint's path is not part of it: the same
        weights elsewhere resume; other weights at the same path do not."""
        from samcli.model.cache import weights_digest
        from samcli.model.specs import DEFAULT_MODEL, get_spec, spec_or_default

        if self._identity is None:
            if self.opts.checkpoint is not None:
                weights = weights_digest(self.opts.checkpoint)
            else:
                weights = spec_or_default(self.opts.model).sha256
            name = get_spec(self.opts.model).name if self.opts.model is not None else (
                "from checkpoint" if self.opts.checkpoint is not None else DEFAULT_MODEL)
            self._identity = {"model": name, "weights": weights, **self.precision}
        return self._identity

    @property
    def precision(self) -> dict[str, str | None]:
        """The precisions as resolved here (``dtype``, ``decoder_dtype``, ``decoder_products``:
        torch names such as ``bfloat16``; products None when they follow the decoder)."""
        return {"dtype": _name(self.dtype), "decoder_dtype": _name(self.decoder_dtype),
                "decoder_products": _name(self.decoder_products)}

    def precision_flags(self) -> str:
        """The options that ask for :attr:`precision` on any device: ``--dtype bfloat16
        --decoder-dtype mixed``."""
        p = self.precision
        mixed = p["decoder_products"] not in (None, p["decoder_dtype"])
        return f"--dtype {p['dtype']} --decoder-dtype {'mixed' if mixed else p['decoder_dtype']}"

    @property
    def family(self) -> str:
        """``sam``, ``mobile_sam`` or ``sam2``: the family of :attr:`model_name`."""
        from samcli.model.specs import get_spec

        return get_spec(self.model_name).family

    def get(self) -> PromptModel:
        """The predictor, loading the weights (downloading them into the cache if needed) the
        first time."""
        use_model_threads()  # every time: records must not depend on where the model runs
        if self._predictor is None:
            from samcli.console import download_progress
            from samcli.model.loading import load_model

            checkpoint = Path(self.opts.checkpoint) if self.opts.checkpoint is not None else None
            with download_progress(f"{self.model_name} weights") as progress:
                model = load_model(self.model_name, checkpoint, device=self.device,
                                   progress=progress)
            self._predictor = make_predictor(self.family, model, device=self.device,
                                             dtype=self.dtype,
                                             decoder_dtype=self.decoder_dtype,
                                             decoder_products=self.decoder_products)
        return self._predictor


def _name(dtype: Any) -> str | None:
    return None if dtype is None else str(dtype).removeprefix("torch.")
