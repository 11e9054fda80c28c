"""The model table (samcli.model.specs): names, aliases, and the one home of architectures.

The builder and name inference both read the table, so a row added here (as a test does
below) is buildable and recognisable with no other change.
"""

from __future__ import annotations

import pytest
import torch

from samcli.errors import EXIT_USAGE, UsageError
from samcli.model import specs
from samcli.model.build import MODEL_NAMES, build_model
from samcli.model.checkpoint import infer_model_name
from samcli.model.specs import ModelSpec, Sam2Arch, TinyVitArch, VitArch

SAM1 = ["vit_b", "vit_l", "vit_h", "mobile_sam"]
SAM2 = [f"{prefix}_hiera_{size}" for prefix in ("sam2.1", "sam2")
        for size in ("tiny", "small", "base_plus", "large")]
OFFICIAL = SAM1 + SAM2


def test_official_models_are_registered():
    assert specs.model_names() == OFFICIAL
    assert specs.DEFAULT_MODEL == "vit_b"
    files = {n: specs.get_spec(n).filename for n in specs.model_names()}
    assert files == {
        "vit_b": "sam_vit_b_01ec64.pth",
        "vit_l": "sam_vit_l_0b3195.pth",
        "vit_h": "sam_vit_h_4b8939.pth",
        "mobile_sam": "mobile_sam.pt",
        **{name: f"{name}.pt" for name in SAM2},
    }
    for name in SAM2:
        spec = specs.get_spec(name)
        assert spec.family == "sam2" and isinstance(spec.arch, Sam2Arch)
        assert spec.arch.version == ("2.1" if name.startswith("sam2.1") else "2.0")
    for name in ("vit_b", "vit_l", "vit_h"):
        spec = specs.get_spec(name)
        assert spec.url == f"https://dl.fbaipublicfiles.com/segment_anything/{spec.filename}"
        assert spec.family == "sam" and isinstance(spec.arch, VitArch)
    mobile = specs.get_spec("mobile_sam")
    assert mobile.url == (
        "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt"
    )
    assert mobile.family == "mobile_sam" and isinstance(mobile.arch, TinyVitArch)
    for spec in specs.MODELS.values():
        assert spec.sha256 is not None and len(spec.sha256) == 64
        assert spec.size_bytes and spec.size_bytes > 10_000_000


@pytest.mark.parametrize(
    "label, given, name",
    [
        ("exact", "vit_b", "vit_b"),
        ("case and dash", "ViT-B", "vit_b"),
        ("spaces", "  vit_h ", "vit_h"),
        ("MobileSAM's registry name", "vit_t", "mobile_sam"),
        ("alias, other case", "MobileSAM", "mobile_sam"),
        ("SAM 2.1, dashes", "SAM2.1-Hiera-Base-Plus", "sam2.1_hiera_base_plus"),
        ("SAM 2.0", "sam2_hiera_large", "sam2_hiera_large"),
    ],
)
def test_names_are_forgiving(label, given, name):
    assert specs.get_spec(given).name == name, label


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UsageError) as info:
        specs.get_spec("vit_x")
    assert info.value.exit_code == EXIT_USAGE
    message = str(info.value)
    assert "vit_x" in message
    for name in OFFICIAL:
        assert name in message


def test_every_row_has_its_own_signature():
    signatures = [spec.arch.signature() for spec in specs.MODELS.values()]
    assert len(set(signatures)) == len(signatures)
    aliases = [a for spec in specs.MODELS.values() for a in spec.aliases]
    assert not set(aliases) & set(specs.MODELS), "an alias shadows a name"


@pytest.mark.parametrize("name", OFFICIAL)
def test_built_models_show_their_rows_signature(name):
    """The builder reads the row's arch, and inference reads it back from the state dict."""
    spec = specs.get_spec(name)
    with torch.device("meta"):
        model = build_model(name)
    state = model.state_dict()
    if spec.family == "sam2":  # the official file's keys (video modules too) tell 2.0 from 2.1
        from tests.sam2_factories import reference_shapes

        assert set(state) < set(reference_shapes(name))
        state = {k: torch.empty(s, device="meta") for k, s in reference_shapes(name).items()}
    assert type(spec.arch).read_signature(state) == spec.arch.signature()
    for other in (VitArch, TinyVitArch, Sam2Arch):
        if other is not type(spec.arch):
            assert other.read_signature(state) is None  # the layouts do not overlap
    if isinstance(spec.arch, VitArch):
        assert model.image_encoder.patch_embed.proj.out_channels == spec.arch.embed_dim
        assert len(model.image_encoder.blocks) == spec.arch.depth


def test_a_new_row_is_buildable_and_recognised(monkeypatch):
    """One table: a row is enough for build_model and infer_model_name (no second table)."""
    row = ModelSpec(
        name="vit_test",
        family="sam",
        arch=VitArch(embed_dim=64, depth=2, num_heads=2, global_attn_indexes=(1,)),
        filename="vit_test.pth",
        url="http://example.invalid/vit_test.pth",
        size_bytes=None,
        sha256=None,
        description="a small ViT",
    )
    monkeypatch.setitem(specs.MODELS, "vit_test", row)
    with torch.device("meta"):
        model = build_model("vit_test")
    assert len(model.image_encoder.blocks) == 2
    assert model.image_encoder.blocks[1].window_size == 0  # the global attention block
    assert infer_model_name(model.state_dict()) == "vit_test"


def test_model_names_are_the_buildable_rows():
    assert MODEL_NAMES == tuple(OFFICIAL)


def test_family_of_names():
    assert specs.family_of(None) == "sam"
    assert specs.family_of("vit_t") == "mobile_sam"
    assert specs.family_of("sam2.1_hiera_tiny") == specs.family_of("sam2_hiera_large") == "sam2"
    with pytest.raises(UsageError):
        specs.family_of("sam3")
