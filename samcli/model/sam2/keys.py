"""Which keys of an official SAM 2 file belong to the video tracker (no torch needed).

Meta's files hold the whole video model. The image path needs none of the video-only
modules, which are recognised by name: exactly the prefixes in :data:`VIDEO_ONLY_PREFIXES`,
nothing else, so that a strict check of the rest still catches a wrong or truncated file.
The table's name inference (:meth:`samcli.model.sam2.arch.Sam2Arch.read_signature`) reads the
checkpoint version from the same keys, so this module stays free of torch.
"""

from __future__ import annotations

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


def checkpoint_version(keys) -> str:
    """``"2.0"`` or ``"2.1"``: which release's layout a SAM 2 key set has.

    SAM 2.1 files have ``no_obj_embed_spatial`` and ``obj_ptr_tpos_proj``; SAM 2.0 files have
    other video keys but not these. Keys without any video key (the image path alone, as
    :class:`Sam2` saves it) are the same architecture in both versions: reported as 2.1.
    """
    keys = set(keys)
    video = any(isinstance(k, str) and is_video_only(k) for k in keys)
    if video and not any(k in keys for k in KEYS_ONLY_IN_2_1):
        return "2.0"
    return "2.1"
