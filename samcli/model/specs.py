"""The one table of models: name -> family, architecture, weight file, URL, size, SHA-256.

Every other part of the model package reads this table: :mod:`samcli.model.build` builds a
network from a row's ``arch``, :func:`samcli.model.checkpoint.infer_model_name` recognises a
state dict by the distinguishing shapes of each row's ``arch``, the cache and the download
use ``filename``, ``url``, ``size_bytes`` and ``sha256``.

Names: ``vit_b`` (default), ``vit_l``, ``vit_h`` (the official Segment Anything checkpoints),
``mobile_sam`` (MobileSAM's TinyViT encoder with SAM's prompt encoder and mask decoder), and
SAM 2: ``sam2.1_hiera_{tiny,small,base_plus,large}`` (SAM 2.1) and ``sam2_hiera_{...}`` (the
SAM 2.0 files: the same networks, other weights; their files differ only in video-only keys).
Families: ``sam`` and ``mobile_sam`` (SAM 1's heads; one everything-mode recipe) and ``sam2``.
Names are matched case-insensitively, ``-`` equals ``_``, and each row may list aliases
(``vit_t``, MobileSAM's own registry name, is one of ``mobile_sam``).

Adding a family means: a frozen architecture dataclass with ``signature()`` and
``read_signature(state_dict)`` (see :class:`VitArch`; SAM 2's is
:class:`samcli.model.sam2.arch.Sam2Arch`), rows in :data:`MODELS` with a new ``family``
value, a builder for that family in :mod:`samcli.model.build`, and (when its files hold more
than the network) what :func:`samcli.model.checkpoint.network_state` drops.

This module imports only the standard library, :mod:`samcli.errors` and SAM 2's architecture
module (no torch).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from samcli.errors import UsageError
from samcli.model.sam2.arch import SIZES as _SAM2_SIZES
from samcli.model.sam2.arch import Sam2Arch, for_version

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "Arch",
    "ModelSpec",
    "Sam2Arch",
    "TinyVitArch",
    "VitArch",
    "family_of",
    "get_spec",
    "model_names",
    "spec_or_default",
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
_FAIR_SAM2 = {"2.1": "https://dl.fbaipublicfiles.com/segment_anything_2/092824/",
              "2.0": "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"}
_SAM2_BLURB = {"tiny": ": the fastest SAM 2", "small": "", "base_plus": "",
               "large": ": the most accurate SAM 2, the slowest"}


def _sam2(version: str, size: str, size_bytes: int, sha256: str, params: str) -> ModelSpec:
    """One official SAM 2 file: ``sam2.1_hiera_<size>.pt`` or ``sam2_hiera_<size>.pt``.

    Its architecture is the size's (:data:`samcli.model.sam2.arch.SIZES`) with the file's
    version; the parameter count in the description is the whole (video) model's.
    """
    prefix = "sam2.1" if version == "2.1" else "sam2"
    name = f"{prefix}_hiera_{size}"
    release = "SAM 2.1" if version == "2.1" else "SAM 2.0 (superseded by 2.1)"
    return ModelSpec(
        name=name,
        family="sam2",
        arch=for_version(_SAM2_SIZES[size][0], version),
        filename=f"{name}.pt",
        url=f"{_FAIR_SAM2[version]}{name}.pt",
        size_bytes=size_bytes,
        sha256=sha256,
        description=f"{release} Hiera-{_SAM2_SIZES[size][1].upper()} ({params} "
                    f"parameters){_SAM2_BLURB[size] if version == '2.1' else ''}",
    )

#: Hyper-parameters are those of the reference builders (``segment_anything.build_sam`` and
#: MobileSAM's ``build_sam_vit_t``), so official checkpoints load with ``strict=True``.
#: Sizes and SHA-256 digests agree across many independent public mirrors and manifests.
#: SAM 2 rows: hyper-parameters from Meta's hydra configs (see :mod:`samcli.model.sam2.arch`);
#: digests of the FAIR files as pinned by micro-sam (``micro_sam/v2/util.py``: pooch
#: ``known_hash`` for these very URLs) and, identically, the Git LFS pointers of the
#: ``facebook/sam2(.1)-hiera-*`` Hugging Face repositories and mirrors of them; byte sizes from
#: those LFS pointers (the 2.0 small size also from a download manifest listing the FAIR URL
#: with its size and digest). Official files are ``{"model": state_dict}`` and hold the video
#: model too; the image path loads the rest strictly (:mod:`samcli.model.sam2.keys`).
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
        # SAM 2.1 (Sept. 2024), then SAM 2.0 (July 2024): tiny, small, base_plus, large.
        *(
            _sam2(version, size, size_bytes, sha256, params)
            for version, size, size_bytes, sha256, params in (
                ("2.1", "tiny", 156_008_466,
                 "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69", "38.9M"),
                ("2.1", "small", 184_416_285,
                 "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38", "46M"),
                ("2.1", "base_plus", 323_606_802,
                 "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5", "80.8M"),
                ("2.1", "large", 898_083_611,
                 "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318", "224.4M"),
                ("2.0", "tiny", 155_906_050,
                 "65b50056e05bcb13694174f51bb6da89c894b57b75ccdf0ba6352c597c5d1125", "38.9M"),
                ("2.0", "small", 184_309_650,
                 "95949964d4e548409021d47b22712d5f1abf2564cc0c3c765ba599a24ac7dce3", "46M"),
                ("2.0", "base_plus", 323_493_298,
                 "d0bb7f236400a49669ffdd1be617959a8b1d1065081789d7bbff88eded3a8071", "80.8M"),
                ("2.0", "large", 897_952_466,
                 "7442e4e9b732a508f80e141e7c2913437a3610ee0c77381a66658c3a445df87b", "224.4M"),
            )
        ),
    )
}


def _key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def model_names() -> list[str]:
    """The registered model names, in table order."""
    return list(MODELS)


def family_of(name: str | None) -> str:
    """The family (``sam``, ``mobile_sam``, ``sam2``) of a model name (None: the default
    model); an unknown name is a :class:`UsageError`."""
    return spec_or_default(name).family


def spec_or_default(name: str | None) -> ModelSpec:
    """The spec of model ``name``; None (no --model) is the default model, while an empty
    name is an unknown one (``--model "$M"`` with M unset), as every other wrong name."""
    return get_spec(DEFAULT_MODEL if name is None else name)


def get_spec(name: str) -> ModelSpec:
    """The spec of a model; an unknown name is a :class:`UsageError` listing the valid ones."""
    key = _key(name)
    spec = MODELS.get(key)
    if spec is None:
        spec = next(
            (s for s in MODELS.values() if key in (_key(a) for a in s.aliases)), None
        )
    if spec is None:
        aliases = ", ".join(f"{a} = {s.name}" for s in MODELS.values() for a in s.aliases)
        raise UsageError(
            f"unknown model {name!r}; choose one of: {', '.join(model_names())}"
            + (f" (aliases: {aliases})." if aliases else ".")
        )
    return spec
