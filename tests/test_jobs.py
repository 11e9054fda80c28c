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



@pytest.mark.parametrize("label, min_area, max_area, warned", [
    ("50% of 48x64 (1536 px) above 100 px: nothing can pass", "50%", "100",
     ["--min-area 50% (1536 pixels here) is above --max-area 100 (100 pixels here): no mask "
      "of this 64x48 image is kept"]),
    ("1000 px above 10% (307.2 px)", "1000", "10%",
     ["--min-area 1000 (1000 pixels here) is above --max-area 10% (307.2 pixels here): no "
      "mask of this 64x48 image is kept"]),
    ("bounds in different units that both hold", "10", "50%", []),
])
def test_area_bounds_no_mask_of_the_image_can_meet_are_warned(tmp_path, loader, label,
                                                               min_area, max_area, warned):
    """Area bounds in different units are checked against each image's size (in one unit
    they are a configuration error before any work)."""
    item = InputItem(write_image(tmp_path / "a.png"), "a.png", tmp_path)
    cfg = AutomaskConfig(points_per_side=2, pred_iou_thresh=0, stability_score_thresh=0,
                         min_area=min_area, max_area=max_area)
    result = AutomaskWork(cfg, Render(polygon=None))(loader, item)
    assert result.warnings == [f"{item.path}: {w}" for w in warned], label
    if warned:
        assert result.records == [], label
