"""The one table of models: name -> family, architecture, weight file, URL, size, SHA-256.

Every other part of the model package reads this table: :mod:`samcli.model.build` builds a
network from a row's ``arch``, :func:`samcli.model.checkpoint.infer_model_name` recognises a
state dict by the distinguishing shapes of each row's ``arch``, the cache and the download
use ``filename``, ``url``, ``size_bytes`` and ``sha256``.

Names: ``vit_b`` (default), ``vit_l``, ``vit_h`` (the official Segment Anything checkpoints)
and ``mobile_sam`` (MobileSAM's TinyViT encoder with SAM's prompt encoder and mask decoder).
Names are matched case-insensitively, ``-`` equals ``_``, and each row may list aliases
(``vit_t``, MobileSAM's own registry name, is one of ``mobile_sam``).

Adding a family (SAM 2.1, say) means: a frozen architecture dataclass with ``signature()``
and ``read_signature(state_dict)`` (see :class:`VitArch`), rows in :data:`MODELS` with a new
``family`` value, and a builder for that family in :mod:`samcli.model.build`.

This module imports only the standard library and :mod:`samcli.errors` (no torch).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from samcli.errors import UsageError

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "Arch",
    "ModelSpec",
    "TinyVitArch",
    "VitArch",
    "get_spec",
    "model_names",
]

DEFAULT_MODEL = "vit_b"

_ENCODER = "image_encoder."


def _shape(state_dict: Mapping[str, Any], key: str) -> tuple[int, ...] | None:
    """The shape of ``state_dict[key]`` as ints (tensors or anything with ``.shape``), or None."""
    shape = getattr(state_dict.get(key), "shape", None)
    return None if shape is None else tuple(int(n) for n in shape)


def _indexes(keys: list[str], pattern: str) -> set[int]:
    """The integers captured by ``pattern`` (one group) in ``keys``."""
    compiled = re.compile(pattern)
    found = set()
    for key in keys:
        match = compiled.match(key)
        if match:
            found.add(int(match.group(1)))
    return found


class Arch(Protocol):
    """What every architecture dataclass offers to name inference.

    ``signature()`` is the tuple of shapes that tells this row apart from every other row of
    any family; ``read_signature(state_dict)`` reads the same tuple from a state dict, or
    returns None when the state dict does not have this architecture's layout at all.
    """

    def signature(self) -> tuple: ...

    @classmethod
    def read_signature(cls, state_dict: Mapping[str, Any]) -> tuple | None: ...


@dataclass(frozen=True)
class VitArch:
    """SAM's ViT image encoder (``ImageEncoderViT``): width, depth, heads, global blocks.

    Told apart by the encoder width (the patch embedding's output channels) and depth (the
    number of ``image_encoder.blocks.N``).
    """

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]

    def signature(self) -> tuple:
        return ("vit", self.embed_dim, self.depth)

    @classmethod
    def read_signature(cls, state_dict: Mapping[str, Any]) -> tuple | None:
        keys = [k for k in state_dict if isinstance(k, str)]
        if any(k.startswith(_ENCODER + "layers.") for k in keys):
            return None  # TinyViT layout
        weight = _shape(state_dict, _ENCODER + "patch_embed.proj.weight")
        if weight is None or len(weight) != 4:
            return None
        blocks = _indexes(keys, r"image_encoder\.blocks\.(\d+)\.")
        return ("vit", weight[0], len(blocks))


@dataclass(frozen=True)
class TinyVitArch:
    """MobileSAM's TinyViT image encoder: per stage width, depth, heads and window size.

    Told apart by the width and the number of blocks of every stage (stage 0 is MBConv
    blocks, whose ``conv3`` gives the width; later stages are attention blocks, whose
    depthwise ``local_conv`` gives it).
    """

    embed_dims: tuple[int, ...]
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    window_sizes: tuple[int, ...]

    def signature(self) -> tuple:
        return ("tiny_vit", self.embed_dims, self.depths)

    @classmethod
    def read_signature(cls, state_dict: Mapping[str, Any]) -> tuple | None:
        keys = [k for k in state_dict if isinstance(k, str)]
        stages = _indexes(keys, r"image_encoder\.layers\.(\d+)\.")
        if not stages or stages != set(range(len(stages))):
            return None
        widths, depths = [], []
        for i in range(len(stages)):
            prefix = f"{_ENCODER}layers.{i}.blocks.0."
            weight = _shape(state_dict, prefix + "conv3.c.weight") or _shape(
                state_dict, prefix + "local_conv.c.weight"
            )
            if weight is None:
                return None
            widths.append(weight[0])
            depths.append(len(_indexes(keys, rf"image_encoder\.layers\.{i}\.blocks\.(\d+)\.")))
        return ("tiny_vit", tuple(widths), tuple(depths))


@dataclass(frozen=True)
class ModelSpec:
    """One model: how to build it (``family``, ``arch``) and where its official weights are.

    ``size_bytes`` is the exact size of the official file and ``sha256`` its digest (either may
    be ``None`` when unknown, and then that check is skipped). ``aliases`` are extra names
    :func:`get_spec` accepts.
    """

    name: str
    family: str
    arch: Any  # an Arch dataclass (None only for rows that tests build by other means)
    filename: str
    url: str
    size_bytes: int | None
    sha256: str | None
    description: str
    aliases: tuple[str, ...] = ()


_FAIR = "https://dl.fbaipublicfiles.com/segment_anything/"

#: Hyper-parameters are those of the reference builders (``segment_anything.build_sam`` and
#: MobileSAM's ``build_sam_vit_t``), so official checkpoints load with ``strict=True``.
#: Sizes and SHA-256 digests agree across many independent public mirrors and manifests.
MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="vit_b",
            family="sam",
            arch=VitArch(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11)),
            filename="sam_vit_b_01ec64.pth",
            url=_FAIR + "sam_vit_b_01ec64.pth",
            size_bytes=375_042_383,
            sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            description="SAM ViT-B (91M parameters): the fastest official SAM",
        ),
        ModelSpec(
            name="vit_l",
            family="sam",
            arch=VitArch(
                embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23)
            ),
            filename="sam_vit_l_0b3195.pth",
            url=_FAIR + "sam_vit_l_0b3195.pth",
            size_bytes=1_249_524_607,
            sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            description="SAM ViT-L (308M parameters)",
        ),
        ModelSpec(
            name="vit_h",
            family="sam",
            arch=VitArch(
                embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31)
            ),
            filename="sam_vit_h_4b8939.pth",
            url=_FAIR + "sam_vit_h_4b8939.pth",
            size_bytes=2_564_550_879,
            sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            description="SAM ViT-H (636M parameters): the most accurate, the slowest",
        ),
        ModelSpec(
            name="mobile_sam",
            family="mobile_sam",
            arch=TinyVitArch(
                embed_dims=(64, 128, 160, 320),
                depths=(2, 2, 6, 2),
                num_heads=(2, 4, 5, 10),
                window_sizes=(7, 7, 14, 7),
            ),
            filename="mobile_sam.pt",
            url="https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
            size_bytes=40_728_226,
            sha256="6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
            description="MobileSAM (TinyViT encoder, 10M parameters): fast on a CPU",
            aliases=("vit_t", "mobilesam"),
        ),
    )
}


def _key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def model_names() -> list[str]:
    """The registered model names, in table order."""
    return list(MODELS)


def get_spec(name: str) -> ModelSpec:
    """The spec of a model; an unknown name is a :class:`UsageError` listing the valid ones."""
    key = _key(name)
    spec = MODELS.get(key)
    if spec is None:
        spec = next(
            (s for s in MODELS.values() if key in (_key(a) for a in s.aliases)), None
        )
    if spec is None:
        raise UsageError(
            f"unknown model {name!r}; choose one of: {', '.join(model_names())} "
            "(or pass --checkpoint FILE)."
        )
    return spec
