"""The unit of work (samcli.jobs): one input to a writer-ready result, polygons only when a
writer reads them, and work objects that travel to other processes."""

from __future__ import annotations

import pickle

import pytest

from samcli.config import AutomaskConfig, FromBoxesConfig, ModelOptions, PolygonOptions
from samcli.io.inputs import InputItem
from samcli.jobs import AutomaskWork, FromBoxesWork, Render
from samcli.loader import ModelLoader
from tests.commands.conftest import FAST, invoke, write_image

CFG = AutomaskConfig(points_per_side=2, pred_iou_thresh=0, stability_score_thresh=0)


@pytest.fixture
def spy(monkeypatch):
    """Counts calls of the polygon builder the records use."""
    import samcli.io.records as records_module

    calls = []
    real = records_module.mask_to_geometry
    monkeypatch.setattr(records_module, "mask_to_geometry",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


@pytest.fixture
def loader(mobile_ckpt):
    return ModelLoader(ModelOptions(checkpoint=str(mobile_ckpt), device="cpu"))


def test_records_without_polygons_when_no_writer_reads_them(tmp_path, loader, spy):
    image = write_image(tmp_path / "a.png")
    item = InputItem(image, "a.png", tmp_path)
    bare = AutomaskWork(CFG, Render(polygon=None))(loader, item)
    assert bare.records and spy == []
    assert all("segmentation" not in r for r in bare.records)
    assert bare.rgb is None  # the pixels only when a writer asks (crops, previews)
    full = AutomaskWork(CFG, Render(PolygonOptions(simplify=0.0), keep_rgb=True))(loader, item)
    assert len(spy) == len(full.records)
    assert [{k: v for k, v in r.items() if k != "segmentation"} for r in full.records] \
        == bare.records
    assert full.rgb is not None


@pytest.mark.parametrize("label, fmt, extra, polygons", [
    ("coco with crops and a preview", "coco", ["--crops", "C", "--preview", "P"], False),
    ("yolo", "yolo", [], True),
])
def test_polygons_only_for_formats_that_write_them(tmp_path, mobile_ckpt, spy, label, fmt,
                                                   extra, polygons):
    image = write_image(tmp_path / "in" / "a.png")
    extra = [str(tmp_path / a) if a in ("C", "P") else a for a in extra]
    result = invoke("automask", image, "--checkpoint", mobile_ckpt, *FAST, "-o",
                    tmp_path / "out", "--format", fmt, *extra)
    assert result.exit_code == 0, (label, result.stderr)
    assert bool(spy) is polygons, label


@pytest.mark.parametrize("work", [
    AutomaskWork(CFG, Render(PolygonOptions(1.0, 8), keep_rgb=True), 1000),
    FromBoxesWork(FromBoxesConfig(multimask=True), Render(None), None, {"a.png": []}),
], ids=["automask", "from-boxes"])
def test_work_objects_travel(work):
    """Executors ship work objects to other processes (Ray actors): they pickle to equals."""
    assert pickle.loads(pickle.dumps(work)) == work


def test_from_boxes_warnings_travel_with_the_result(tmp_path, loader):
    """A clipped-away box and a box whose mask is empty are reported by the runner from the
    result, wherever the unit ran."""
    image = write_image(tmp_path / "images" / "a.png")
    labels = tmp_path / "labels" / "a.txt"
    labels.parent.mkdir()
    labels.write_text("0 1.5 1.5 0.2 0.2\n0 0.5 0.5 0.5 0.5\n")  # the first lies outside
    work = FromBoxesWork(FromBoxesConfig(multimask=True), Render(None))
    result = work(loader, InputItem(labels, "a.txt", labels.parent))
    assert result.source == image and result.image == "a.png"
    assert any("a.txt:1" in w for w in result.warnings), result.warnings
    assert [r["class"] for r in result.records] == [0]

