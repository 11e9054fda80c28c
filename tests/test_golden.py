"""Outputs are unchanged: every golden run (``tests/golden/cases.py``) gives what the code
before the 2026-12 restructuring gave, record for record and file for file.

Comparison is structural: the same keys, list lengths, strings and integers; floats within
1e-4. One allowance, for model arithmetic only: on another CPU (or with another kernel, such
as the channels-last convolutions of MobileSAM's encoder) the arithmetic rounds differently,
so a mask may gain or lose the odd pixel where its logit is within rounding of zero, or of
the stability score's thresholds -1 and +1. Per run, at most one proposal may differ that way
(its polygon, area and box, and its stability score by at most 0.01), and only if its
rasterised polygon still has IoU >= 0.99 with the recorded one; anything else that differs
is a failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samcli.pipeline import OUTPUT_REVISION
from tests.golden.cases import (CASES, EXPECTED, recorded_revision, run_case, write_checkpoint,
                                write_inputs)
from tests.golden.compare import differences

@pytest.fixture(scope="module")
def golden_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("golden")
    return write_inputs(root / "inputs"), write_checkpoint(root / "golden.pt")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_outputs_unchanged(case, golden_env, tmp_path):
    inputs, ckpt = golden_env
    got = run_case(case, inputs, ckpt, tmp_path)
    expected = json.loads((EXPECTED / f"{case.name}.json").read_text())
    diffs = differences(expected, got)
    assert not diffs, f"{case.name}: {len(diffs)} difference(s):\n" + "\n".join(diffs[:20])


def test_every_recording_has_a_case():
    names = {c.name for c in CASES}
    assert {p.stem for p in Path(EXPECTED).glob("*.json")} <= names


def test_recordings_are_of_this_output_revision():
    """The goldens were recorded at samcli's current output revision. Changing outputs makes
    the golden runs fail; recording them again (``python -m tests.golden.record``) refuses
    until ``samcli.pipeline.OUTPUT_REVISION`` is raised, so that folders begun with the old
    outputs are redone on resume, not mixed with the new ones; raising it alone fails here
    until the goldens are recorded at it."""
    assert recorded_revision() == OUTPUT_REVISION, (
        f"samcli.pipeline.OUTPUT_REVISION is {OUTPUT_REVISION} but the goldens were recorded "
        f"at {recorded_revision()}: record them again (python -m tests.golden.record)")


@pytest.mark.parametrize("label,revision,outputs,written", [
    ("same outputs", 2, 5, True),
    ("changed outputs, same revision", 2, 6, False),
    ("changed outputs, revision raised", 3, 6, True),
])
def test_recording_changed_outputs_needs_a_raised_revision(tmp_path, monkeypatch, capsys,
                                                           label, revision, outputs, written):
    from tests.golden import cases, record

    expected = tmp_path / "expected"
    expected.mkdir()
    (expected / "one.json").write_text(json.dumps(_run(5)))
    (expected / "output_revision.txt").write_text("2\n")
    monkeypatch.setattr(record, "EXPECTED", expected)
    monkeypatch.setattr(record, "REVISION_FILE", expected / "output_revision.txt")
    monkeypatch.setattr(cases, "REVISION_FILE", expected / "output_revision.txt")
    monkeypatch.setattr(record, "CASES", [cases.Case("one", ())])
    monkeypatch.setattr(record, "write_inputs", lambda p: p)
    monkeypatch.setattr(record, "write_checkpoint", lambda p: p)
    monkeypatch.setattr(record, "run_case", lambda *a: _run(outputs))
    monkeypatch.setattr(record, "OUTPUT_REVISION", revision)
    assert record.main([]) == (0 if written else 1)
    assert json.loads((expected / "one.json").read_text()) == _run(outputs if written else 5)
    assert (expected / "output_revision.txt").read_text() == f"{revision if written else 2}\n"
    if not written:
        assert "raise samcli.pipeline.OUTPUT_REVISION above 2" in capsys.readouterr().err


def _run(n: int) -> dict:
    return {"exit_code": 0, "stdout": [{"n": n}], "files": {}}


def _proposal(**changes) -> dict:
    square = [[[10, 10], [90, 10], [90, 70], [10, 70], [10, 10]]]
    record = {"id": 0, "segmentation": {"type": "Polygon", "coordinates": square},
              "area": 4800, "bbox": [10, 10, 80, 60], "predicted_iou": 0.9,
              "stability_score": 0.947393, "width": 100, "height": 80}
    return {**record, **changes}


# a corner moved by a pixel: 30 pixels of 4800 (raster IoU 0.994)
_MOVED = _proposal(segmentation={"type": "Polygon",
                                 "coordinates": [[[10, 10], [90, 10], [90, 70], [11, 70],
                                                  [10, 10]]]})


@pytest.mark.parametrize("label, got, n_diffs", [
    ("equal", [_proposal(), _proposal()], 0),
    ("one stability score a few pixels off", [_proposal(stability_score=0.946956),
                                              _proposal()], 0),
    ("two of them: one allowance a run", [_proposal(stability_score=0.946956),
                                          _proposal(stability_score=0.946956)], 1),
    ("a stability score far off", [_proposal(stability_score=0.9), _proposal()], 1),
    ("a predicted IoU off", [_proposal(predicted_iou=0.91), _proposal()], 1),
    ("one polygon a few pixels off, its area not", [_MOVED, _proposal()], 0),
    ("a COCO annotation's polygon cannot be rasterised: no allowance",
     [{k: v for k, v in _MOVED.items() if k not in ("width", "height")},
      {k: v for k, v in _proposal().items() if k not in ("width", "height")}], 1),
])
def test_the_one_allowance_of_the_comparison(label, got, n_diffs):
    expected = [_proposal(), _proposal()]
    if "COCO" in label:
        expected = [{k: v for k, v in e.items() if k not in ("width", "height")}
                    for e in expected]
    assert len(differences(expected, got)) == n_diffs, label
