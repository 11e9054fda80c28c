"""Checkpoint files (samcli.model.checkpoint): safe reading, strict checking, inference."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from samcli.errors import CheckpointError
from samcli.model import checkpoint
from tests.model.fakes import Other, Tiny, tiny_state


@pytest.fixture
def good_file(tmp_path) -> Path:
    path = tmp_path / "good.pth"
    torch.save(tiny_state(), path)
    return path


def test_load_checkpoint_loads_a_plain_state_dict(good_file):
    model = Tiny()
    checkpoint.load_checkpoint(model, good_file)
    for key, value in tiny_state().items():
        assert torch.equal(model.state_dict()[key], value)


@pytest.mark.parametrize("wrapper", ["model", "state_dict"])
def test_load_checkpoint_unwraps_training_checkpoints(tmp_path, wrapper):
    path = tmp_path / "wrapped.pth"
    torch.save({wrapper: tiny_state(), "epoch": 3}, path)
    model = Tiny()
    checkpoint.load_checkpoint(model, path)
    assert torch.equal(model.head.weight, tiny_state()["head.weight"])


def _error(path: Path, model: nn.Module | None = None) -> str:
    with pytest.raises(CheckpointError) as info:
        checkpoint.load_checkpoint(model or Tiny(), path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    return message


def flip_in_tensor_data(path: Path) -> None:
    """Flip the lowest bit of one float32 of a zip checkpoint's tensor data, in place: the
    file still loads, with one weight a little off (a finite value), and that entry's CRC-32
    no longer matches."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist()
                    if "/data/" in i.filename and i.file_size >= 8)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:
                                                    info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + 4] ^= 0x01
    path.write_bytes(bytes(data))


# label, how the file is made from a good one, the error's words (None: it passes)
CRC_CASES = [
    ("a good zip file", lambda p: None, None),
    ("a flipped bit in a tensor's data", flip_in_tensor_data, "fails its CRC-32 check"),
    ("the legacy format: no CRCs", lambda p: torch.save(tiny_state(), p,
                                                        _use_new_zipfile_serialization=False),
     None),
]


@pytest.mark.parametrize("label, damage, words", CRC_CASES, ids=[c[0] for c in CRC_CASES])
def test_zip_crcs(tmp_path, label, damage, words):
    path = tmp_path / "w.pt"
    torch.save(tiny_state(), path)
    damage(path)
    checkpoint.read_state_dict(path)  # torch checks no CRC: it loads either way
    if words is None:
        checkpoint.check_zip_crcs(path)
        return
    with pytest.raises(CheckpointError) as err:
        checkpoint.check_zip_crcs(path)
    assert str(err.value).startswith(f"checkpoint {path} is damaged: its entry ") and \
        words in str(err.value), label


def test_missing_file(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope.pth")


def test_folder_instead_of_file(tmp_path):
    assert "folder" in _error(tmp_path)


def test_symlink_loop_and_special_files_say_what_they_are(tmp_path):
    loop = tmp_path / "loop.pt"
    loop.symlink_to(tmp_path / "other.pt")
    (tmp_path / "other.pt").symlink_to(loop)
    with pytest.raises(CheckpointError, match="too many levels of symbolic links"):
        checkpoint.require_file(loop)
    with pytest.raises(CheckpointError, match="/dev/null: not a regular file"):
        checkpoint.require_file("/dev/null")
    with pytest.raises(CheckpointError, match="no such file"):
        checkpoint.require_file(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="checkpoint '': give a weights file"):
        checkpoint.require_file("")  # not "the current folder"


def test_a_file_name_that_is_not_utf8_loads(tmp_path):
    """torch.load encodes a path as UTF-8; such a file (or a cache folder so named) is read
    through a Python file object instead."""
    import os

    path = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xff.pth")
    torch.save(tiny_state(), path)
    model = Tiny()
    checkpoint.load_checkpoint(model, path)
    for key, value in tiny_state().items():
        assert torch.equal(model.state_dict()[key], value)


def test_unreadable_file(good_file, monkeypatch):
    """Permission denied (simulated at the open: as root, permission bits do not stop it)."""
    import builtins
    import errno

    real = builtins.open

    def refusing(file, *args, **kw):
        if str(file) == str(good_file):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real(file, *args, **kw)

    monkeypatch.setattr(builtins, "open", refusing)
    assert _error(good_file) == f"cannot read checkpoint {good_file}: Permission denied."


def _zip_after_junk(path: Path) -> None:
    torch.save(tiny_state(), path)
    path.write_bytes(b"junk" * 100 + path.read_bytes())


# label, how the file is written, words its reason must have (torch's own text, where it
# misleads, is replaced: a file of zeros is no "legacy .tar format" file)
FOREIGN_FILES = [
    ("zeros", lambda p: p.write_bytes(bytes(4096)), "no PyTorch data at its start"),
    ("text", lambda p: p.write_text("epoch 3, loss 0.1\n" * 20), "no PyTorch data at its start"),
    ("a plain pickle", lambda p: p.write_bytes(pickle.dumps({"a": [1, 2, 3]}, protocol=5)),
     "a pickle, not one torch.save wrote"),
    ("a zip archive after other bytes", _zip_after_junk, "not at the file's start"),
]


@pytest.mark.parametrize("label, write, words", FOREIGN_FILES, ids=[c[0] for c in FOREIGN_FILES])
def test_a_foreign_file_is_called_what_it_is(tmp_path, label, write, words):
    path = tmp_path / "w.pt"
    write(path)
    message = _error(path)
    assert "is not a PyTorch checkpoint or is truncated" in message, label
    assert words in message, (label, message)


def _npz(path: Path) -> None:
    import numpy as np

    with open(path, "wb") as fh:
        np.savez(fh, weight=np.zeros(3, np.float32))


def _plain_zip(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not weights")


def _torchscript(path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # (TorchScript is deprecated, still made)
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))


# label, how a whole zip archive of another kind is written, words its reason must have
OTHER_ARCHIVES = [
    ("a NumPy .npz", _npz, "a NumPy .npz archive of arrays"),
    ("a zip of something else", _plain_zip, "without torch.save's data.pkl (notes.txt)"),
    ("a TorchScript archive", _torchscript, "a TorchScript archive (torch.jit.save)"),
]


@pytest.mark.parametrize("label, write, words", OTHER_ARCHIVES,
                         ids=[c[0] for c in OTHER_ARCHIVES])
def test_a_whole_archive_of_another_kind_is_called_what_it_is(tmp_path, label, write, words):
    """Not "truncated", and no advice to download it again: the file is whole."""
    path = tmp_path / "w.pt"
    write(path)
    message = _error(path)
    assert message.startswith(f"checkpoint {path} is not a PyTorch checkpoint: "), label
    assert words in message and "truncated" not in message and "again" not in message, label


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    assert "empty (0 bytes). If it was downloaded, download it again." in _error(path)


def test_truncated_file(tmp_path, good_file):
    path = tmp_path / "half.pth"
    data = good_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "is not a PyTorch checkpoint or is truncated" in _error(path)


def test_text_file(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n")
    assert "is not a PyTorch checkpoint or is truncated" in _error(path)


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    assert "does not hold a model state dict" in _error(path)
    torch.save({"lr": 0.1, "epoch": 3}, path)
    assert "does not hold a model state dict: 2 entries are not named tensors ('lr', " \
        "'epoch')" in _error(path)
    torch.save({**tiny_state(), 1: torch.zeros(1)}, path)
    assert "does not hold a model state dict: 1 entry is not a named tensor (1)" in _error(path)


class Pickled:
    pass


class Booby:
    """Runs a shell command when unpickled by a loader that allows it (never by samcli)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class Exec:
    """Runs Python code when unpickled by a loader that allows it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize(
    "label, payload, legacy, named",
    [
        ("a custom class", lambda m: Pickled(), False, "Pickled"),
        ("os.system (blocked module)", Booby, False, "system"),
        ("os.system, legacy format", Booby, True, "system"),
        ("builtins.exec", Exec, False, "exec"),
        ("a custom class, legacy format", lambda m: Pickled(), True, "Pickled"),
    ],
)
def test_code_in_a_checkpoint_is_refused_unrun(tmp_path, label, payload, legacy, named):
    marker = tmp_path / "ran"
    path = tmp_path / "booby.pth"
    torch.save({"weights": tiny_state(), "obj": payload(marker)}, path,
               _use_new_zipfile_serialization=not legacy)
    message = _error(path)
    assert "holds Python code or objects other than tensors" in message, label
    assert named in message, label
    assert "samcli loads only plain tensors" in message and "nothing in the file was run" in message
    assert "truncated" not in message and "download it again" not in message, label
    assert not marker.exists(), label


def test_code_is_found_whatever_torch_says(tmp_path, monkeypatch):
    """A future torch wording is not needed: a zip checkpoint is disassembled statically."""
    marker = tmp_path / "ran"
    path = tmp_path / "booby.pth"
    torch.save({"weights": tiny_state(), "obj": Booby(marker)}, path)

    def reworded(*args, **kwargs):
        raise pickle.UnpicklingError("Weights only load failed. Something new happened.")

    monkeypatch.setattr(torch, "load", reworded)
    message = _error(path)
    assert "holds Python code or objects other than tensors (posix.system" in message or (
        "holds Python code or objects other than tensors (nt.system" in message
    )
    assert not marker.exists()


def test_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(Other().state_dict(), path)
    message = _error(path)
    assert "4 keys are missing (encoder.weight, encoder.bias, head.weight, ...)" in message
    assert "2 keys are unexpected (body.weight, body.bias)" in message


def test_shape_mismatch(tmp_path):
    state = tiny_state()
    state["head.weight"] = torch.zeros(7, 3)
    path = tmp_path / "shape.pth"
    torch.save(state, path)
    message = _error(path)
    assert "1 tensor has the wrong shape" in message
    assert "head.weight: file (7, 3) vs model (2, 3)" in message


@pytest.mark.parametrize("label,value", [("nan", float("nan")), ("inf", float("inf")),
                                         ("-inf", float("-inf"))])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_non_finite_weights_are_refused(tmp_path, label, value, dtype):
    state = {k: v.to(dtype) for k, v in tiny_state().items()}
    state["head.weight"][1, 2] = value
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    assert _error(path) == (f"checkpoint {path}: tensor head.weight holds NaN or infinite "
                            "values as the model's weights (a damaged or badly converted "
                            "file?).")


def test_finite_weights_whose_sum_overflows_still_load(tmp_path):
    """The float32 sum is only a fast screen: finite weights whose sum overflows it load."""
    state = tiny_state()
    state["head.weight"] = torch.full((2, 3), 3e38)
    assert not torch.isfinite(torch.sum(state["head.weight"], dtype=torch.float32))
    path = tmp_path / "big.pth"
    torch.save(state, path)
    model = Tiny()
    checkpoint.load_checkpoint(model, path)
    assert torch.equal(model.head.weight, state["head.weight"])


def test_float64_values_beyond_float32_are_refused(tmp_path):
    """1e300 is finite in the file's float64 but an infinity as the model's float32."""
    state = {k: v.double() for k, v in tiny_state().items()}
    state["head.weight"][0, 0] = 1e300
    path = tmp_path / "big64.pth"
    torch.save(state, path)
    assert _error(path) == (f"checkpoint {path}: tensor head.weight holds NaN or infinite "
                            "values as the model's weights (a damaged or badly converted "
                            "file?).")


@pytest.mark.parametrize("label, make, needle", [
    ("integers", lambda t: t.long(), "tensor head.weight is int64, the model's is floating"),
    ("booleans", lambda t: t.bool(), "tensor head.weight is bool, the model's is floating"),
    ("complex values", lambda t: t.to(torch.complex64),
     "tensor head.weight is complex (complex64)"),
    ("no values (meta device)", lambda t: torch.empty(t.shape, device="meta"),
     "tensor head.weight is on the meta device"),
    ("a sparse tensor", lambda t: t.to_sparse(), "tensor head.weight is stored sparse_coo"),
    ("quantized values", lambda t: torch.quantize_per_tensor(t, 0.1, 0, torch.qint8),
     "tensor head.weight is quantized (qint8)"),
])
@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
def test_tensors_the_weights_cannot_be_made_of_are_refused(tmp_path, label, make, needle):
    """Torch would copy integers or booleans silently, drop imaginary parts with a warning,
    or fail on meta values with a traceback: each is one error naming the tensor."""
    state = tiny_state()
    state["head.weight"] = make(state["head.weight"])
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    assert needle in _error(path), label


def _prefixed(state: dict, prefix: str) -> dict:
    return {prefix + k: v for k, v in state.items()}


def _sam_keys() -> dict[str, torch.Tensor]:
    """A SAM-like state dict (it has mask decoder keys): tiny_state's tensors renamed."""
    return {f"mask_decoder.{k}": v for k, v in tiny_state().items()}


@pytest.mark.parametrize("label, saved, expected", [
    ("DataParallel", lambda: _prefixed(_sam_keys(), "module."), _sam_keys),
    ("torch.compile inside DataParallel", lambda: _prefixed(_sam_keys(), "module._orig_mod."),
     _sam_keys),
    ("Lightning: the model as self.model, under state_dict",
     lambda: {"state_dict": _prefixed(_sam_keys(), "model."), "epoch": torch.tensor(3)},
     _sam_keys),
    ("a wrapper holding a tensor beside the weights",
     lambda: {"model": _sam_keys(), "step": torch.tensor(7)}, _sam_keys),
    ("not SAM-like: kept as it is", lambda: _prefixed(tiny_state(), "module."),
     lambda: _prefixed(tiny_state(), "module.")),
    ("not every key prefixed: kept as it is",
     lambda: {**_prefixed(_sam_keys(), "module."), "extra": torch.zeros(1)},
     lambda: {**_prefixed(_sam_keys(), "module."), "extra": torch.zeros(1)}),
])
def test_training_wrappers_are_taken_off(tmp_path, label, saved, expected):
    """Fine-tuned checkpoints as training code saves them: the wrapper dict and the
    wrapper's key prefix come off when what is left is a SAM state dict (the strict check
    then runs on it as on any file)."""
    path = tmp_path / "tuned.pth"
    torch.save(saved(), path)
    state = checkpoint.read_state_dict(path)
    want = expected()
    assert list(state) == list(want), label
    assert all(torch.equal(state[k], want[k]) for k in want), label


def test_extra_tensors_only_are_called_a_variant():
    expected = {k: tuple(v.shape) for k, v in _sam_like(768, 12).items()}
    state = {**_sam_like(768, 12), "mask_decoder.hf_token.weight": torch.empty(1, 256,
                                                                              device="meta")}
    with pytest.raises(CheckpointError) as info:
        checkpoint.check_state_dict(state, expected, "hq.pth", "vit_b")
    text = str(info.value)
    assert "has all of that model's tensors and more" in text
    assert "1 key is unexpected (mask_decoder.hf_token.weight)" in text


def _sam_like(embed: int, depth: int) -> dict[str, torch.Tensor]:
    """Key and shape skeleton of a SAM ViT checkpoint (meta tensors: no memory)."""
    meta = torch.device("meta")
    state = {"image_encoder.patch_embed.proj.weight": torch.empty(embed, 3, 16, 16, device=meta)}
    for i in range(depth):
        state[f"image_encoder.blocks.{i}.norm1.weight"] = torch.empty(embed, device=meta)
    state["mask_decoder.iou_token.weight"] = torch.empty(1, 256, device=meta)
    return state


def _tiny_vit_like(widths, depths) -> dict[str, torch.Tensor]:
    """Key and shape skeleton of a MobileSAM (TinyViT) checkpoint (meta tensors)."""
    meta = torch.device("meta")
    state = {}
    for i, (width, depth) in enumerate(zip(widths, depths)):
        conv = "conv3" if i == 0 else "local_conv"
        for j in range(depth):
            state[f"image_encoder.layers.{i}.blocks.{j}.{conv}.c.weight"] = torch.empty(
                width, 1, 1, 1, device=meta
            )
    state["mask_decoder.iou_token.weight"] = torch.empty(1, 256, device=meta)
    return state


def test_infer_model_name():
    assert checkpoint.infer_model_name(_sam_like(768, 12)) == "vit_b"
    assert checkpoint.infer_model_name(_sam_like(1024, 24)) == "vit_l"
    assert checkpoint.infer_model_name(_sam_like(1280, 32)) == "vit_h"
    assert checkpoint.infer_model_name(_sam_like(768, 5)) is None
    assert checkpoint.infer_model_name(_tiny_vit_like((64, 128, 160, 320), (2, 2, 6, 2))) == (
        "mobile_sam"
    )
    # TinyViT layout, but another variant (TinyViT-11M widths): not a model of the table
    assert checkpoint.infer_model_name(_tiny_vit_like((64, 128, 256, 448), (2, 2, 6, 2))) is None
    assert checkpoint.infer_model_name(tiny_state()) is None


def test_a_different_registered_model_is_named():
    expected = {k: tuple(v.shape) for k, v in _sam_like(768, 12).items()}
    with pytest.raises(CheckpointError) as info:
        checkpoint.check_state_dict(_sam_like(1280, 32), expected, "big.pth", "vit_b")
    message = str(info.value)
    assert "does not fit the vit_b model: it looks like a vit_h checkpoint" in message
    assert "--model vit_h" in message
    assert "20 keys are unexpected" in message
    assert "13 tensors have the wrong shape" in message




@pytest.mark.parametrize("name", ["vit_b", "vit_l", "vit_h", "mobile_sam"])
def test_real_models_are_recognised_from_their_keys(name):
    shapes = checkpoint.expected_shapes(name)
    assert shapes is not None, "samcli.model.build is missing"
    meta = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    assert checkpoint.infer_model_name(meta) == name
