"""From a name or a file to a model (samcli.model.loading): cache, download, strict load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from samcli.errors import CheckpointError
from samcli.model import cache, checkpoint, loading, specs
from samcli.model.specs import ModelSpec
from tests.model.fakes import (  # noqa: F401  (server and home are fixtures)
    home,
    register_tiny,
    server,
    state_bytes,
    tiny_builder,
    tiny_state,
    write_old,
)


@pytest.fixture
def good_file(tmp_path) -> Path:
    path = tmp_path / "good.pth"
    torch.save(tiny_state(), path)
    return path


def _no_network(request, timeout=None):
    raise AssertionError("the network must not be used")


def test_checkpoint_wins_over_name(good_file, home):
    assert loading.resolve_checkpoint("vit_h", good_file, opener=_no_network) == good_file
    with pytest.raises(CheckpointError, match="nope.pth: no such file"):
        loading.resolve_checkpoint("vit_b", good_file.with_name("nope.pth"))
    with pytest.raises(CheckpointError, match="is a folder, not a weights file"):
        loading.resolve_checkpoint("vit_b", good_file.parent)


def test_cached_weights_are_used_without_network(home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    write_old(home / "tiny.pth", body)
    path = loading.resolve_checkpoint("tiny", None, opener=_no_network)
    assert path == home / "tiny.pth"
    assert cache.is_verified("tiny")  # checked (once) on the way


@pytest.mark.parametrize(
    "label, content, expected",
    [
        ("wrong size", b"x", "have 1 bytes, but the official file has"),
        ("same size, other bytes", "flip", "are not the official file (SHA-256"),
    ],
)
def test_a_replaced_cached_file_is_refused_not_used(home, monkeypatch, label, content, expected):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    if content == "flip":
        content = bytes([body[0] ^ 1]) + body[1:]
    write_old(home / "tiny.pth", content)
    with pytest.raises(CheckpointError) as info:
        loading.load_model("tiny", opener=_no_network)
    message = str(info.value)
    assert expected in message, label
    assert str(home / "tiny.pth") in message
    assert message.count("samcli models download tiny --force") == 1
    assert (home / "tiny.pth").read_bytes() == content  # not overwritten behind the user's back


def test_missing_weights_without_download(home):
    with pytest.raises(CheckpointError) as info:
        loading.resolve_checkpoint(None, None, download_missing=False)
    assert "samcli models download vit_b" in str(info.value)
    assert str(home / "sam_vit_b_01ec64.pth") in str(info.value)


def test_missing_weights_are_downloaded(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/resolve/tiny.pth", body), body)
    model = loading.load_model("tiny")
    assert not model.training
    assert (home / "tiny.pth").read_bytes() == body
    assert torch.equal(model.head.bias, tiny_state()["head.bias"])


def test_load_model_from_checkpoint(good_file, monkeypatch):
    monkeypatch.setattr(checkpoint, "make_model", tiny_builder)
    row = ModelSpec("tiny", "test", None, "tiny.pth", "http://x/", None, None, "")
    monkeypatch.setitem(specs.MODELS, "tiny", row)
    model = loading.load_model("tiny", good_file, dtype=torch.bfloat16)
    assert not model.training
    assert model.head.weight.dtype == torch.bfloat16
    assert loading.load_model("tiny", good_file, dtype=torch.float16).head.bias.dtype \
        == torch.float16
    assert loading.load_model("tiny", good_file).head.bias.dtype == torch.float32
    # without a name, the architecture comes from the file; a non-SAM file cannot be inferred
    with pytest.raises(CheckpointError, match="cannot tell which SAM model"):
        loading.load_model(None, good_file)


def test_damaged_cached_file_suggests_force(home, monkeypatch):
    # a file that passes the size and SHA-256 checks (the row says so) but does not load
    body = b"PK\x03\x04 truncated"
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    write_old(home / "tiny.pth", body)
    with pytest.raises(CheckpointError) as info:
        loading.load_model("tiny", opener=_no_network)
    assert "is not a PyTorch checkpoint or is truncated" in str(info.value)
    assert "samcli models download tiny --force" in str(info.value)


# --------------------------------------------------------------------------------------------


def test_real_model_round_trip_and_wrong_model_message(tmp_path):
    from samcli.model.build import build_model

    torch.manual_seed(0)
    model = build_model("mobile_sam")
    path = tmp_path / "mobile.pt"
    torch.save(model.state_dict(), path)
    loaded = loading.load_model(None, path)  # architecture inferred from the file
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with pytest.raises(CheckpointError) as info:
        loading.load_model("vit_b", path)
    assert "looks like a mobile_sam checkpoint" in str(info.value)
