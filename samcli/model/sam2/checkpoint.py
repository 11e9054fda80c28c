"""Official SAM 2 checkpoints -> the image-path state dict; which model a state dict is.

Meta's files are ``{"model": state_dict}`` holding the whole video model. The image path
needs none of the video-only modules, which are dropped by name: exactly the prefixes in
:data:`VIDEO_ONLY_PREFIXES`, nothing else. Every other key stays, so loading the result
strictly (or :func:`check_image_state_dict`) still catches a wrong, truncated or reshaped file.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping

import torch

from samcli.errors import CheckpointError

from .arch import SAM2_CHECKPOINTS, Sam2Arch

#: Modules and parameters of SAM 2's video tracker, absent from :class:`Sam2`. A key is video-
#: only when it equals one of these or starts with one of them followed by a dot.
VIDEO_ONLY_PREFIXES: tuple[str, ...] = (
    "memory_attention",  # cross-attention of the frame to its memories
    "memory_encoder",  # masks + features -> memories
    "maskmem_tpos_enc",  # temporal position of each memory
    "no_mem_pos_enc",  # position of the "no memory" token in memory attention
    "mask_downsample",  # mask prompt -> stride-4 logits, for object pointers
    "obj_ptr_proj",  # SAM output token -> object pointer
    "no_obj_ptr",  # pointer of an absent object
    "obj_ptr_tpos_proj",  # 2.1 only: projection of the pointers' temporal encoding
    "no_obj_embed_spatial",  # 2.1 only: memory embedding of an absent object
)

#: Video-only keys present in SAM 2.1 checkpoints and absent from SAM 2.0 ones.
KEYS_ONLY_IN_2_1: tuple[str, ...] = (
    "no_obj_embed_spatial",
    "obj_ptr_tpos_proj.weight",
    "obj_ptr_tpos_proj.bias",
)


def is_video_only(key: str) -> bool:
    """Whether ``key`` belongs to a video-only module (see :data:`VIDEO_ONLY_PREFIXES`)."""
    return any(key == p or key.startswith(p + ".") for p in VIDEO_ONLY_PREFIXES)


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
    from .build import build_sam2  # (build imports the modules; keep this module light)

    with torch.device("meta"):
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


def _trunk_stages(keys: list[str]) -> tuple[int, ...] | None:
    """Blocks per trunk stage, from the block indexes and the blocks that change width
    (those have a ``proj`` shortcut: the first block of every stage but the first)."""
    blocks: set[int] = set()
    starts: set[int] = set()
    pattern = re.compile(r"image_encoder\.trunk\.blocks\.(\d+)\.(proj\.)?")
    for key in keys:
        match = pattern.match(key)
        if match:
            blocks.add(int(match.group(1)))
            if match.group(2):
                starts.add(int(match.group(1)))
    if not blocks or blocks != set(range(len(blocks))):
        return None
    bounds = [0, *sorted(starts), len(blocks)]
    return tuple(b - a for a, b in zip(bounds, bounds[1:]))


def infer_sam2_name(state: Mapping[str, Any]) -> str | None:
    """Which official SAM 2 checkpoint a state dict is shaped like, or None.

    The size comes from the trunk width (``patch_embed`` output channels) and its blocks per
    stage; the version from the video-only keys: SAM 2.1 files have ``no_obj_embed_spatial``
    and ``obj_ptr_tpos_proj``, SAM 2.0 files have other video keys but not these. A state
    dict without any video key (the image path alone, as :class:`Sam2` saves it) is the same
    architecture in both versions and is reported as SAM 2.1.
    """
    state = unwrap_checkpoint(state)
    keys = [k for k in state if isinstance(k, str)]
    if not any(k.startswith("sam_mask_decoder.") for k in keys):
        return None
    weight = state.get("image_encoder.trunk.patch_embed.proj.weight")
    shape = getattr(weight, "shape", None)
    if shape is None or len(shape) != 4:
        return None
    stages = _trunk_stages(keys)
    video = [k for k in keys if is_video_only(k)]
    if video and not any(k in state for k in KEYS_ONLY_IN_2_1):
        version = "2.0"
    else:
        version = "2.1"
    for name, ck in SAM2_CHECKPOINTS.items():
        if ck.version == version and ck.arch.embed_dim == int(shape[0]) \
                and ck.arch.stages == stages:
            return name
    return None
