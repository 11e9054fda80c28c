"""``samcli models ...`` through the real Typer app (no network: a local HTTP server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from samcli.cli import get_app
from samcli.commands._common import guarded
from samcli.model import checkpoint, loading
from tests.model.fakes import (  # noqa: F401  (server and home are fixtures)
    home,
    register_tiny,
    server,
    sized,
    state_bytes,
    tiny_state,
    write_old,
)


def run(*args: str):
    return CliRunner().invoke(get_app(), list(args))


def one_paragraph_error(result) -> str:
    """The stderr of a failed command ends with one ``Error: ...`` line; no traceback."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("Error:")] == lines[-1:], result.stderr
    return lines[-1]


def test_help():
    result = run("--help")
    assert result.exit_code == 0
    assert "models" in result.stdout
    result = run("models", "--help")
    assert result.exit_code == 0
    for command in ("list", "download", "path"):
        assert command in result.stdout


def test_list(home):
    result = run("models", "list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "CACHED", "PATH"]
    for name in ("vit_b", "vit_l", "vit_h", "mobile_sam", "sam2.1_hiera_tiny",
                 "sam2.1_hiera_base_plus", "sam2_hiera_large"):
        assert any(line.split()[0] == name for line in lines[1:])
    assert str(home / "sam_vit_h_4b8939.pth") in result.stdout
    assert str(home / "sam2.1_hiera_small.pt") in result.stdout
    assert result.stderr == ""


def test_list_json_reports_cached(home):
    sized(home / "mobile_sam.pt", 40_728_226)  # the official size (SHA-256 not checked yet)
    (home / "sam_vit_l_0b3195.pth").write_bytes(b"weights")  # not the official file
    result = run("models", "list", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert list(rows) == ["vit_b", "vit_l", "vit_h", "mobile_sam"] + [
        f"{prefix}_hiera_{size}" for prefix in ("sam2.1", "sam2")
        for size in ("tiny", "small", "base_plus", "large")]
    assert rows["sam2.1_hiera_large"]["url"] == (
        "https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_large.pt")
    assert rows["sam2.1_hiera_large"]["size_bytes"] == 898_083_611
    assert rows["sam2_hiera_tiny"]["path"] == str(home / "sam2_hiera_tiny.pt")
    assert rows["mobile_sam"]["cached"] is True
    assert rows["mobile_sam"]["status"] == "cached"
    assert rows["mobile_sam"]["verified"] is False
    assert rows["vit_b"]["cached"] is False and rows["vit_b"]["status"] == "missing"
    assert rows["vit_l"]["cached"] is False and rows["vit_l"]["status"] == "wrong size"
    assert rows["vit_b"]["path"] == str(home / "sam_vit_b_01ec64.pth")
    assert rows["vit_b"]["size_bytes"] == 375_042_383
    assert rows["vit_b"]["url"].endswith("/sam_vit_b_01ec64.pth")
    assert list(rows["vit_b"]) == [
        "name", "filename", "url", "size_bytes", "sha256", "cached", "path", "description",
        "status", "verified",
    ]


def test_list_never_says_cached_for_a_damaged_file(home):
    sized(home / "mobile_sam.pt", 40_728_226)
    (home / "sam_vit_l_0b3195.pth").write_bytes(b"weights")
    result = run("models", "list")
    assert result.exit_code == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "  no  " in lines["vit_b"]
    assert "  damaged (size)  " in lines["vit_l"]
    assert "  yes  " in lines["mobile_sam"]


@pytest.mark.parametrize("command", [("list",), ("path", "vit_b"), ("path", "vit_b", "--check")])
def test_a_cache_folder_that_is_a_file_is_warned_about(home, command):
    """The paths are printed as ever (they say where weights go), but not as if they could
    be used: one Warning line (stderr) says downloads will fail there."""
    home.parent.mkdir(parents=True, exist_ok=True)
    home.write_text("not a folder")
    result = run("models", *command)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [f"Warning: the model cache folder {home} is not a folder: downloads "
                        "will fail there. Set SAMCLI_HOME to a folder."], result.stderr
    assert result.exit_code == (1 if "--check" in command else 0)


@pytest.mark.parametrize("command", [("list",), ("path", "vit_b")])
def test_a_cache_folder_under_a_file_is_warned_about(home, command, monkeypatch):
    """SAMCLI_HOME=/some/file/sub: the folder cannot be made, which the file above it says."""
    home.parent.mkdir(parents=True, exist_ok=True)
    home.write_text("not a folder")
    monkeypatch.setenv("SAMCLI_HOME", str(home / "sub"))
    result = run("models", *command)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [f"Warning: the model cache folder {home / 'sub'} cannot be made: {home} "
                        "is not a folder, so downloads will fail there. Set SAMCLI_HOME to a "
                        "folder."], result.stderr
    assert result.exit_code == 0


def test_path_check_names_a_folder_in_the_way(home):
    """Not "not in the cache; download it": the download would fail on the folder too."""
    (home / "sam_vit_l_0b3195.pth").mkdir(parents=True)
    result = run("models", "path", "vit_l", "--check")
    assert result.exit_code == 1 and result.stdout == ""
    assert one_paragraph_error(result) == (
        f"Error: {home / 'sam_vit_l_0b3195.pth'} is in the cache but is not a file (a folder); "
        "remove it, then run `samcli models download vit_l`.")


def test_path(home):
    result = run("models", "path", "vit_l")
    assert result.exit_code == 0
    assert result.stdout == f"{home / 'sam_vit_l_0b3195.pth'}\n"

    result = run("models", "path", "vit_l", "--check")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "samcli models download vit_l" in one_paragraph_error(result)

    home.mkdir()
    (home / "sam_vit_l_0b3195.pth").write_bytes(b"weights")
    result = run("models", "path", "vit_l", "--check")
    assert result.exit_code == 1
    assert result.stdout == ""
    message = one_paragraph_error(result)
    assert "damaged (wrong size)" in message
    assert "samcli models download vit_l --force" in message

    sized(home / "sam_vit_l_0b3195.pth", 1_249_524_607)
    result = run("models", "path", "vit_l", "--check")
    assert result.exit_code == 0
    assert result.stdout == f"{home / 'sam_vit_l_0b3195.pth'}\n"

    # without --check the path is printed whatever is there
    result = run("models", "path", "vit_l")
    assert result.exit_code == 0


def test_unknown_model_is_a_usage_error(home):
    result = run("models", "path", "bogus")
    assert result.exit_code == 2
    assert result.stdout == ""
    message = one_paragraph_error(result)
    assert "bogus" in message
    for name in ("vit_b", "vit_l", "vit_h", "mobile_sam"):
        assert name in message


def test_download(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    url = server.add("/cli/tiny.pth", body)
    register_tiny(monkeypatch, url, body)
    result = run("models", "download", "tiny")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{home / 'tiny.pth'}\n"  # only the path on stdout
    assert f"Downloading tiny weights from {url}" in result.stderr
    assert (home / "tiny.pth").read_bytes() == body

    # cached: no network needed, same path printed
    register_tiny(monkeypatch, "http://127.0.0.1:9/unreachable.pth", body)
    result = run("models", "download", "tiny")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{home / 'tiny.pth'}\n"
    assert "already cached" in result.stderr

    # --force downloads again (and fails here: the server is unreachable), keeping the file
    result = run("models", "download", "tiny", "--force")
    assert result.exit_code == 1
    assert (home / "tiny.pth").read_bytes() == body


@pytest.mark.parametrize(
    "label, content",
    [("wrong size", b"swapped"), ("same size, other bytes", "flip")],
)
def test_download_replaces_a_damaged_cached_file(server, home, monkeypatch, label, content):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add(f"/repair/{len(label)}/tiny.pth", body), body)
    if content == "flip":
        content = bytes([body[0] ^ 1]) + body[1:]
    write_old(home / "tiny.pth", content)
    result = run("models", "download", "tiny")  # no --force needed
    assert result.exit_code == 0, result.stderr
    assert "is not the official tiny file; downloading it again" in result.stderr, label
    assert "already cached" not in result.stderr
    assert result.stdout == f"{home / 'tiny.pth'}\n"
    assert (home / "tiny.pth").read_bytes() == body


def test_download_checks_a_hand_placed_file_once(home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, "http://127.0.0.1:9/unreachable.pth", body)
    write_old(home / "tiny.pth", body)  # fetched by hand, never hashed
    result = run("models", "download", "tiny")
    assert result.exit_code == 0, result.stderr
    assert "Checking the SHA-256" in result.stderr and "already cached" in result.stderr
    result = run("models", "download", "tiny")
    assert result.exit_code == 0, result.stderr
    assert "Checking the SHA-256" not in result.stderr and "already cached" in result.stderr


def test_download_without_network(home, monkeypatch):
    url = "http://127.0.0.1:9/tiny.pth"  # discard port: connection refused
    register_tiny(monkeypatch, url)
    result = run("models", "download", "tiny")
    assert result.exit_code == 1
    assert result.stdout == ""
    message = one_paragraph_error(result)
    assert message.startswith(f"Error: could not download tiny weights from {url} (")
    assert f"put it at {home / 'tiny.pth'}" in message
    assert not (home / "tiny.pth").exists()


def test_download_of_a_corrupt_file(server, home, monkeypatch):
    body = state_bytes(tiny_state())
    register_tiny(monkeypatch, server.add("/corrupt/tiny.pth", body[:-100]), body[:-100],
                  sha256=None)
    result = run("models", "download", "tiny")
    assert result.exit_code == 1
    message = one_paragraph_error(result)
    assert "is not a PyTorch checkpoint or is truncated" in message
    assert list(home.iterdir()) == []


def test_download_checks_every_name_first(home):
    result = run("models", "download", "vit_b", "nope")
    assert result.exit_code == 2
    assert "nope" in one_paragraph_error(result)
    assert not home.exists()


@pytest.fixture
def load_app(monkeypatch) -> typer.Typer:
    """A one-command app that loads a checkpoint through the shared error boundary."""
    monkeypatch.setattr(checkpoint, "make_model",
                        lambda name, skip_init=False: torch.nn.Linear(4, 3))
    app = typer.Typer()

    @app.command()
    @guarded
    def load(checkpoint: Path, model: str = "vit_b") -> None:
        loading.load_model(model, checkpoint)
        print("loaded")

    return app


def test_corrupt_checkpoint_exits_1_with_one_paragraph(load_app, tmp_path):
    good = tmp_path / "good.pth"
    torch.save(torch.nn.Linear(4, 3).state_dict(), good)
    result = CliRunner().invoke(load_app, [str(good)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "loaded\n"

    bad = tmp_path / "bad.pth"
    bad.write_bytes(good.read_bytes()[:50])
    result = CliRunner().invoke(load_app, [str(bad)])
    assert result.exit_code == 1
    message = one_paragraph_error(result)
    assert str(bad) in message and "is not a PyTorch checkpoint or is truncated" in message

    other = tmp_path / "other.pth"
    torch.save(torch.nn.Linear(4, 5).state_dict(), other)
    result = CliRunner().invoke(load_app, [str(other)])
    assert result.exit_code == 1
    assert "2 tensors have the wrong shape" in one_paragraph_error(result)


@pytest.mark.parametrize("terminal", [True, False])
def test_download_progress_reports_on_stderr_only(monkeypatch, terminal, capsys):
    import io

    from rich.console import Console

    from samcli import console as console_mod

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=100, highlight=False)
    monkeypatch.setattr(console_mod, "stderr_console", lambda: console)
    with console_mod.download_progress("tiny weights") as callback:
        for done in (0, 500_000, 1_000_000):
            callback(done, 1_000_000)
    assert buffer.getvalue().count("Downloading tiny weights (1.0 MB)") == 1
    assert capsys.readouterr().out == ""
    with console_mod.download_progress(enabled=False) as callback:
        assert callback is None


@pytest.mark.parametrize("label, total, calls, lines", [
    ("a tenth each", 1_000_000, list(range(0, 1_000_001, 50_000)),
     [f"  {p}% ({p * 10}.0 kB of 1.0 MB)" for p in range(10, 100, 10)]),
    ("chunks larger than a tenth", 1_000_000, [0, 350_000, 700_000, 1_000_000],
     ["  35% (350.0 kB of 1.0 MB)", "  70% (700.0 kB of 1.0 MB)"]),
    ("size unknown: each 256 MiB", None, [0, 200 << 20, 300 << 20, 600 << 20],
     ["  (314.6 MB of ?)", "  (629.1 MB of ?)"]),
])
def test_download_progress_in_a_log_says_it_is_alive(monkeypatch, label, total, calls, lines):
    """Not a terminal (CI logs): the start line, then one line each tenth of the file."""
    import io

    from rich.console import Console

    from samcli import console as console_mod

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=100, highlight=False)
    monkeypatch.setattr(console_mod, "stderr_console", lambda: console)
    with console_mod.download_progress("w") as callback:
        for done in calls:
            callback(done, total)
    got = buffer.getvalue().splitlines()
    assert got[0].startswith("Downloading w (") and got[1:] == lines, label


def test_download_of_several_goes_on_after_one_fails(server, home, monkeypatch):
    """The first model's server is unreachable: it is reported, the second is still fetched
    (its path on stdout), and the command fails at the end."""
    import dataclasses

    from samcli.model import specs

    body = state_bytes(tiny_state())
    first = register_tiny(monkeypatch, "http://127.0.0.1:9/unreachable.pth", body)
    second = dataclasses.replace(first, name="tiny2", filename="tiny2.pth",
                                 url=server.add("/several/tiny2.pth", body))
    monkeypatch.setitem(specs.MODELS, "tiny2", second)
    result = run("models", "download", "tiny", "tiny2")
    assert result.exit_code == 1
    assert result.stdout == f"{home / 'tiny2.pth'}\n"
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2 and "could not download tiny weights" in errors[0]
    assert errors[1] == "Error: 1 of 2 models could not be downloaded (see above)"
    assert (home / "tiny2.pth").read_bytes() == body and not (home / "tiny.pth").exists()
