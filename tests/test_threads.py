"""The model runs with a fixed torch thread count (samcli.threads): records do not depend on
the machine's cores, on what the process set before, or on where the work runs."""

from __future__ import annotations

import pytest
import torch

import samcli.threads
from samcli.threads import DEFAULT_THREADS, ENV, model_threads, usable_cores
from tests.commands.conftest import error_lines, invoke, write_image

# Enough points that 1 and 3 torch threads give different records without the fix
ARGS = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
        "-q"]


@pytest.fixture()
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_records_do_not_depend_on_the_process_thread_count(tmp_path, mobile_ckpt,
                                                           restore_threads, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    # Two images whose records differ between 1, 2 and 3 threads without the fix (a third,
    # 120 x 160, gave the same records at every count: it only cost time)
    for i, (h, w) in ((0, (48, 64)), (2, (64, 48))):
        write_image(tmp_path / "in" / f"d{i % 2}" / f"{i}.png", h=h, w=w, seed=i)
    outputs = []
    for threads in (1, 3):
        torch.set_num_threads(threads)  # what a caller, or torch's default, had set
        result = invoke("automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *ARGS)
        assert result.exit_code == 0, result.stderr
        assert torch.get_num_threads() == min(DEFAULT_THREADS, usable_cores())
        outputs.append(result.stdout)
    assert outputs[0] and outputs[0] == outputs[1]


def test_samcli_threads_sets_the_count(monkeypatch):
    monkeypatch.setenv(ENV, " 2 ")
    assert model_threads() == 2
    monkeypatch.delenv(ENV)
    assert model_threads() == min(DEFAULT_THREADS, usable_cores())


@pytest.mark.parametrize("cores, expected", [(1, 1), (2, 2), (4, 4), (64, DEFAULT_THREADS)])
def test_the_default_never_exceeds_the_usable_cores(monkeypatch, cores, expected):
    """More threads than cores spin-wait (vit_b's encoder: 10x slower at 4 threads on 2)."""
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(samcli.threads, "usable_cores", lambda: cores)
    assert model_threads() == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "99999", "٣"])
def test_bad_samcli_threads_is_one_error_line(value, tmp_path, mobile_ckpt, monkeypatch):
    monkeypatch.setenv(ENV, value)
    write_image(tmp_path / "a.png")
    result = invoke("automask", tmp_path / "a.png", "--checkpoint", mobile_ckpt, *ARGS)
    assert result.exit_code == 1 and result.stdout == ""
    (line,) = error_lines(result.stderr)
    assert ENV in line and "Traceback" not in result.stderr


def test_help_states_the_thread_count():
    """--help says how many threads a CPU run uses and how to change it (samcli.config may
    import nothing but samcli.errors, so the number is written there: keep them equal)."""
    import re

    from tests.commands.test_help import _help

    text = re.sub(r"[\s│]+", " ", _help(["automask"]))
    assert (f"On the CPU the model runs {DEFAULT_THREADS} torch threads (fewer on a machine "
            "with fewer cores)") in text
    assert f"one per {DEFAULT_THREADS} CPUs of each node (${ENV} when set)" in text
    assert f"${ENV}=N sets another count" in text
