"""Model registry: cache folder rules, verified downloads, checkpoint loading and its errors.

No test needs the network or the real (hundreds of MB) weights: downloads come from a local
HTTP server on 127.0.0.1 (or a fake opener) serving a tiny model's state dict, registered
under the name ``tiny`` for the duration of a test.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
import urllib.error
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from torch import nn

from samcli.errors import EXIT_USAGE, CheckpointError, DownloadError, UsageError
from samcli.model import registry
from samcli.model.registry import ModelSpec

# --------------------------------------------------------------------------------------------
# helpers and fixtures (also imported by tests/commands/test_models.py)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 3)
        self.head = nn.Linear(3, 2)


class Other(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 5)


def state_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def tiny_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return Tiny().state_dict()


def tiny_builder(name: str, skip_init: bool = False) -> nn.Module:
    if name == "tiny":
        return Tiny()
    raise ImportError("only the tiny test model is buildable here")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404, "Not Found")
            return
        body, length, cut = route
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body[:cut] if cut is not None else body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


class FileServer:
    """A local HTTP server; ``add(path, body, length=..., cut=...)`` defines a route."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, body: bytes, length: int | None | str = "auto", cut=None) -> str:
        if length == "auto":
            length = len(body)
        self.httpd.routes[path] = (body, length, cut)  # type: ignore[attr-defined]
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    srv = FileServer()
    yield srv
    srv.close()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("SAMCLI_HOME", str(cache))
    return cache


def register_tiny(monkeypatch, url: str, body: bytes | None = None, **overrides) -> ModelSpec:
    """Register model ``tiny`` (served at ``url``) with exact size and sha256 of ``body``."""
    body = state_bytes(tiny_state()) if body is None else body
    fields = dict(
        name="tiny",
        family="test",
        arch=None,
        filename="tiny.pth",
        url=url,
        size_bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        description="a tiny test model",
    )
    fields.update(overrides)
    spec = ModelSpec(**fields)
    monkeypatch.setitem(registry.MODELS, "tiny", spec)
    monkeypatch.setattr(registry, "_build_model", tiny_builder)
    return spec


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------------------------
# cache folder (names and the table: tests/model/test_specs.py)


def test_cache_dir_rules(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SAMCLI_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert registry.cache_dir() == tmp_path / "home" / ".cache" / "samcli"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert registry.cache_dir() == tmp_path / "xdg" / "samcli"

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # ignored, as the XDG spec says
    assert registry.cache_dir() == tmp_path / "home" / ".cache" / "samcli"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("SAMCLI_HOME", str(tmp_path / "mine"))
    assert registry.cache_dir() == tmp_path / "mine"

    monkeypatch.setenv("SAMCLI_HOME", "")  # empty means unset
    assert registry.cache_dir() == tmp_path / "xdg" / "samcli"

    monkeypatch.setenv("SAMCLI_HOME", "~/weights")
    assert registry.cache_dir() == tmp_path / "home" / "weights"


def test_cached_path_and_is_cached(home):
    path = registry.cached_path("vit_b")
    assert path == home / "sam_vit_b_01ec64.pth"
    assert not registry.is_cached("vit_b")
    home.mkdir()
    path.write_bytes(b"")
    assert not registry.is_cached("vit_b")  # an empty file is not a cached model
    path.write_bytes(b"x")
    assert registry.is_cached("vit_b")


# --------------------------------------------------------------------------------------------
# download


def test_download_streams_verifies_and_moves_into_place(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    spec = register_tiny(monkeypatch, server.add("/ok/tiny.pth", body), body)
    monkeypatch.setattr(registry, "CHUNK_BYTES", 256)  # several chunks
    calls = []
    path = registry.download("tiny", progress=lambda done, total: calls.append((done, total)))
    assert path == home / spec.filename
    assert path.read_bytes() == body
    assert leftovers(home) == ["tiny.pth"]  # no partial file left
    assert calls[0] == (0, len(body))
    assert calls[-1] == (len(body), len(body))
    assert len(calls) > 3
    assert registry.is_cached("tiny")


def test_download_cut_short_leaves_nothing(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    url = server.add("/cut/tiny.pth", body, cut=len(body) // 2)
    register_tiny(monkeypatch, url, body)
    with pytest.raises(DownloadError) as info:
        registry.download("tiny")
    message = str(info.value)
    assert "cut off" in message and f"{len(body) // 2} of {len(body)} bytes" in message
    assert url in message and str(home / "tiny.pth") in message
    assert leftovers(home) == []


def test_download_without_content_length_is_checked_by_size(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    url = server.add("/nolen/tiny.pth", body, length=None, cut=len(body) - 10)
    register_tiny(monkeypatch, url, body)
    with pytest.raises(DownloadError, match="official file has"):
        registry.download("tiny")
    assert leftovers(home) == []


def test_failed_download_keeps_the_previous_file(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/cut2/tiny.pth", body, cut=10), body)
    home.mkdir()
    (home / "tiny.pth").write_bytes(b"previous")
    with pytest.raises(DownloadError):
        registry.download("tiny")
    assert (home / "tiny.pth").read_bytes() == b"previous"
    assert leftovers(home) == ["tiny.pth"]


def test_checksum_mismatch_leaves_nothing(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/sum/tiny.pth", body), body, sha256="0" * 64)
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        registry.download("tiny")
    assert leftovers(home) == []


def test_download_that_is_not_a_checkpoint_is_refused(server, home, monkeypatch):
    body = b"<html>rate limited</html>" * 10
    register_tiny(monkeypatch, server.add("/html/tiny.pth", body), body, sha256=None)
    with pytest.raises(DownloadError) as info:
        registry.download("tiny")
    assert "not a PyTorch checkpoint" in str(info.value)
    assert leftovers(home) == []


def test_download_with_the_wrong_keys_is_refused(server, home, monkeypatch):
    body = state_bytes(Other().state_dict())
    register_tiny(monkeypatch, server.add("/other/tiny.pth", body), body, sha256=None)
    with pytest.raises(DownloadError) as info:
        registry.download("tiny")
    assert "keys are missing" in str(info.value) and "encoder.weight" in str(info.value)
    assert leftovers(home) == []


def test_http_error_names_url_and_path(server, home, monkeypatch):
    host, port = server.httpd.server_address[:2]
    url = f"http://{host}:{port}/missing.pth"
    register_tiny(monkeypatch, url)
    with pytest.raises(DownloadError) as info:
        registry.download("tiny")
    assert "HTTP 404" in str(info.value) and url in str(info.value)
    assert leftovers(home) == []


def test_no_network_message_names_url_and_exact_path(home, monkeypatch):
    seen = {}

    def offline(request, timeout=None):
        seen["timeout"] = timeout
        seen["url"] = request.full_url
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    with pytest.raises(DownloadError) as info:
        registry.download("vit_b", opener=offline)
    message = str(info.value)
    url = "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth"
    assert seen == {"timeout": registry.DOWNLOAD_TIMEOUT_S, "url": url}
    assert message.startswith(f"could not download vit_b weights from {url} (")
    assert "Temporary failure in name resolution" in message
    assert f"put it at {home / 'sam_vit_b_01ec64.pth'}," in message
    assert "--checkpoint" in message
    assert "\n" not in message
    assert leftovers(home) == []


def test_timeout_is_reported(home, monkeypatch):
    def slow(request, timeout=None):
        raise socket.timeout("timed out")

    with pytest.raises(DownloadError, match="timed out after 30 s"):
        registry.download("mobile_sam", opener=slow)


class _Response:
    """A fake response that fails after its first chunk."""

    def __init__(self, body: bytes, fail: BaseException) -> None:
        self.body, self.fail, self.sent = body, fail, False
        self.headers = {"Content-Length": str(len(body))}
        self.status = 200

    def read(self, n: int) -> bytes:
        if self.sent:
            raise self.fail
        self.sent = True
        return self.body[:10]

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "fail",
    [ConnectionResetError(104, "Connection reset by peer"), socket.timeout("timed out")],
)
def test_error_mid_stream_leaves_nothing(home, monkeypatch, fail):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    with pytest.raises(DownloadError) as info:
        registry.download("tiny", opener=lambda req, timeout=None: _Response(body, fail))
    assert "example.invalid" in str(info.value)
    assert leftovers(home) == []


def test_interrupted_download_leaves_nothing(home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    with pytest.raises(KeyboardInterrupt):
        registry.download(
            "tiny", opener=lambda req, timeout=None: _Response(body, KeyboardInterrupt())
        )
    assert leftovers(home) == []


def test_stale_partial_files_are_cleaned(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/stale/tiny.pth", body), body)
    home.mkdir()
    (home / "tiny.pth.part-999999999").write_bytes(b"dead process")  # no such pid
    (home / f"tiny.pth.part-{os.getppid()}").write_bytes(b"live process")
    (home / "other.pth.part-999999999").write_bytes(b"another model's")
    registry.download("tiny")
    assert leftovers(home) == sorted(
        ["tiny.pth", f"tiny.pth.part-{os.getppid()}", "other.pth.part-999999999"]
    )


# --------------------------------------------------------------------------------------------
# checkpoint loading


@pytest.fixture
def good_file(tmp_path) -> Path:
    path = tmp_path / "good.pth"
    torch.save(tiny_state(), path)
    return path


def test_load_checkpoint_loads_a_plain_state_dict(good_file):
    model = Tiny()
    registry.load_checkpoint(model, good_file)
    for key, value in tiny_state().items():
        assert torch.equal(model.state_dict()[key], value)


@pytest.mark.parametrize("wrapper", ["model", "state_dict"])
def test_load_checkpoint_unwraps_training_checkpoints(tmp_path, wrapper):
    path = tmp_path / "wrapped.pth"
    torch.save({wrapper: tiny_state(), "epoch": 3}, path)
    model = Tiny()
    registry.load_checkpoint(model, path)
    assert torch.equal(model.head.weight, tiny_state()["head.weight"])


def _error(path: Path, model: nn.Module | None = None) -> str:
    with pytest.raises(CheckpointError) as info:
        registry.load_checkpoint(model or Tiny(), path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope.pth")


def test_folder_instead_of_file(tmp_path):
    assert "folder" in _error(tmp_path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    assert "empty (0 bytes)" in _error(path)


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
    assert "does not hold a model state dict" in _error(path)


class Pickled:
    pass


def test_arbitrary_objects_are_never_unpickled(tmp_path):
    path = tmp_path / "object.pth"
    torch.save({"weights": tiny_state(), "obj": Pickled()}, path)
    assert "other than tensors" in _error(path)


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
    assert registry.infer_model_name(_sam_like(768, 12)) == "vit_b"
    assert registry.infer_model_name(_sam_like(1024, 24)) == "vit_l"
    assert registry.infer_model_name(_sam_like(1280, 32)) == "vit_h"
    assert registry.infer_model_name(_sam_like(768, 5)) is None
    assert registry.infer_model_name(_tiny_vit_like((64, 128, 160, 320), (2, 2, 6, 2))) == (
        "mobile_sam"
    )
    # TinyViT layout, but another variant (TinyViT-11M widths): not a model of the table
    assert registry.infer_model_name(_tiny_vit_like((64, 128, 256, 448), (2, 2, 6, 2))) is None
    assert registry.infer_model_name(tiny_state()) is None


def test_a_different_registered_model_is_named():
    expected = {k: tuple(v.shape) for k, v in _sam_like(768, 12).items()}
    with pytest.raises(CheckpointError) as info:
        registry.check_state_dict(_sam_like(1280, 32), expected, "big.pth", "vit_b")
    message = str(info.value)
    assert "does not fit the vit_b model: it looks like a vit_h checkpoint" in message
    assert "--model vit_h" in message
    assert "20 keys are unexpected" in message
    assert "13 tensors have the wrong shape" in message


# --------------------------------------------------------------------------------------------
# resolve_checkpoint and load_model


def _no_network(request, timeout=None):
    raise AssertionError("the network must not be used")


def test_checkpoint_wins_over_name(good_file, home):
    assert registry.resolve_checkpoint("vit_h", good_file, opener=_no_network) == good_file
    with pytest.raises(CheckpointError, match="does not exist"):
        registry.resolve_checkpoint("vit_b", good_file.with_name("nope.pth"))


def test_cached_weights_are_used_without_network(home):
    home.mkdir()
    (home / "mobile_sam.pt").write_bytes(b"x")
    path = registry.resolve_checkpoint("mobile_sam", None, opener=_no_network)
    assert path == home / "mobile_sam.pt"


def test_missing_weights_without_download(home):
    with pytest.raises(CheckpointError) as info:
        registry.resolve_checkpoint(None, None, download_missing=False)
    assert "samcli models download vit_b" in str(info.value)
    assert str(home / "sam_vit_b_01ec64.pth") in str(info.value)


def test_missing_weights_are_downloaded(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/resolve/tiny.pth", body), body)
    model = registry.load_model("tiny")
    assert not model.training
    assert (home / "tiny.pth").read_bytes() == body
    assert torch.equal(model.head.bias, tiny_state()["head.bias"])


def test_load_model_from_checkpoint(good_file, monkeypatch):
    monkeypatch.setattr(registry, "_build_model", tiny_builder)
    monkeypatch.setitem(
        registry.MODELS, "tiny", ModelSpec("tiny", "test", None, "tiny.pth", "http://x/", None, None, "")
    )
    model = registry.load_model("tiny", good_file, dtype=torch.bfloat16)
    assert not model.training
    assert model.head.weight.dtype == torch.bfloat16
    assert registry.load_model("tiny", good_file, dtype="float16").head.bias.dtype == torch.float16
    assert registry.load_model("tiny", good_file).head.bias.dtype == torch.float32
    with pytest.raises(UsageError, match="unknown dtype"):
        registry.load_model("tiny", good_file, dtype="int8")
    # without a name, the architecture comes from the file; a non-SAM file cannot be inferred
    with pytest.raises(CheckpointError, match="cannot tell which SAM model"):
        registry.load_model(None, good_file)


def test_damaged_cached_file_suggests_force(home, monkeypatch):
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth")
    home.mkdir()
    (home / "tiny.pth").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError) as info:
        registry.load_model("tiny", opener=_no_network)
    assert "is not a PyTorch checkpoint or is truncated" in str(info.value)
    assert "samcli models download tiny --force" in str(info.value)


# --------------------------------------------------------------------------------------------
# with the real SAM builder (samcli.model.build)


@pytest.mark.parametrize("name", ["vit_b", "vit_l", "vit_h", "mobile_sam"])
def test_real_models_are_recognised_from_their_keys(name):
    shapes = registry._expected_shapes(name)
    assert shapes is not None, "samcli.model.build is missing"
    meta = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    assert registry.infer_model_name(meta) == name


def test_real_model_round_trip_and_wrong_model_message(tmp_path):
    from samcli.model.build import build_model

    torch.manual_seed(0)
    model = build_model("mobile_sam")
    path = tmp_path / "mobile.pt"
    torch.save(model.state_dict(), path)
    loaded = registry.load_model(None, path)  # architecture inferred from the file
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with pytest.raises(CheckpointError) as info:
        registry.load_model("vit_b", path)
    assert "looks like a mobile_sam checkpoint" in str(info.value)
