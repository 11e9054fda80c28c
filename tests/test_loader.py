"""samcli.loader: options checked before any work, the identity the manifest hashes, and
weights loaded only on first use."""

from __future__ import annotations

import json
import os

import pytest
import torch

from samcli.config import ModelOptions
from samcli.errors import CheckpointError, ConfigError, UsageError
from samcli.loader import ModelLoader
from samcli.model import checkpoint, specs


@pytest.mark.parametrize(
    "label, dtype, decoder, resolved",
    [
        ("auto on the CPU: float32 everywhere", "auto", "auto", ("float32", "float32", None)),
        ("bfloat16, decoder auto: mixed on the CPU", "bfloat16", "auto",
         ("bfloat16", "float32", "bfloat16")),
        ("float32 decoder after bfloat16", "bfloat16", "float32", ("bfloat16", "float32", None)),
        ("bfloat16 decoder after float32", "float32", "bfloat16",
         ("float32", "bfloat16", None)),
        ("mixed decoder after float32", "float32", "mixed", ("float32", "float32", "bfloat16")),
    ],
)
def test_identity_holds_the_resolved_precision(label, dtype, decoder, resolved):
    """The manifest hashes the precision as resolved on this machine, never ``auto``: a run
    resumed where ``auto`` means something else redoes its inputs."""
    ident = ModelLoader(ModelOptions(device="cpu", dtype=dtype, decoder_dtype=decoder)).identity
    assert (ident["dtype"], ident["decoder_dtype"], ident["decoder_products"]) == resolved, label
    assert "auto" not in json.dumps(ident), label


def test_identity_holds_the_weights_by_content(tmp_path, monkeypatch, mobile_ckpt):
    """Same bytes elsewhere: the same identity; other bytes at the same path and size: not."""
    monkeypatch.setenv("SAMCLI_HOME", str(tmp_path / "cache"))
    a = tmp_path / "a.pt"
    state = torch.load(mobile_ckpt, weights_only=True)
    torch.save(state, a)
    b = tmp_path / "elsewhere" / "b.pt"
    b.parent.mkdir()
    b.write_bytes(a.read_bytes())
    first = ModelLoader(ModelOptions(checkpoint=str(a), device="cpu")).identity
    assert ModelLoader(ModelOptions(checkpoint=str(b), device="cpu")).identity == first
    key = next(iter(state))
    state[key] = state[key] + 1.0  # same size, other weights
    stat = a.stat()
    torch.save(state, a)
    assert a.stat().st_size == stat.st_size
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert ModelLoader(ModelOptions(checkpoint=str(a), device="cpu")).identity != first
    named = ModelLoader(ModelOptions(model="vit_b", device="cpu")).identity
    assert named["weights"] == specs.get_spec("vit_b").sha256 and named["model"] == "vit_b"


@pytest.mark.parametrize("label, opts, error", [
    ("missing checkpoint", ModelOptions(checkpoint="/nonexistent/sam.pth"), CheckpointError),
    ("unknown device", ModelOptions(device="tpu"), UsageError),
    ("float16 on the CPU", ModelOptions(device="cpu", dtype="float16"), ConfigError),
    # --model "$M" with M unset: an unknown name, not the default model's download
    ("an empty model name", ModelOptions(model="", device="cpu"), UsageError),
])
def test_bad_options_fail_when_made(label, opts, error):
    with pytest.raises(error):
        ModelLoader(opts)


def test_a_wrong_or_damaged_checkpoint_is_refused_before_it_is_hashed(tmp_path, monkeypatch,
                                                                    mobile_ckpt):
    """The loader reads the file's index and checks its keys before the run's identity
    hashes the whole file (a dataset tar passed by mistake is refused in a second), and
    checks its zip CRCs the first time the file, as it is now, is seen."""
    from samcli.model import cache
    from tests.model.test_checkpoint import flip_in_tensor_data

    monkeypatch.setenv("SAMCLI_HOME", str(tmp_path / "cache"))
    hashed, crc_checked = [], []
    real_sha, real_crcs = cache.file_sha256, checkpoint.check_zip_crcs
    monkeypatch.setattr(cache, "file_sha256", lambda p: hashed.append(p) or real_sha(p))
    monkeypatch.setattr(checkpoint, "check_zip_crcs",
                        lambda p: crc_checked.append(p) or real_crcs(p))
    with pytest.raises(CheckpointError, match="does not fit the vit_b model"):
        ModelLoader(ModelOptions(model="vit_b", checkpoint=str(mobile_ckpt), device="cpu"))
    assert hashed == [] and crc_checked == []

    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(mobile_ckpt.read_bytes())
    flip_in_tensor_data(damaged)
    with pytest.raises(CheckpointError, match="fails its CRC-32 check"):
        ModelLoader(ModelOptions(checkpoint=str(damaged), device="cpu"))
    assert hashed == []

    good = tmp_path / "good.pt"
    good.write_bytes(mobile_ckpt.read_bytes())
    os.utime(good, ns=(0, 10**18))  # (written long ago: its digest is recorded)
    assert ModelLoader(ModelOptions(checkpoint=str(good), device="cpu")).identity
    assert ModelLoader(ModelOptions(checkpoint=str(good), device="cpu")).identity
    assert len(hashed) == 1 and len(crc_checked) == 2  # the second use trusts the record


def test_an_empty_model_name_with_a_checkpoint_is_refused_too(mobile_ckpt):
    with pytest.raises(UsageError, match="unknown model ''"):
        ModelLoader(ModelOptions(model="", checkpoint=str(mobile_ckpt), device="cpu"))


def test_a_damaged_checkpoint_hashed_elsewhere_still_has_its_crcs_checked(tmp_path, monkeypatch,
                                                                         mobile_ckpt):
    """A digest on record (the cache's own check hashes any file at a model's cached path)
    does not say that the file's CRCs were checked: only a record of that check does."""
    from samcli.model import cache
    from tests.model.test_checkpoint import flip_in_tensor_data

    monkeypatch.setenv("SAMCLI_HOME", str(tmp_path / "cache"))
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(mobile_ckpt.read_bytes())
    flip_in_tensor_data(damaged)
    os.utime(damaged, ns=(0, 10**18))  # (written long ago: records are kept)
    cache.weights_digest(damaged)
    assert cache.recorded_digest(damaged) is not None
    for _ in range(2):  # (a failed check is not recorded as passed)
        with pytest.raises(CheckpointError, match="fails its CRC-32 check"):
            ModelLoader(ModelOptions(checkpoint=str(damaged), device="cpu"))


def _without_one_key(state):
    del state[next(k for k in state if k.startswith("mask_decoder."))]


def _nan_in_one_weight(state):
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[key] = state[key].clone()
    state[key].view(-1)[0] = float("nan")


def _ints_for_one_weight(state):
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[key] = state[key].to(torch.int32)


@pytest.mark.parametrize("label, damage, words", [
    ("one key missing", _without_one_key, "missing"),
    ("a NaN among the weights", _nan_in_one_weight, "NaN or infinite"),
    ("integers for a weight", _ints_for_one_weight, "is int32, the model's is floating point"),
])
@pytest.mark.parametrize("model", [None, "mobile_sam"])
def test_a_checkpoint_the_load_would_refuse_is_refused_before_any_work(
        tmp_path, monkeypatch, mobile_ckpt, label, damage, words, model):
    """Every check the load makes is made when the loader is made (before the output folder
    is), with --model or with the model read from the file."""
    monkeypatch.setenv("SAMCLI_HOME", str(tmp_path / "cache"))
    state = torch.load(mobile_ckpt, weights_only=True)
    damage(state)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match=words):
        ModelLoader(ModelOptions(model=model, checkpoint=str(bad), device="cpu"))


def test_weights_are_loaded_on_first_use_only(monkeypatch, mobile_ckpt):
    """Making the loader reads no weights; get() loads them once."""
    import samcli.model.loading as registry

    calls = []
    real = registry.load_model
    monkeypatch.setattr(registry, "load_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    loader = ModelLoader(ModelOptions(model="mobile_sam", checkpoint=str(mobile_ckpt),
                                      device="cpu"))
    assert calls == []
    first = loader.get()
    assert loader.get() is first and calls == [1]


def test_identity_of_a_sam2_name():
    ident = ModelLoader(ModelOptions(model="SAM2.1-Hiera-Tiny", device="cpu")).identity
    assert ident["model"] == "sam2.1_hiera_tiny"
    assert ident["weights"] == specs.get_spec("sam2.1_hiera_tiny").sha256
    other = ModelLoader(ModelOptions(model="sam2_hiera_tiny", device="cpu")).identity
    assert other["weights"] != ident["weights"]  # 2.0 and 2.1: same network, other weights


def test_the_predictor_follows_the_family(sam2_tiny_pair, mobile_sam_pair):
    import copy

    import torch

    from samcli.loader import make_predictor
    from samcli.predictor import Predictor
    from samcli.predictor_sam2 import Sam2Predictor

    precision = dict(device=torch.device("cpu"), dtype=torch.float32,
                     decoder_dtype=torch.float32, decoder_products=None)
    sam2 = make_predictor("sam2", copy.deepcopy(sam2_tiny_pair[0]), **precision)
    assert isinstance(sam2, Sam2Predictor) and sam2.family == "sam2"
    sam1 = make_predictor("mobile_sam", copy.deepcopy(mobile_sam_pair[0]), **precision)
    assert isinstance(sam1, Predictor) and sam1.family == "sam"


@pytest.fixture(scope="module")
def sam2_files(sam2_tiny_pair, tmp_path_factory) -> dict[str, str]:
    """The tiny test weights as an official SAM 2.1 file, as a SAM 2.0 one (the 2.1 file
    without the keys only 2.1 has), and as the image path alone (either release's), by
    version."""
    from samcli.model.sam2.keys import KEYS_ONLY_IN_2_1, is_video_only

    folder = tmp_path_factory.mktemp("sam2_files")
    state = sam2_tiny_pair[1].state_dict()
    files = {"2.1": folder / "new.pt", "2.0": folder / "old.pt", "either": folder / "image.pt"}
    torch.save({"model": state}, files["2.1"])
    torch.save({"model": {k: v for k, v in state.items() if k not in KEYS_ONLY_IN_2_1}},
               files["2.0"])
    torch.save({k: v for k, v in state.items() if not is_video_only(k)}, files["either"])
    return {version: str(path) for version, path in files.items()}


@pytest.mark.parametrize("label, model, version, other", [
    ("2.1 named, a 2.0 file", "sam2.1_hiera_tiny", "2.0", "sam2_hiera_tiny"),
    ("2.0 named, a 2.1 file", "sam2_hiera_tiny", "2.1", "sam2.1_hiera_tiny"),
    ("2.1 named, its own file", "sam2.1_hiera_tiny", "2.1", None),
    ("no name, a 2.0 file", None, "2.0", None),
    # without video keys a file cannot be told 2.0 or 2.1: no claim either way
    ("2.0 named, the image path alone", "sam2_hiera_tiny", "either", None),
    ("2.1 named, the image path alone", "sam2.1_hiera_tiny", "either", None),
])
def test_a_file_of_the_other_release_runs_with_a_warning(sam2_files, label, model, version,
                                                         other):
    """SAM 2.0 and 2.1 of one size are one network, so either file fits either name; one
    that is not the release named says so (the run would otherwise silently use weights
    the user did not name)."""
    loader = ModelLoader(ModelOptions(model=model, checkpoint=sam2_files[version],
                                      device="cpu"))
    assert loader.warnings == ([] if other is None else [
        f"checkpoint {sam2_files[version]} holds {other}'s weights, not {model}'s: the two "
        "share one network, so it runs with the weights as given (leave --model out to have "
        "the file name its model)"]), label
