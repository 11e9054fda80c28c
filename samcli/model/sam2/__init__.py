"""SAM 2 / SAM 2.1 image models, state-dict compatible with Meta's official checkpoints.

One idea per module: ``hiera`` (trunk), ``position_encoding`` and ``image_encoder`` (FPN neck),
``prompt_encoder``, ``transformer``, ``mask_decoder``, ``model`` (:class:`Sam2`: encode an image,
decode prompts), ``arch`` (:class:`Sam2Arch`, the four sizes), ``keys`` (the video-only keys
of official files), ``build``, ``checkpoint`` (official file -> image-path state dict, name
inference) and ``transforms`` (pre- and post-processing). The official files themselves
(names, URLs, sizes, digests) are rows of :data:`samcli.model.specs.MODELS`. Imports nothing
from the rest of samcli except :mod:`samcli.errors` and the model table; names are loaded on
first use so that importing the package does not import torch.
"""

from __future__ import annotations

import importlib

__all__ = [
    "SAM2_ARCHS", "SAM2_NAMES", "Sam2Arch",
    "Sam2", "Sam2Features", "Sam2Prediction", "build_sam2",
    "VIDEO_ONLY_PREFIXES", "split_state_dict", "check_image_state_dict", "infer_sam2_name",
    "unwrap_checkpoint",
]

_WHERE = {
    "SAM2_ARCHS": "build", "SAM2_NAMES": "build", "Sam2Arch": "arch",
    "Sam2": "model", "Sam2Features": "model",
    "Sam2Prediction": "model", "build_sam2": "build", "VIDEO_ONLY_PREFIXES": "keys",
    "split_state_dict": "checkpoint", "check_image_state_dict": "checkpoint",
    "infer_sam2_name": "checkpoint", "unwrap_checkpoint": "checkpoint",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
