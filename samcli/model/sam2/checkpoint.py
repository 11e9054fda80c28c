"""Official SAM 2 checkpoints -> the image-path state dict; which model a state dict is.

Meta's files are ``{"model": state_dict}`` holding the whole video model. The image path
needs none of the video-only modules, which are dropped by name: exactly the prefixes in
:data:`~samcli.model.sam2.keys.VIDEO_ONLY_PREFIXES`, nothing else. Every other key stays, so
loading the result strictly (or :func:`check_image_state_dict`) still catches a wrong,
truncated or reshaped file.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

import torch

from samcli.errors import CheckpointError
from samcli.model.specs import MODELS

from .arch import Sam2Arch
from .keys import KEYS_ONLY_IN_2_1, VIDEO_ONLY_PREFIXES, is_video_only

__all__ = ["KEYS_ONLY_IN_2_1", "VIDEO_ONLY_PREFIXES", "check_image_state_dict",
           "expected_shapes", "infer_sam2_name", "is_video_only", "split_state_dict",
           "unwrap_checkpoint"]


def unwrap_checkpoint(obj: Any) -> Any:
    """The state dict inside an official file (``{"model": state_dict}``), or ``obj`` itself."""
    if isinstance(obj, Mapping) and set(obj) == {"model"} and isinstance(obj["model"], Mapping):
        return obj["model"]
    return obj


def split_state_dict(
    state: Mapping[str, torch.Tensor], arch: Sam2Arch | None = None
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Split an official SAM 2 state dict into (image-path state dict, video-only keys).

    Only keys under :data:`VIDEO_ONLY_PREFIXES` are set aside; every other key is kept, so a
    strict load of the first part refuses anything unexpected. With ``arch``, the image-path
    part is also checked against that architecture (:func:`check_image_state_dict`).
    """
    image: dict[str, torch.Tensor] = {}
    video: list[str] = []
    for key, value in state.items():
        if isinstance(key, str) and is_video_only(key):
            video.append(key)
        else:
            image[key] = value
    if arch is not None:
        check_image_state_dict(image, arch)
    return image, video


def expected_shapes(arch: Sam2Arch) -> dict[str, tuple[int, ...]]:
    """Image-path key -> shape of a :class:`Sam2` of this architecture (a new dict)."""
    return dict(_expected_shapes(arch))


@lru_cache(maxsize=None)
def _expected_shapes(arch: Sam2Arch) -> dict[str, tuple[int, ...]]:
    from ..meta import on_meta
    from .build import build_sam2  # (build imports the modules; keep this module light)

    with on_meta():
        model = build_sam2(arch)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _listing(keys: list[str], limit: int = 3) -> str:
    return ", ".join(keys[:limit]) + (", ..." if len(keys) > limit else "")


def check_image_state_dict(
    state: Mapping[str, Any], arch: Sam2Arch, what: str = "the SAM 2 state dict"
) -> None:
    """Raise :class:`CheckpointError` unless ``state`` has exactly the image-path keys of
    ``arch`` with their shapes (naming the missing, unexpected and reshaped keys)."""
    expected = expected_shapes(arch)
    missing = [k for k in expected if k not in state]
    unexpected = [str(k) for k in state if k not in expected]
    reshaped = [
        k for k in expected
        if k in state and tuple(getattr(state[k], "shape", ())) != expected[k]
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_listing(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_listing(unexpected)})")
    if reshaped:
        shown = [f"{k} {tuple(state[k].shape)} != {expected[k]}" for k in reshaped]
        problems.append(f"{len(reshaped)} of the wrong shape ({_listing(shown)})")
    if problems:
        raise CheckpointError(
            f"{what} does not match the SAM 2 architecture: keys " + "; ".join(problems)
        )


def infer_sam2_name(state: Mapping[str, Any]) -> str | None:
    """Which official SAM 2 checkpoint of the model table a state dict is shaped like, or None.

    Reads :meth:`Sam2Arch.read_signature` (trunk width, blocks per stage, and the version from
    the video-only keys: an image-path state dict without them reads as SAM 2.1) and finds the
    table row with that signature.
    """
    signature = Sam2Arch.read_signature(unwrap_checkpoint(state))
    if signature is None:
        return None
    return next((name for name, spec in MODELS.items()
                 if spec.family == "sam2" and spec.arch.signature() == signature), None)
