"""samcli.pipeline: the resume key of a run (what the manifest's hash covers)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from samcli.config import AutomaskConfig, OutputOptions
from samcli.pipeline import manifest_hash
from samcli.request import RunRequest

MODEL = SimpleNamespace(identity={"weights": "w", "precision": "float32"})


def _hash(**output) -> str:
    request = RunRequest("automask", ("in",), AutomaskConfig(),
                         output=OutputOptions(output="out", **output))
    return manifest_hash(request, MODEL)


@pytest.mark.parametrize("label, a, b, same", [
    ("chips asked for or not", {}, {"crops": "chips"}, False),
    ("chips in another folder", {"crops": "chips"}, {"crops": "chips2"}, False),
    ("the same folder spelled otherwise", {"crops": "chips"}, {"crops": "./x/../chips"}, True),
    ("previews in another folder", {"preview": "look"}, {"preview": "look2"}, False),
    ("previews or chips in the same folder", {"preview": "a"}, {"crops": "a"}, False),
    ("what goes to stderr changes nothing", {}, {"quiet": True}, True),
])
def test_output_folders_in_the_resume_key(tmp_path, monkeypatch, label, a, b, same):
    """Chips or previews asked for in another folder than the last run's redo the images
    (their files are not there); the same folder however spelled resumes."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()
    assert (_hash(**a) == _hash(**b)) is same, label


def test_a_ray_run_of_from_boxes_is_refused():
    """The command has no Ray options; a library request with them would have given the
    actors' records the label files' names (a.txt for a.jpg), silently."""
    from samcli.config import FromBoxesConfig, ScaleOptions
    from samcli.errors import ConfigError

    with pytest.raises(ConfigError, match="^Ray runs automask only"):
        RunRequest("from-boxes", ("labels",), FromBoxesConfig(), scale=ScaleOptions(ray=True))
