"""From a model name or a checkpoint path to a ready model: the cache, the download, the load.

Without a checkpoint, the official weights of the model (default ``vit_b``) come from the
cache, downloaded first when missing (:mod:`samcli.model.download`). With one, that file is
used and the architecture is the given name or is inferred from the file's keys and shapes.
Every problem is one :class:`~samcli.errors.CheckpointError`, :class:`DownloadError` or
:class:`UsageError` (an unknown name) naming the file or name.

This module imports only torch (when first needed), the standard library,
:mod:`samcli.errors` and the model package's table, cache, checkpoint and download modules.
It sits above :mod:`samcli.model.download`, which verifies downloads with
:mod:`samcli.model.checkpoint`: keeping loading here keeps the imports free of cycles.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samcli.errors import CheckpointError
from samcli.model import checkpoint as ckpt  # `checkpoint` is a parameter name here
from samcli.model._text import count as _count
from samcli.model._text import listing as _listing
from samcli.model.cache import cache_state, cached_path, verify_cached
from samcli.model.download import ProgressCallback, download
from samcli.model.specs import get_spec, model_names, spec_or_default

if TYPE_CHECKING:  # torch is imported when first needed
    import torch

__all__ = ["infer_checkpoint_name", "load_model", "model_family", "resolve_checkpoint"]


def resolve_checkpoint(
    name: str | None,
    checkpoint: Path | str | None,
    download_missing: bool = True,
    *,
    opener: Callable[..., Any] = urllib.request.urlopen,
    progress: ProgressCallback | None = None,
) -> Path:
    """The weight file to use: ``checkpoint`` when given (it wins over the name), else the
    cached file of ``name`` (default ``vit_b``), downloaded first when missing and allowed.

    A cached file must be the official one (:func:`~samcli.model.cache.verify_cached`: its
    size on every call, its SHA-256 once per file identity); a damaged or replaced one is a
    CheckpointError saying to run ``samcli models download NAME --force``, never silently
    used nor silently overwritten."""
    if checkpoint is not None:
        return ckpt.require_file(checkpoint)
    spec = spec_or_default(name)
    path = cached_path(spec.name)
    if cache_state(spec.name) != "missing":
        return verify_cached(spec.name)  # size every time, SHA-256 once per file identity
    if not download_missing:
        raise CheckpointError(
            f"{spec.name} weights are not in the cache ({path}); run "
            f"`samcli models download {spec.name}`, or pass --checkpoint FILE."
        )
    return download(spec.name, opener=opener, progress=progress)


def infer_checkpoint_name(state: dict[str, Any], path: Path | str) -> str:
    """The table name of the model a checkpoint's state dict is for (keys and shapes), or a
    CheckpointError naming the file and the choices."""
    inferred = ckpt.infer_model_name(state)
    if inferred is None:
        raise CheckpointError(
            f"cannot tell which SAM model checkpoint {path} is for "
            f"({_count(len(state), 'tensor', verb=False)}, e.g. {_listing(list(state))}); "
            "pass --model "
            f"{'|'.join(model_names())}."
        )
    return inferred


def check_checkpoint(name: str | None, checkpoint: Path | str) -> tuple[str, list[str]]:
    """Before any work, the ``--checkpoint`` file of a run, as :func:`load_model` will check
    it: readable as a state dict (zip files are memory-mapped: only the pickled index is
    read), with the keys, shapes and kinds of tensor of model ``name`` (inferred when None,
    as :func:`load_model` infers it); and, the first time the file is used as it is now
    (:func:`~samcli.model.cache.check_once`), every zip entry's CRC
    (:func:`~samcli.model.checkpoint.check_zip_crcs`) and every weight finite. Returns the
    table name and warnings (a file of the other release of the model named: SAM 2.0 for
    2.1, which load alike); CheckpointError otherwise. So a wrong file is refused in a
    second, not after being hashed whole and the output folder made."""
    from samcli.model.cache import check_once

    path = ckpt.require_file(checkpoint)
    state = ckpt.read_state_dict(path)
    said: list[str] = []
    try:
        if name is None:
            name = infer_checkpoint_name(state, path)
        else:
            name = get_spec(name).name
            said = _other_release(state, path, name)
        reference = ckpt.expected_state(name)
        network = ckpt.network_state(state, name)
        if reference is not None:
            ckpt.check_state_dict(state, {k: tuple(v.shape) for k, v in reference.items()},
                                  path, name)
            ckpt.require_kinds(network, reference, path)

        def read_through() -> None:
            ckpt.check_zip_crcs(path)
            ckpt.require_finite(network, path)

        check_once(path, "crc32 and finite values", read_through)
    finally:
        state = network = None  # noqa: F841  (drop the memory map)
    return name, said


def _other_release(state: dict[str, Any], path: Path, name: str) -> list[str]:
    """A warning when a file that fits model ``name`` is another row's of the same network
    (``--model sam2.1_hiera_tiny`` with SAM 2.0's ``sam2_hiera_tiny.pt``): it runs, but
    with the weights of a release the user did not name."""
    from samcli.model.sam2.keys import is_video_only

    other = ckpt.infer_model_name(state)
    if other is None or other == name:
        return []
    if not any(isinstance(k, str) and is_video_only(k) for k in state):
        return []  # the image path alone, as either release's file holds it: no telling
    return [f"checkpoint {path} holds {other}'s weights, not {name}'s: the two share one "
            "network, so it runs with the weights as given (leave --model out to have the "
            "file name its model)"]


def model_family(name: str | None, checkpoint: Path | str | None = None) -> str:
    """The family (``sam``, ``mobile_sam``, ``sam2``) of the model a run will use, cheaply:
    from ``name`` when given (the table), else from the keys and shapes of ``checkpoint``
    (read as :func:`load_model` reads it, so the errors are the same; zip files, which all
    official ones are, are memory-mapped, so only the pickled index is read), else the
    default model's. Nothing is downloaded and no network is built."""
    if name is not None or checkpoint is None:
        return spec_or_default(name).family
    path = ckpt.require_file(checkpoint)
    state = ckpt.read_state_dict(path)
    try:
        return get_spec(infer_checkpoint_name(state, path)).family
    finally:
        state = None  # noqa: F841  (drop the memory map)


def load_model(
    name: str | None = None,
    checkpoint: Path | str | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    *,
    download_missing: bool = True,
    opener: Callable[..., Any] = urllib.request.urlopen,
    progress: ProgressCallback | None = None,
) -> torch.nn.Module:
    """Build model ``name`` with its weights, moved to ``device`` / ``dtype``, in eval mode.

    Without ``checkpoint``: the cached official weights of ``name`` (default ``vit_b``),
    downloaded when missing. With ``checkpoint``: that file; the architecture is ``name`` when
    given, else inferred from the file's keys and shapes
    (:func:`~samcli.model.checkpoint.infer_model_name`). SAM 2 files load without their
    video-only keys (:func:`~samcli.model.checkpoint.network_state`); the rest strictly.
    ``dtype``: None means float32 (names such as ``--dtype bfloat16`` are resolved, with the
    device's constraints, by :func:`samcli.predictor.resolve_dtype`).
    """
    import torch

    if name is not None:
        name = get_spec(name).name  # an unknown name is a usage error before any work
    path = resolve_checkpoint(name, checkpoint, download_missing, opener=opener, progress=progress)
    from_cache = checkpoint is None
    try:
        state = ckpt.read_state_dict(path, what=f"cached checkpoint {path}" if from_cache else None)
        if name is None and checkpoint is not None:
            spec = get_spec(infer_checkpoint_name(state, path))
        else:
            spec = spec_or_default(name)
        model = ckpt.make_model(spec.name, skip_init=True)  # every weight comes from the file
        ckpt.apply_state_dict(model, state, path, spec.name)
    except CheckpointError as exc:
        if from_cache:
            raise CheckpointError(
                f"{exc} The cached file may be damaged: run "
                f"`samcli models download {spec_or_default(name).name} --force`."
            ) from None
        raise
    finally:
        state = None  # noqa: F841
    model = model.to(device=device, dtype=dtype or torch.float32)
    return model.eval()
