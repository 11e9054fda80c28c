"""Verified downloads (samcli.model.download) from a local HTTP server or a fake opener."""

from __future__ import annotations

import itertools
import re
import os
import socket
import urllib.error

import pytest

from samcli.errors import DownloadError
from samcli import fs
from samcli.model import cache, download
from tests.model.fakes import (  # noqa: F401  (server and home are fixtures)
    FailingResponse,
    Other,
    home,
    leftovers,
    register_tiny,
    server,
    state_bytes,
    tiny_state,
)


def test_download_streams_verifies_and_moves_into_place(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    spec = register_tiny(monkeypatch, server.add("/ok/tiny.pth", body), body)
    monkeypatch.setattr(download, "CHUNK_BYTES", 256)  # several chunks
    calls = []
    path = download.download("tiny", progress=lambda done, total: calls.append((done, total)))
    assert path == home / spec.filename
    assert path.read_bytes() == body
    assert leftovers(home) == ["tiny.pth"]  # no partial file left
    assert calls[0] == (0, len(body))
    assert calls[-1] == (len(body), len(body))
    assert len(calls) > 3
    assert cache.is_cached("tiny")
    # the digest of the bytes received is recorded: the first use does not hash the file
    assert cache.recorded_digest(path) == spec.sha256
    assert cache.is_verified("tiny")


def test_download_cut_short_leaves_nothing(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    url = server.add("/cut/tiny.pth", body, cut=len(body) // 2)
    register_tiny(monkeypatch, url, body)
    with pytest.raises(DownloadError) as info:
        download.download("tiny")
    message = str(info.value)
    assert "cut off" in message and f"{len(body) // 2} of {len(body)} bytes" in message
    assert url in message and str(home / "tiny.pth") in message
    assert leftovers(home) == []


def test_download_without_content_length_is_checked_by_size(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    url = server.add("/nolen/tiny.pth", body, length=None, cut=len(body) - 10)
    register_tiny(monkeypatch, url, body)
    with pytest.raises(DownloadError, match="official file has"):
        download.download("tiny")
    assert leftovers(home) == []


def test_failed_download_keeps_the_previous_file(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/cut2/tiny.pth", body, cut=10), body)
    home.mkdir()
    (home / "tiny.pth").write_bytes(b"previous")
    with pytest.raises(DownloadError):
        download.download("tiny")
    assert (home / "tiny.pth").read_bytes() == b"previous"
    assert leftovers(home) == ["tiny.pth"]


def test_checksum_mismatch_leaves_nothing(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/sum/tiny.pth", body), body, sha256="0" * 64)
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        download.download("tiny")
    assert leftovers(home) == []


def test_download_that_is_not_a_checkpoint_is_refused(server, home, monkeypatch):
    body = b"<html>rate limited</html>" * 10
    register_tiny(monkeypatch, server.add("/html/tiny.pth", body), body, sha256=None)
    with pytest.raises(DownloadError) as info:
        download.download("tiny")
    assert "not a PyTorch checkpoint" in str(info.value)
    assert leftovers(home) == []


def test_download_with_the_wrong_keys_is_refused(server, home, monkeypatch):
    body = state_bytes(Other().state_dict())
    register_tiny(monkeypatch, server.add("/other/tiny.pth", body), body, sha256=None)
    with pytest.raises(DownloadError) as info:
        download.download("tiny")
    assert "keys are missing" in str(info.value) and "encoder.weight" in str(info.value)
    assert leftovers(home) == []


def test_http_error_names_url_and_path(server, home, monkeypatch):
    host, port = server.httpd.server_address[:2]
    url = f"http://{host}:{port}/missing.pth"
    register_tiny(monkeypatch, url)
    with pytest.raises(DownloadError) as info:
        download.download("tiny")
    assert "HTTP 404" in str(info.value) and url in str(info.value)
    assert leftovers(home) == []


def test_no_network_message_names_url_and_exact_path(home, monkeypatch):
    seen = {}

    def offline(request, timeout=None):
        seen["timeout"] = timeout
        seen["url"] = request.full_url
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    with pytest.raises(DownloadError) as info:
        download.download("vit_b", opener=offline)
    message = str(info.value)
    url = "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth"
    assert seen == {"timeout": download.DOWNLOAD_TIMEOUT_S, "url": url}
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
        download.download("mobile_sam", opener=slow)


@pytest.mark.parametrize(
    "fail",
    [ConnectionResetError(104, "Connection reset by peer"), socket.timeout("timed out")],
)
def test_error_mid_stream_leaves_nothing(home, monkeypatch, fail):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    with pytest.raises(DownloadError) as info:
        download.download("tiny", opener=lambda req, timeout=None: FailingResponse(body, fail))
    assert "example.invalid" in str(info.value)
    assert leftovers(home) == []


def test_interrupted_download_leaves_nothing(home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    with pytest.raises(KeyboardInterrupt):
        download.download(
            "tiny", opener=lambda req, timeout=None: FailingResponse(body, KeyboardInterrupt())
        )
    assert leftovers(home) == []


def test_stale_partial_files_are_cleaned(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/stale/tiny.pth", body), body)
    home.mkdir()
    (home / "tiny.pth.part-999999999").write_bytes(b"dead process")  # no such pid
    (home / f"tiny.pth.part-{os.getppid()}").write_bytes(b"live process")
    (home / "other.pth.part-999999999").write_bytes(b"another model's")
    download.download("tiny")
    assert leftovers(home) == sorted(
        ["tiny.pth", f"tiny.pth.part-{os.getppid()}", "other.pth.part-999999999"]
    )


def _plant(home, monkeypatch, tokens):
    """Make the partial file's random names ``tokens`` (in turn) and plant a symlink at the
    first one, pointing at a file outside the cache; return (victim, link)."""
    names = itertools.chain(tokens, (f"{n:x}" for n in itertools.count(0xF00)))
    monkeypatch.setattr(fs, "_token", lambda: next(names))
    home.mkdir()
    victim = home.parent / "victim.txt"
    victim.write_bytes(b"precious")
    link = home / f"tiny.pth.part-{os.getpid()}-{tokens[0]}"
    link.symlink_to(victim)
    return victim, link


def test_a_planted_symlink_is_never_written_through(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/planted/tiny.pth", body), body)
    victim, link = _plant(home, monkeypatch, ["a1", "b2"])
    path = download.download("tiny")
    assert path.read_bytes() == body
    assert victim.read_bytes() == b"precious"
    assert link.is_symlink()  # someone else's name: left alone
    assert leftovers(home) == sorted(["tiny.pth", link.name])


def test_no_free_temporary_name_is_a_clear_error(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/taken/tiny.pth", body), body)
    victim, link = _plant(home, monkeypatch, ["a1"] * (fs.TEMP_ATTEMPTS + 1))
    with pytest.raises(DownloadError) as info:
        download.download("tiny")
    message = str(info.value)
    assert message.startswith("could not create a temporary file for tiny weights in ")
    assert str(home) in message and "SAMCLI_HOME" in message
    assert victim.read_bytes() == b"precious"
    assert leftovers(home) == [link.name]


def test_downloaded_file_is_readable_by_others_as_umask_allows(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/mode/tiny.pth", body), body)
    old = os.umask(0o022)
    try:
        path = download.download("tiny")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    "label, existing, kept",
    [
        ("old-style name, dead pid", "tiny.pth.part-999999999", False),
        ("new-style name, dead pid", "tiny.pth.part-999999999-0a1b", False),
        ("new-style name, live pid", f"tiny.pth.part-{os.getppid()}-0a1b", True),
        ("another model's part", "other.pth.part-999999999-0a1b", True),
        ("not a part file", "tiny.pth.partial", True),
    ],
)
def test_stale_partial_file_names(server, home, monkeypatch, label, existing, kept):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/names/tiny.pth", body), body)
    home.mkdir()
    (home / existing).write_bytes(b"x")
    download.download("tiny")
    assert ((home / existing).exists()) == kept, label


# ----------------------------------------------------------------------------- SAM 2 files

#: A small SAM 2 architecture for a table row of family "sam2" (the decoder keeps SAM 2's
#: fixed 256-wide heads: about 4M parameters, a 17 MB file).
SMALL_SAM2 = dict(embed_dim=8, num_heads=1, stages=(1, 1, 1, 1), global_att_blocks=(3,),
                  window_pos_embed_bkg_spatial_size=(7, 7))


def _official_sam2_file(drop: str | None = None) -> bytes:
    """``{"model": state_dict}`` as Meta's files are: the image path plus video-only keys."""
    import torch

    from samcli.model.sam2.arch import Sam2Arch
    from samcli.model.sam2.build import build_sam2

    torch.manual_seed(0)
    state = dict(build_sam2(Sam2Arch(**SMALL_SAM2)).state_dict())
    state.update({"memory_encoder.out_proj.weight": torch.zeros(4, 4),
                  "no_obj_ptr": torch.zeros(1, 256),
                  "obj_ptr_tpos_proj.weight": torch.zeros(2, 2),
                  "obj_ptr_tpos_proj.bias": torch.zeros(2),
                  "no_obj_embed_spatial": torch.zeros(1, 4)})
    if drop:
        del state[drop]
    return state_bytes({"model": state})


def _register_sam2(monkeypatch, url: str, body: bytes, sha256: bool = True):
    """Table row ``tiny2`` (family sam2) served at ``url``, with ``body``'s size and digest."""
    import hashlib

    from samcli.model import specs
    from samcli.model.sam2.arch import Sam2Arch

    monkeypatch.setitem(specs.MODELS, "tiny2", specs.ModelSpec(
        name="tiny2", family="sam2", arch=Sam2Arch(**SMALL_SAM2), filename="tiny2.pt", url=url,
        size_bytes=len(body), sha256=hashlib.sha256(body).hexdigest() if sha256 else None,
        description="a small SAM 2 test model"))


def test_an_official_sam2_file_downloads_verified_and_loads_strictly(server, home, monkeypatch):
    """The download check and the load both skip exactly the video-only keys; the rest is
    strict, so the same file without one image-path tensor is refused."""
    from samcli.model import checkpoint, loading
    from samcli.model.sam2 import Sam2

    body = _official_sam2_file()
    _register_sam2(monkeypatch, server.add("/sam2/tiny2.pt", body), body)
    path = download.download("tiny2")
    assert path == home / "tiny2.pt" and path.read_bytes() == body
    model = loading.load_model("tiny2")
    assert isinstance(model, Sam2)
    assert "no_obj_ptr" not in model.state_dict()
    assert checkpoint.infer_model_name(checkpoint.read_state_dict(path)) == "tiny2"
    assert loading.model_family(None, path) == "sam2"

    broken = _official_sam2_file(drop="sam_mask_decoder.conv_s1.weight")
    _register_sam2(monkeypatch, server.add("/sam2/broken.pt", broken), broken, sha256=False)
    path.unlink()
    with pytest.raises(DownloadError) as info:
        download.download("tiny2")
    assert "1 key is missing (sam_mask_decoder.conv_s1.weight)" in str(info.value)
    assert leftovers(home) == []


class Endless:
    """A fake response: ``length`` as its Content-Length (None: no header), then ``chunk``
    bytes per read, forever; counts the reads."""

    def __init__(self, length: int | None, chunk: int = 1000) -> None:
        self.headers = {} if length is None else {"Content-Length": str(length)}
        self.status, self.chunk, self.reads = 200, chunk, 0

    def read(self, n: int) -> bytes:
        self.reads += 1
        return b"x" * min(n, self.chunk)

    def close(self) -> None:
        pass


def test_a_server_announcing_another_size_is_refused_before_the_body(home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    response = Endless(3 * len(body))
    with pytest.raises(DownloadError, match=f"announces {3 * len(body)} bytes, but the "
                                            f"official file has {len(body)} bytes"):
        download.download("tiny", opener=lambda req, timeout=None: response)
    assert response.reads == 0 and leftovers(home) == []


def test_an_endless_body_stops_at_the_official_size(home, monkeypatch):
    """No Content-Length and a body that never ends: reading stops at the first byte past
    the official size (the disk is not filled)."""
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    monkeypatch.setattr(download, "CHUNK_BYTES", 1000)
    response = Endless(None)
    with pytest.raises(DownloadError, match=f"more than the official file's {len(body)} bytes"):
        download.download("tiny", opener=lambda req, timeout=None: response)
    assert response.reads == len(body) // 1000 + 1 and leftovers(home) == []


def test_a_trickling_server_is_given_up(home, monkeypatch):
    """A few bytes a read never trip the per-read timeout: under STALL_BYTES in STALL_S
    seconds is a stall (a fake clock: each read takes 10 s)."""
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    clock = itertools.count(0.0, 10.0)
    monkeypatch.setattr(download.time, "monotonic", lambda: next(clock))
    response = Endless(len(body), chunk=4)
    with pytest.raises(DownloadError, match=r"stalled: \d+ bytes in the last 1[23]\d s"):
        download.download("tiny", opener=lambda req, timeout=None: response)
    assert response.reads < 20 and leftovers(home) == []


def test_a_real_server_trickling_bytes_is_given_up_mid_body(server, home, monkeypatch):
    """Over a real socket, ``read(CHUNK_BYTES)`` would wait for a whole chunk (or the end of
    the body) however slowly it comes, so the stall check must run after every receive: 100
    bytes every 50 ms (2 kB/s, a stall for STALL_BYTES 64 kB in STALL_S 0.5 s) is given up
    after about 1 kB, long before the 40 kB body is in."""
    body = os.urandom(40_000)
    spec = register_tiny(monkeypatch, server.add("/slow/tiny.pth", body, trickle=(100, 0.05)),
                         body)
    monkeypatch.setattr(download, "STALL_S", 0.5)
    with pytest.raises(DownloadError, match=r"stalled: \d+ bytes") as info:
        download.download("tiny")
    got = int(re.search(r"stalled: (\d+) bytes", str(info.value)).group(1))
    assert 0 < got < len(body) // 2, str(info.value)
    assert spec.url in str(info.value) and leftovers(home) == []


@pytest.mark.parametrize("label, make, words", [
    ("a folder at the file's name", lambda h: (h / "tiny.pth").mkdir(parents=True),
     "a folder is in the way"),
    ("the cache folder is a file", lambda h: h.write_text("x"), "a file, not a folder"),
    ("the cache folder is a dangling symlink", lambda h: h.symlink_to(h.parent / "gone"),
     "which does not exist"),
])
def test_what_is_in_the_way_is_said_before_any_download(home, monkeypatch, label, make, words):
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth")
    make(home)

    def never(request, timeout=None):
        raise AssertionError("downloaded")

    with pytest.raises(DownloadError, match=words) as info:
        download.download("tiny", opener=never)
    assert "\n" not in str(info.value), label


def test_a_redirect_loop_is_one_short_reason(home, monkeypatch):
    def loop(request, timeout=None):
        raise urllib.error.HTTPError(request.full_url, 302, "The HTTP server returned a "
                                     "redirect error that would lead to an infinite loop.\n"
                                     "The last 30x error message was:\nFound", {}, None)

    register_tiny(monkeypatch, "http://example.invalid/tiny.pth")
    with pytest.raises(DownloadError) as info:
        download.download("tiny", opener=loop)
    assert "(too many redirects (HTTP 302))" in str(info.value)
    assert "\n" not in str(info.value) and "\\n" not in str(info.value)


@pytest.mark.parametrize("code, advice", [(28, "Free some space or set SAMCLI_HOME"),
                                          (30, "Set SAMCLI_HOME to another (writable)")])
def test_write_errors_give_the_advice_that_fits(home, monkeypatch, code, advice):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)

    def refusing(folder, prefix, **kw):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(download, "create_exclusive", refusing)
    with pytest.raises(DownloadError, match=re.escape(advice)) as info:
        download.download("tiny", opener=lambda req, timeout=None: Endless(len(body)))
    assert os.strerror(code) in str(info.value)


def test_a_live_download_of_an_unseen_process_is_not_cleaned(server, home, monkeypatch):
    """A partial file whose pid is not alive here (another container or host sharing the
    cache) but whose lock is held is a live download: left alone; once unlocked, removed."""
    import fcntl

    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/locked/tiny.pth", body), body)
    home.mkdir()
    part = home / "tiny.pth.part-999999999-abc123"  # no such pid here
    part.write_bytes(b"someone else's download")
    fd = os.open(part, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        download.download("tiny")
        assert leftovers(home) == sorted(["tiny.pth", part.name])
    finally:
        os.close(fd)
    download.download("tiny")
    assert leftovers(home) == ["tiny.pth"]
