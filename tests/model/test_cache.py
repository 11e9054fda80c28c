"""The weight cache (samcli.model.cache): folder rules, where each model's file lives."""

from __future__ import annotations

from samcli.model import cache
from tests.model.fakes import home  # noqa: F401  (a fixture)


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


def test_cached_path_and_is_cached(home):
    path = cache.cached_path("vit_b")
    assert path == home / "sam_vit_b_01ec64.pth"
    assert not cache.is_cached("vit_b")
    home.mkdir()
    path.write_bytes(b"")
    assert not cache.is_cached("vit_b")  # an empty file is not a cached model
    path.write_bytes(b"x")
    assert cache.is_cached("vit_b")
