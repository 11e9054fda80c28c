"""samcli.lock: one run per output folder, and the probe a refused run makes first."""

import contextlib
import json
import os

import pytest

from samcli.errors import ConfigError
from samcli.lock import OutputLock


def test_a_second_lock_names_the_holder_and_the_first_is_released_at_exit(tmp_path):
    with OutputLock(tmp_path) as first:
        held = json.loads(first.path.read_text())
        assert held["pid"] == os.getpid()
        with pytest.raises(ConfigError, match=rf"^{tmp_path} is in use by another samcli run "
                                              rf"\(pid {os.getpid()} on "):
            OutputLock(tmp_path).__enter__()
    assert first.path.read_text() == ""  # emptied: no holder
    with OutputLock(tmp_path):
        pass


@pytest.mark.parametrize("label, state, refused", [
    ("a folder not there", "none", False),
    ("a folder never locked", "folder", False),
    ("a lock file no run holds", "free", False),
    ("a lock held by a run", "held", True),
])
def test_check_free_refuses_only_a_held_lock_and_touches_nothing(tmp_path, label, state,
                                                                 refused):
    folder = tmp_path / "out"
    if state != "none":
        folder.mkdir()
    if state in ("free", "held"):
        with OutputLock(folder):
            pass
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    probe = OutputLock(folder)
    with contextlib.ExitStack() as held:
        if state == "held":
            held.enter_context(OutputLock(folder))
        if refused:
            with pytest.raises(ConfigError, match="is in use by another samcli run"):
                probe.check_free()
        else:
            probe.check_free()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, label
    with OutputLock(folder):  # the probe left no lock behind
        pass
