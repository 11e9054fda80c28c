"""The weight cache (samcli.model.cache): folder rules, trust in cached files, digests.

Hashing is observed through a spy on ``cache.file_sha256``: "hashed once" means the spy saw
one call, never a timing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from samcli.errors import CheckpointError
from samcli.model import cache
from tests.model.fakes import home, register_tiny, sized, write_old  # noqa: F401  (home)

SPEC_B = 375_042_383  # the official vit_b file's size


def test_cache_dir_rules(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SAMCLI_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "samcli"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "samcli"

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # ignored, as the XDG spec says
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "samcli"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("SAMCLI_HOME", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"

    monkeypatch.setenv("SAMCLI_HOME", "")  # empty means unset
    assert cache.cache_dir() == tmp_path / "xdg" / "samcli"

    monkeypatch.setenv("SAMCLI_HOME", "~/weights")
    assert cache.cache_dir() == tmp_path / "home" / "weights"


def test_relative_samcli_home_is_made_absolute(monkeypatch, tmp_path):
    """One cache whatever folder later commands run in, and absolute paths printed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAMCLI_HOME", "rel/cache")
    assert cache.cache_dir() == tmp_path / "rel" / "cache"
    assert cache.cache_dir().is_absolute()


@pytest.mark.parametrize("label, samcli_home", [
    ("~user of no user", "~nosuchuser_samcli/c"),
    ("no home to find", None),
])
def test_a_home_that_cannot_be_found_is_a_config_error(monkeypatch, label, samcli_home):
    from pathlib import Path

    from samcli.errors import ConfigError

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    if samcli_home is None:  # docker run --user 1000: no $HOME, no passwd entry
        monkeypatch.delenv("SAMCLI_HOME", raising=False)

        def no_home(cls=None):
            raise RuntimeError("Could not determine home directory.")

        monkeypatch.setattr(Path, "home", classmethod(no_home))
    else:
        monkeypatch.setenv("SAMCLI_HOME", samcli_home)
    with pytest.raises(ConfigError, match="set SAMCLI_HOME") as err:
        cache.cache_dir()
    assert "\n" not in str(err.value), label


def test_cached_path(home):
    assert cache.cached_path("vit_b") == home / "sam_vit_b_01ec64.pth"
    assert cache.cached_path("ViT-T") == home / "mobile_sam.pt"


@pytest.mark.parametrize(
    "label, content, state",
    [
        ("no file", None, "missing"),
        ("empty file", 0, "wrong size"),
        ("a few bytes", 1, "wrong size"),
        ("one byte short", SPEC_B - 1, "wrong size"),
        ("the official size", SPEC_B, "cached"),
        ("a folder in its place", "dir", "missing"),
    ],
)
def test_cache_state_checks_the_size(home, label, content, state):
    path = cache.cached_path("vit_b")
    if content == "dir":
        path.mkdir(parents=True)
    elif content is not None:
        sized(path, content)
    assert cache.cache_state("vit_b") == state, label
    assert cache.is_cached("vit_b") == (state == "cached"), label


# --------------------------------------------------------------------------------------------
# verify_cached: size on every use, SHA-256 once per file identity


@pytest.fixture
def hashed(monkeypatch) -> list:
    """Paths hashed by cache.file_sha256 (which still hashes)."""
    calls = []
    real = cache.file_sha256

    def spy(path):
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(cache, "file_sha256", spy)
    return calls


def test_official_file_is_hashed_once_then_trusted(home, monkeypatch, hashed):
    body = b"official weights" * 100
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    path = write_old(home / "tiny.pth", body)
    assert cache.cache_state("tiny") == "cached" and not cache.is_verified("tiny")
    assert cache.verify_cached("tiny") == path
    assert cache.verify_cached("tiny") == path
    assert hashed == [str(path.resolve())]
    assert cache.is_verified("tiny")


@pytest.mark.parametrize(
    "label, replacement, expected",
    [
        ("other weights, other size", b"other weights", "have 13 bytes, but the official "
         "file has 1600 bytes"),
        ("empty file", b"", "have 0 bytes, but the official file has 1600 bytes"),
        ("other weights, same size", b"X" * 1600, "are not the official file (SHA-256 "),
    ],
)
def test_a_swapped_cached_file_is_one_clear_error(
    home, monkeypatch, label, replacement, expected
):
    body = b"official weights" * 100
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    path = write_old(home / "tiny.pth", body)
    cache.verify_cached("tiny")  # verified and recorded ...
    path.unlink()
    write_old(path, replacement, age_s=30)  # ... then swapped
    with pytest.raises(CheckpointError) as info:
        cache.verify_cached("tiny")
    message = str(info.value)
    assert expected in message, label
    assert str(path) in message
    assert "samcli models download tiny --force" in message
    assert "\n" not in message
    assert not cache.is_cached("tiny")  # and `models list` says so, without hashing


def test_a_known_bad_digest_needs_no_rehash(home, monkeypatch, hashed):
    body = b"official weights" * 100
    register_tiny(monkeypatch, "http://example.invalid/tiny.pth", body)
    path = write_old(home / "tiny.pth", b"Y" * len(body))
    for _ in range(2):
        with pytest.raises(CheckpointError, match="not the official file"):
            cache.verify_cached("tiny")
    assert len(hashed) == 1
    assert cache.cache_state("tiny") == "wrong sha256"
    assert not cache.is_cached("tiny") and not cache.is_verified("tiny")
    assert path.exists()  # never deleted behind the user's back


def test_missing_cached_file(home):
    with pytest.raises(CheckpointError, match="samcli models download vit_b"):
        cache.verify_cached("vit_b")


# --------------------------------------------------------------------------------------------
# weights_digest: any weight file, hashed once per identity


def test_weights_digest_is_the_sha256_and_is_hashed_once(home, tmp_path, hashed):
    data = b"fine-tuned weights"
    path = write_old(tmp_path / "mine.pth", data)
    first = cache.weights_digest(path)
    assert first == hashlib.sha256(data).hexdigest()
    assert cache.weights_digest(path) == first
    assert cache.weights_digest(str(path)) == first
    assert len(hashed) == 1


def test_digest_record_lives_in_the_cache_folder(home, tmp_path):
    path = write_old(tmp_path / "mine.pth", b"weights")
    digest = cache.weights_digest(path)
    (record_file,) = (home / cache.DIGESTS_DIR).iterdir()
    record = json.loads(record_file.read_text())
    st = path.stat()
    assert record == {
        "version": 1,
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "inode": st.st_ino,
        "sha256": digest,
    }
    assert sorted(p.name for p in tmp_path.iterdir() if p != home) == ["mine.pth"]


def _touch(path):
    when = time.time() - 10
    os.utime(path, (when, when))


def _rewrite_same_size(path):
    data = path.read_bytes()
    with open(path, "r+b") as f:  # same inode, same size
        f.write(bytes([data[0] ^ 1]))
    _touch(path)


def _replace(path):
    other = path.with_name("other.tmp")
    write_old(other, b"new weights!", age_s=10)
    os.replace(other, path)


def _grow(path):
    with open(path, "ab") as f:
        f.write(b"!")
    _touch(path)


@pytest.mark.parametrize(
    "label, change",
    [
        ("touched (mtime)", _touch),
        ("rewritten in place, same size", _rewrite_same_size),
        ("replaced by rename (inode)", _replace),
        ("grown (size)", _grow),
    ],
)
def test_a_changed_file_is_hashed_again(home, tmp_path, hashed, label, change):
    path = write_old(tmp_path / "mine.pth", b"old weights!")
    cache.weights_digest(path)
    change(path)
    assert cache.weights_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest(), label
    assert len(hashed) == 2, label
    cache.weights_digest(path)
    assert len(hashed) == 2, label  # and the new identity is recorded


def test_a_rewrite_with_the_modification_time_put_back_is_hashed_again(home, tmp_path,
                                                                       hashed):
    """os.utime (or rsync --inplace -t) can restore the modification time after a write in
    place, but the change time moves anyway: the file is hashed again, not trusted."""
    path = write_old(tmp_path / "mine.pth", b"old weights!")
    cache.weights_digest(path)
    st = path.stat()
    time.sleep(0.05)  # past the kernel's timestamp tick (a few ms), as any later edit is
    with open(path, "r+b") as f:  # same inode, same size, a byte in the middle
        f.seek(5)
        f.write(b"W")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert cache.weights_digest(path) == hashlib.sha256(b"old wWights!").hexdigest()
    assert len(hashed) == 2


def test_a_file_written_just_now_is_not_recorded(home, tmp_path, hashed):
    path = tmp_path / "fresh.pth"
    path.write_bytes(b"still being written?")
    cache.weights_digest(path)
    cache.weights_digest(path)
    assert len(hashed) == 2
    assert not (home / cache.DIGESTS_DIR).exists()


def test_an_unwritable_cache_still_gives_digests(tmp_path, monkeypatch, hashed):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("SAMCLI_HOME", str(blocker))
    path = write_old(tmp_path / "mine.pth", b"weights")
    assert cache.weights_digest(path) == hashlib.sha256(b"weights").hexdigest()
    assert cache.weights_digest(path) == hashlib.sha256(b"weights").hexdigest()
    assert len(hashed) == 2


def test_no_home_folder_still_gives_digests(tmp_path, monkeypatch, hashed):
    """``docker run --user 1000`` (no $HOME, no passwd entry): a --checkpoint file needs no
    cache folder; it is hashed at every use, as with an unwritable one."""
    from pathlib import Path

    def no_home(cls=None):
        raise RuntimeError("Could not determine home directory.")

    for name in ("SAMCLI_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Path, "home", classmethod(no_home))
    path = write_old(tmp_path / "mine.pth", b"weights")
    assert cache.recorded_digest(path) is None
    assert cache.weights_digest(path) == hashlib.sha256(b"weights").hexdigest()
    assert cache.weights_digest(path) == hashlib.sha256(b"weights").hexdigest()
    assert len(hashed) == 2


@pytest.mark.parametrize(
    "label, record",
    [
        ("not JSON", "{{{"),
        ("a list", "[]"),
        ("another file's record", "other path"),
        ("a short digest", "short"),
    ],
)
def test_a_bad_record_is_ignored(home, tmp_path, hashed, label, record):
    path = write_old(tmp_path / "mine.pth", b"weights")
    cache.weights_digest(path)
    (record_file,) = (home / cache.DIGESTS_DIR).iterdir()
    good = json.loads(record_file.read_text())
    if record == "other path":
        record = json.dumps({**good, "path": str(tmp_path / "else.pth")})
    elif record == "short":
        record = json.dumps({**good, "sha256": "abc"})
    record_file.write_text(record)
    assert cache.weights_digest(path) == hashlib.sha256(b"weights").hexdigest(), label
    assert len(hashed) == 2, label


def test_a_symlink_shares_its_targets_digest(home, tmp_path, hashed):
    path = write_old(tmp_path / "real.pth", b"weights")
    link = tmp_path / "link.pth"
    link.symlink_to(path)
    assert cache.weights_digest(link) == cache.weights_digest(path)
    assert len(hashed) == 1


@pytest.mark.parametrize(
    "label, make, expected",
    [
        ("missing", lambda p: None, "does not exist"),
        ("a folder", lambda p: p.mkdir(), "is a folder"),
    ],
)
def test_weights_digest_of_no_file(home, tmp_path, label, make, expected):
    path = tmp_path / "weights.pth"
    make(path)
    with pytest.raises(CheckpointError, match=expected):
        cache.weights_digest(path)
