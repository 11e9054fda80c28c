"""``--format labelstudio``: Label Studio tasks with the proposals as predictions
(pre-annotations a person corrects), importable as they are.

Files (``-o DIR``)
------------------
``DIR/tasks.json``
    A JSON list of tasks, one per image in image-path order, for Label Studio's import (the
    project's *Import* button, or ``POST /api/projects/<id>/import``). A task is::

        {"data": {"image": "<image-root-url><image path, URL-quoted>"},
         "predictions": [{"model_version": "...", "score": <mean region score>,
                          "result": [<one region per proposal>]}]}

    A region: ``{"id", "type": "polygonlabels", "from_name": "label", "to_name": "image",
    "original_width", "original_height", "image_rotation": 0, "value": {"points": [[x, y],
    ...], "closed": true, "polygonlabels": [<name>]}, "score"}``, with ``points`` in percent
    of the image's width and height (Label Studio's unit; 4 decimals, 1/10000 of a percent),
    and ``id`` unique in the file (``<8 hex digits of the image path's SHA-1>-<record id>``:
    the same for the same image in every run). ``score`` is
    :func:`samcli.io.records.proposal_score` (``--score`` for from-boxes, SAM's quality for
    automask); the prediction's ``score`` (by which Label Studio's Data Manager sorts tasks)
    is the mean of its regions' scores, absent for an image without proposals.
``DIR/label_config.xml``
    The labeling configuration the tasks fit (an ``Image`` named ``image`` and
    ``PolygonLabels`` named ``label`` with one ``Label`` per category): paste it into the
    project's *Labeling Interface* (Code) before importing.

Labels
    A class name is the label as it is, in ``tasks.json`` and ``label_config.xml`` alike
    (tab, line feed and carriage return included: the config writes them as character
    references, which XML parsers keep). Characters XML 1.0 cannot hold (the other control
    characters, U+FFFE, U+FFFF, lone surrogates) are written as text, in both files
    (:func:`label_text`: ``car\\x01``, ``\\ufffe``, an undecodable byte as ``\\xNN``), so
    the config always parses and names every label the regions use.

Holes and parts
    Label Studio's polygons are single rings: they cannot hold a hole or a second part. A
    proposal with holes or several parts is one region whose ring joins them by zero-width
    bridges, exactly as for YOLO labels (:func:`samcli.geometry.geometry_to_yolo_ring`): the
    filled region is the mask (holes stay empty under the even-odd and non-zero fill rules,
    in Label Studio's canvas and in pycocotools when the task is exported to COCO), and the
    object stays one region to accept or correct. Editing near a bridge shows its two
    coincident edges.

Images
    ``data.image`` is ``image_root_url`` (``--image-root-url``) followed by the image's path
    relative to its input folder, quoted for a URL (``/`` kept). The default,
    ``/data/local-files/?d=``, is Label Studio's local-files route: start Label Studio with
    ``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
    ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` set to a folder above the images, add a
    *Local files* storage for the images' folder, and give the path from the document root
    to the input folder in the URL (``--image-root-url '/data/local-files/?d=photos/'``).
    Any other prefix works the same way: ``https://host/images/``, ``s3://bucket/images/``.

Resumable like COCO: each image's predictions are a part ``DIR/.samcli/labelstudio/
<image>.json``; :meth:`LabelStudioWriter.finish` builds the files from the parts of every
done image (and the image URLs then, so another ``--image-root-url`` redoes no image). A done
image whose part is missing or unreadable is left out with a ``Warning:`` line naming it, its
part and the fix (:func:`samcli.io.outputs.left_out_report`), as COCO's is.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote
from xml.sax.saxutils import escape

import numpy as np

from samcli.config import DEFAULT_IMAGE_ROOT_URL
from samcli.console import warn
from samcli.fs import atomic_write_files, atomic_write_text
from samcli.geometry import geometry_to_yolo_ring
from samcli.io.outputs import (STATE_DIR, Writer, names_with_earlier,
                               part_names, read_part, usable_parts, with_suffix)
from samcli.io.records import dumps, kept_indices, proposal_score
from samcli.results import ImageResult

TASKS_FILE = "tasks.json"
CONFIG_FILE = "label_config.xml"
FROM_NAME, TO_NAME = "label", "image"


class LabelStudioWriter(Writer):
    """Label Studio tasks with polygon predictions (see the module docstring).

    ``names``: ``{class id: name}`` for records with a ``class`` (from-boxes; ``str(id)``
    for ids without a name); records without one are ``default_name`` (automask: "object").
    Each part keeps its regions' class ids and their names, so the labels are given when the
    files are made: this run's names first, then those earlier runs' parts kept (runs over
    several folders into one output folder keep each folder's names; a renamed class is
    renamed in every task). ``label_config.xml`` lists those names and every label used.
    ``warn``: how :meth:`finish` says that a done image is left out (default: a ``Warning:``
    line on stderr).
    """

    needs_geometry = True

    def __init__(self, root: Path, names: Mapping[int, str] | None = None, score: str = "sam",
                 image_root_url: str = DEFAULT_IMAGE_ROOT_URL,
                 model_version: str = "samcli", default_name: str = "object",
                 warn: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        self._warn = warn
        self.names = {k: label_text(v) for k, v in (names or {}).items()}
        self.score = score
        proposal_score(score, 0.0, 0.0)  # an unknown mode fails now, not after the work
        self.image_root_url = image_root_url
        self.model_version = model_version
        self.default_name = label_text(default_name)

    def part_path(self, image: str) -> Path:
        return with_suffix(self.root / STATE_DIR / "labelstudio", image, ".json")

    def outputs_for(self, image: str) -> list[Path]:
        return [self.part_path(image)]

    def label_of(self, record: dict) -> str:
        cls = record.get("class")
        return self.default_name if cls is None else self.names.get(int(cls), str(cls))

    def write(self, result: ImageResult) -> list[Path]:
        self._claim(result.image)
        ms, w, h = result.masks, int(result.width), int(result.height)
        key = hashlib.sha1(result.image.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        regions, classes = [], []
        for rec, i in zip(result.records, kept_indices(ms)):
            points = _percent_ring(rec["segmentation"], w, h)
            if points is None:
                continue
            classes.append(None if rec.get("class") is None else int(rec["class"]))
            regions.append({
                "id": f"{key}-{rec['id']}",
                "type": "polygonlabels",
                "from_name": FROM_NAME,
                "to_name": TO_NAME,
                "original_width": w,
                "original_height": h,
                "image_rotation": 0,
                "value": {"points": points, "closed": True,
                          "polygonlabels": [self.label_of(rec)]},
                "score": proposal_score(self.score, ms.predicted_iou[i], ms.stability_score[i],
                                        rec.get("box_confidence")),
            })
        prediction: dict = {"model_version": self.model_version}
        if regions:
            prediction["score"] = round(float(np.mean([r["score"] for r in regions])), 6)
        prediction["result"] = regions
        # the URL is made at finish, and so are the class labels (from "classes", with the
        # names of this run, then those the parts kept: one name per class in every task)
        part = {"image": result.image, "predictions": [prediction], "classes": classes,
                "names": part_names(self.names, (c for c in classes if c is not None))}
        return [atomic_write_text(self.part_path(result.image), dumps(part))]

    def image_url(self, image: str) -> str:
        return self.image_root_url + quote(image.encode("utf-8", "surrogateescape"), safe="/")

    def files_present(self, image: str, proposals: int) -> bool:
        """Whether ``image``'s part is there and can be read back (a part emptied or cut
        short since: the image is redone, not left out of ``tasks.json``)."""
        return read_part(self.part_path(image), self._check_part)[1] is None

    def _check_part(self, part: Any) -> None:
        names = part.get("names") or {}
        if not isinstance(names, dict) or not all(isinstance(n, str) for n in names.values()):
            raise TypeError("'names' is not an object of names")
        for cid in names:
            int(cid)
        self._task(part, {}, {})

    def _task(self, part: Any, names: Mapping[int, str], labels: dict[str, None]) -> dict:
        """The task of one image's part, its regions labelled by ``names`` (the class ids'
        names; ``str(id)`` for an id without one), adding the labels its regions use to
        ``labels``; raises one of :data:`~samcli.io.outputs.PART_SHAPE_ERRORS` for a part
        that is not of the shape :meth:`write` gives."""
        regions = part["predictions"][0]["result"]
        for region, cid in zip(regions, part.get("classes") or []):
            if cid is not None:
                region["value"]["polygonlabels"] = [names.get(int(cid), str(cid))]
        for region in regions:
            value = region["value"]
            value["polygonlabels"] = [label_text(n) for n in value["polygonlabels"]]
            labels.update(dict.fromkeys(value["polygonlabels"]))
        return {"data": {"image": self.image_url(part["image"])},
                "predictions": part["predictions"]}

    def finish(self, done_images: Iterable[str]) -> list[Path]:
        parts, self.left_out = usable_parts(
            done_images, self.part_path, self._check_part, f"{TASKS_FILE} and {CONFIG_FILE}",
            self.root / STATE_DIR / "labelstudio", self._warn or warn)
        names = names_with_earlier(self.names, (p.get("names") or {} for p in parts))
        names = {k: label_text(v) for k, v in names.items()}  # parts of earlier versions
        labels = dict.fromkeys(names.values())
        tasks = [self._task(part, names, labels) for part in parts]
        text = "[" + ",\n".join(dumps(t) for t in tasks) + "]\n"
        return atomic_write_files([  # (together: the config names the tasks' labels)
            (self.root / TASKS_FILE, text.encode("utf-8")),
            (self.root / CONFIG_FILE, label_config(list(labels)).encode("utf-8"))])


def label_config(labels: list[str]) -> str:
    """The labeling configuration for the tasks: an image and polygon labels, one ``Label``
    per distinct :func:`label_text` of ``labels``. The file is well-formed XML 1.0 and an XML
    parser reads each ``value`` back as that label (tab, LF and CR as character references,
    which attribute-value normalization keeps)."""
    lines = ["<View>", f'  <Image name="{TO_NAME}" value="$image" zoom="true"/>',
             f'  <PolygonLabels name="{FROM_NAME}" toName="{TO_NAME}" strokeWidth="2" '
             'opacity="0.4">']
    lines += [f'    <Label value="{escape(name, _ATTRIBUTE)}"/>'
              for name in dict.fromkeys(map(label_text, labels))]
    lines += ["  </PolygonLabels>", "</View>"]
    return "\n".join(lines) + "\n"


#: Beyond ``& < >``: what an attribute value in double quotes must escape to read back as is
_ATTRIBUTE = {'"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
#: Characters XML 1.0 cannot hold, even as character references
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _spelling(match: re.Match) -> str:
    o = ord(match.group())
    if o < 0x20:
        return f"\\x{o:02x}"
    if 0xDC80 <= o <= 0xDCFF:  # an undecodable byte kept by surrogateescape, as text_of_path
        return f"\\x{o - 0xDC00:02x}"
    return f"\\u{o:04x}"


def label_text(name: str) -> str:
    """``name`` as a label both files can hold: characters XML 1.0 cannot hold (control
    characters but tab, LF and CR; U+FFFE, U+FFFF; lone surrogates) written as ``\\xNN``
    (an undecodable byte kept by surrogateescape as that byte, like
    :func:`samcli.fs.text_of_path`) or ``\\uXXXX``; any other name unchanged. Applying it
    again changes nothing."""
    return _NOT_XML.sub(_spelling, name)


def _percent_ring(geometry: dict, w: int, h: int) -> list[list[float]] | None:
    """One ring in percent of the image (4 decimals), consecutive repeats dropped; None when
    fewer than 3 distinct points are left."""
    ring = geometry_to_yolo_ring(geometry)
    if len(ring) < 3:
        return None
    xy = np.round(np.clip(ring / np.array([w, h]) * 100.0, 0.0, 100.0), 4)
    xy = xy[np.any(xy != np.roll(xy, 1, axis=0), axis=1)]
    if len(np.unique(xy, axis=0)) < 3:
        return None
    return xy.tolist()
