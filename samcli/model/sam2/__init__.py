"""SAM 2 / SAM 2.1 image models, state-dict compatible with Meta's official checkpoints.

One idea per module: ``hiera`` (trunk), ``position_encoding`` and ``image_encoder`` (FPN neck),
``prompt_encoder``, ``transformer``, ``mask_decoder``, ``model`` (:class:`Sam2`: encode an image,
decode prompts), ``arch`` (sizes, official names, URLs, digests), ``build``, ``checkpoint``
(official file -> image-path state dict, name inference) and ``transforms`` (pre- and
post-processing). Imports nothing from the rest of samcli except :mod:`samcli.errors`; names
are loaded on first use so that importing the package does not import torch.
"""

from __future__ import annotations

import importlib

__all__ = [
    "SAM2_ARCHS", "SAM2_CHECKPOINTS", "SAM2_NAMES", "Sam2Arch", "Sam2Checkpoint",
    "Sam2", "Sam2Features", "Sam2Prediction", "build_sam2",
    "VIDEO_ONLY_PREFIXES", "split_state_dict", "check_image_state_dict", "infer_sam2_name",
    "unwrap_checkpoint",
]

_WHERE = {
    "SAM2_ARCHS": "arch", "SAM2_CHECKPOINTS": "arch", "SAM2_NAMES": "arch", "Sam2Arch": "arch",
    "Sam2Checkpoint": "arch", "Sam2": "model", "Sam2Features": "model",
    "Sam2Prediction": "model", "build_sam2": "build", "VIDEO_ONLY_PREFIXES": "checkpoint",
    "split_state_dict": "checkpoint", "check_image_state_dict": "checkpoint",
    "infer_sam2_name": "checkpoint", "unwrap_checkpoint": "checkpoint",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
