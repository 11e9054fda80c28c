"""The end-to-end tests' encoder memo (:mod:`tests.encoder_memo`) gives what the pass computes,
and computes again whenever anything the output depends on differs."""

from __future__ import annotations

import pytest
import torch

from samcli.model.sam2 import build_sam2
from samcli.model.tiny_vit import TinyViT
from tests import encoder_memo
from tests.conftest import ENCODER_MEMO_TESTS
from tests.sam2_factories import small_input_arch


@pytest.fixture()
def memo(monkeypatch):
    m = encoder_memo.EncoderMemo()
    encoder_memo.install(m, monkeypatch)
    return m


def _tiny_vit(seed: int = 0) -> TinyViT:
    torch.manual_seed(seed)
    return TinyViT(img_size=256).eval()


def test_a_repeated_pass_is_a_copy_of_the_computed_one(memo):
    model, x = _tiny_vit(), torch.randn(1, 3, 256, 256)
    with torch.inference_mode():
        first = model(x)
        again = model(x.clone())
        assert (memo.hits, memo.misses) == (1, 1)
        assert torch.equal(first, again) and again.stride() == first.stride()
        again.zero_()  # the caller's copy: the stored one is untouched
        assert torch.equal(model(x), first)


@pytest.mark.parametrize("change", [
    "another input", "one weight changed in place", "another thread count", "grad mode",
])
def test_anything_the_output_depends_on_computes_again(memo, change):
    model, x = _tiny_vit(), torch.randn(1, 3, 256, 256)
    threads = torch.get_num_threads()
    with torch.no_grad():
        model(x)
    try:
        with torch.no_grad():
            if change == "another input":
                x = x.clone()
                x[0, 0, 0, 0] += 1
            elif change == "one weight changed in place":
                next(model.parameters()).view(-1)[0] += 1e-3
            elif change == "another thread count":
                torch.set_num_threads(1 if threads > 1 else 2)
        with torch.enable_grad() if change == "grad mode" else torch.no_grad():
            model(x)
    finally:
        torch.set_num_threads(threads)
    assert (memo.hits, memo.misses) == (0, 2), change


def test_sam2_outputs_and_keyword_arguments():
    """SAM 2's encoder returns a NamedTuple of lists (None without position encodings); the
    keyword ``with_pos`` is part of the key."""
    with pytest.MonkeyPatch.context() as mp:
        memo = encoder_memo.EncoderMemo()
        encoder_memo.install(memo, mp)
        torch.manual_seed(0)
        encoder = build_sam2(small_input_arch("sam2.1_hiera_tiny", 256)).image_encoder.eval()
        x = torch.randn(1, 3, 256, 256)
        with torch.inference_mode():
            computed = encoder(x)
            bare = encoder(x, with_pos=False)
            again = encoder(x)
    assert (memo.hits, memo.misses) == (1, 2)
    assert type(again) is type(computed) and bare.vision_pos_enc is None
    for got, want in zip([*again.backbone_fpn, *again.vision_pos_enc],
                         [*computed.backbone_fpn, *computed.vision_pos_enc]):
        assert torch.equal(got, want)


def test_old_entries_are_dropped_past_the_limit(monkeypatch):
    model = _tiny_vit()
    one = 256 * 16 * 16 * 4  # an embedding's bytes
    memo = encoder_memo.EncoderMemo(max_bytes=2 * one)
    encoder_memo.install(memo, monkeypatch)
    xs = [torch.randn(1, 3, 256, 256) for _ in range(3)]
    with torch.inference_mode():
        for x in (*xs, xs[2], xs[0]):
            model(x)
    assert (memo.hits, memo.misses) == (1, 4)  # xs[0] was dropped for xs[2]


def test_the_switch_and_who_uses_it(request, monkeypatch):
    monkeypatch.setenv(encoder_memo.ENV, "0")
    assert not encoder_memo.enabled()
    monkeypatch.setenv(encoder_memo.ENV, "1")
    assert encoder_memo.enabled()
    assert request.node.get_closest_marker("encoder_memo") is None  # this module computes
    root = request.config.rootpath
    assert all((root / p).exists() for p in ENCODER_MEMO_TESTS)
