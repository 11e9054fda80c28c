"""Stand-ins for the weight tests: a tiny model, its state dict, a local HTTP file server.

No test needs the network or the real (hundreds of MB) weights: downloads come from a local
HTTP server on 127.0.0.1 (or a fake opener) serving a tiny model's state dict, registered
under the name ``tiny`` for the duration of a test (:func:`register_tiny`). Imported by the
tests of samcli.model's cache, download, checkpoint and loading modules and of
``samcli models``; ``server`` and ``home`` are fixtures (import them into the test module).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from torch import nn

from samcli.model import cache, checkpoint, specs
from samcli.model.specs import ModelSpec

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
        body, length, cut, trickle = route
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        body = body[:cut] if cut is not None else body
        self.close_connection = True
        step, pause = trickle or (len(body), 0.0)
        try:
            for start in range(0, len(body), max(step, 1)):
                self.wfile.write(body[start:start + step])
                self.wfile.flush()
                time.sleep(pause)
        except OSError:  # the client gave up
            pass

    def log_message(self, *args) -> None:
        pass


class FileServer:
    """A local HTTP server; ``add(path, body, length=..., cut=..., trickle=...)`` defines a
    route (``trickle=(n, seconds)``: the body ``n`` bytes at a time, a pause after each)."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, body: bytes, length: int | None | str = "auto", cut=None,
            trickle: tuple[int, float] | None = None) -> str:
        if length == "auto":
            length = len(body)
        self.httpd.routes[path] = (body, length, cut, trickle)  # type: ignore[attr-defined]
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
    monkeypatch.setitem(specs.MODELS, "tiny", spec)
    monkeypatch.setattr(checkpoint, "make_model", tiny_builder)
    return spec


def leftovers(folder: Path) -> list[str]:
    """The names in ``folder`` but the digest records' folder (see samcli.model.cache)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != cache.DIGESTS_DIR)


def write_old(path: Path, data: bytes, age_s: float = 60.0) -> Path:
    """Write ``data`` to ``path`` with a modification time ``age_s`` in the past (a file that
    is not being written right now, whose digest may be recorded: see cache.RACY_NS)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def sized(path: Path, size: int) -> Path:
    """A sparse file of ``size`` zero bytes (official sizes without using the disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


class FailingResponse:
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
