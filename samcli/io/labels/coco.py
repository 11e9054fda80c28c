"""COCO detection results, image maps, and the image files of COCO image ids.

COCO detection results (:func:`parse_coco_dets`)
    The results format: a JSON list of ``{"image_id", "category_id", "bbox": [x, y, w, h],
    "score"}`` in pixels (extra keys ignored; ``score`` optional). A ground-truth style
    object with an ``annotations`` list is accepted too. Rules (each break is an
    :class:`InputError` ``"<file>: entry <i>: ..."`` naming the value):

    - ``image_id``: an integer from 0 to :data:`MAX_IMAGE_ID` (2^63 - 1, int64) or a
      non-empty string; not true/false, null, 1.5, -1, lists or objects. ``1.0`` is read as
      1. An integer written as a string (``"139"``) is the same image as ``139``
      (:func:`image_id_key`; ``"0139"`` is not): detections of both spellings form one group,
      keyed by the first spelling seen, and each :class:`CocoDet` keeps its own.
    - ``category_id``: an integer from 0 to :data:`MAX_CLASS_ID` (2^31 - 1), as YOLO classes.
    - ``bbox``: exactly 4 finite numbers. Negative or zero sizes and boxes outside the image
      are not errors here; :func:`coco_dets_to_xyxy` clips them and drops empty and sub-pixel
      ones (under 1 px wide or high after clipping) with a warning naming the entry.
    - ``score``: a finite number in [0, 1] when present.
    - The file: JSON (``NaN``/``Infinity`` parse but fail the checks above); not JSON, not a
      list (or object with ``annotations``), nested too deeply, or an object with a repeated
      key (JSON readers keep the last one silently; here it is an error naming the object,
      e.g. ``[3]``) is an error naming the file, and for bad syntax ``file:line`` and the
      column.

Image maps (:func:`read_image_map`, :func:`load_image_map`, :func:`load_coco_images`,
:func:`load_coco_categories`)
    ``--image-map`` is a COCO ground-truth file (its ``images`` list of ``{"id",
    "file_name", "width", "height"}``, ids as for detections, each id once, also counting
    ``1`` and ``"1"`` as one; and optionally ``categories`` ``{"id", "name"}``, ids as for
    ``category_id``, the names kept for outputs), or a plain JSON object
    ``{"<image_id>": "<file name>"}`` (ids are then strings; no sizes, no categories). Ids
    are kept as written, so outputs can reuse the ground truth's image and category ids.

Finding the images of COCO ids (:func:`resolve_coco_images`)
    From ``--images DIR`` plus the image map, or, with no map, the id itself as the file stem
    (``DIR/139.jpg``, then COCO's zero-padded ``DIR/000000000139.jpg`` for integer ids,
    including ones written as strings). An id with no map entry or no file is a problem
    (reported; exit 3). Several ids naming ONE file (two ``images`` entries with one
    ``file_name``, ``"a.jpg"`` and ``"./a.jpg"``, ``139`` and ``"000000000139"`` without a
    map) are reported together as one problem and none of their boxes are used: outputs keep
    the input's image ids, and one image cannot carry two, so merging them would silently
    renumber some boxes, and keeping the last id (the old behaviour) silently dropped the
    others'. Fix the input (one id per file) to use them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from samcli.errors import InputError
from samcli.io.inputs import InputItem, Problem
from samcli.io.labels.jsonio import (_is_number, _json_type, _json_uint, _load_json, _show,
                                     _valid_text)
from samcli.io.labels.lookup import _first_existing
from samcli.io.labels.numbers import _CANONICAL_INT, MAX_CLASS_ID
from samcli.io.labels.text import _is_file, _tok
from samcli.io.labels.yolo import MIN_BOX_SIZE, PixelBoxes, clip_boxes

ImageId = Union[int, str]

#: Largest integer image id (int64 max): exact in numpy int64 arrays and pycocotools.
MAX_IMAGE_ID = 2**63 - 1


@dataclass(frozen=True)
class CocoDet:
    """One COCO detection: ``bbox`` is ``(x, y, w, h)`` in pixels; ``index`` its list position.

    ``image_id`` is the id as written in the file (an int stays an int, a string a string),
    also when :func:`parse_coco_dets` grouped it with another spelling of the same id.
    """

    image_id: ImageId
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float | None
    index: int

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        x, y, w, h = self.bbox
        return (x, y, x + w, y + h)


def _image_id(v: Any, where: str, key: str = "image_id") -> ImageId:
    if isinstance(v, str):
        if v != "" and _valid_text(v):
            return v
    elif not isinstance(v, bool) and v is not None:
        n = _json_uint(v, MAX_IMAGE_ID)
        if n is not None:
            return n
    raise InputError(
        f"{where}: {key} must be an integer from 0 to 2^63-1 or a non-empty string, "
        f"got {_show(v)}"
    )


def image_id_key(image_id: ImageId) -> ImageId:
    """The id COCO readers compare by: an integer written as a string (``"139"``) is the
    integer (``139``); other strings (``"0139"``, ``"a"``) and integers are themselves."""
    if isinstance(image_id, str) and len(image_id) <= 19 and _CANONICAL_INT.match(image_id):
        n = int(image_id)
        if n <= MAX_IMAGE_ID:
            return n
    return image_id


def _coco_entry(e: Any, i: int, path: Path) -> CocoDet:
    where = f"{path}: entry {i}"
    if not isinstance(e, dict):
        raise InputError(f"{where}: expected an object, got {_json_type(e)}")
    for key in ("image_id", "category_id", "bbox"):
        if key not in e:
            raise InputError(f"{where}: missing {key!r}")
    image_id = _image_id(e["image_id"], where)
    cat = _json_uint(e["category_id"], MAX_CLASS_ID)
    if cat is None:
        raise InputError(f"{where}: category_id must be an integer from 0 to {MAX_CLASS_ID}, "
                         f"got {_show(e['category_id'])}")
    bbox = e["bbox"]
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or not all(_is_number(v) and math.isfinite(v) for v in bbox)
    ):
        raise InputError(f"{where}: bbox must be [x, y, width, height] (4 finite numbers), "
                         f"got {_show(bbox)}")
    score = e.get("score")
    if score is not None:
        if not _is_number(score) or not math.isfinite(score):
            raise InputError(f"{where}: score must be a finite number, got {_show(score)}")
        if not 0.0 <= score <= 1.0:
            raise InputError(f"{where}: score {_show(score)} is outside [0, 1]")
    return CocoDet(
        image_id=image_id,
        category_id=cat,
        bbox=tuple(float(v) for v in bbox),  # type: ignore[arg-type]
        score=None if score is None else float(score) + 0.0,
        index=i,
    )


def parse_coco_dets(path: Path | str) -> dict[ImageId, list[CocoDet]]:
    """COCO detection results grouped by image id (ids in first-seen order, entries in file
    order). Spellings of one id (``1`` and ``"1"``, see :func:`image_id_key`) form one group,
    keyed by the first spelling seen. A bad entry raises :class:`InputError`
    ``"<file>: entry <i>: ..."`` (``i`` counts from 0, the list index)."""
    path = Path(path)
    data = _load_json(path)
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        entries = data["annotations"]
    elif isinstance(data, list):
        entries = data
    else:
        raise InputError(
            f"{path}: expected a JSON list of detections "
            "({'image_id', 'category_id', 'bbox', 'score'}) or an object with an "
            f"'annotations' list, got {_json_type(data)}"
        )
    out: dict[ImageId, list[CocoDet]] = {}
    first: dict[ImageId, ImageId] = {}
    for i, e in enumerate(entries):
        det = _coco_entry(e, i, path)
        group = first.setdefault(image_id_key(det.image_id), det.image_id)
        out.setdefault(group, []).append(det)
    return out


def coco_dets_to_xyxy(
    dets: Sequence[CocoDet], width: int, height: int, *, source: Path | str | None = None,
    min_size: float = MIN_BOX_SIZE,
) -> PixelBoxes:
    """COCO ``[x, y, w, h]`` boxes -> clipped pixel ``xyxy`` (see :func:`clip_boxes`)."""
    xyxy = np.array([d.xyxy for d in dets], dtype=np.float64).reshape(-1, 4)
    prefix = f"{source}: " if source is not None else ""
    names = [f"{prefix}entry {d.index}" for d in dets]
    return clip_boxes(xyxy, width, height, names=names, min_size=min_size)


# --------------------------------------------------------------------------- image maps


@dataclass(frozen=True)
class CocoImage:
    """One image of an image map: a COCO ground-truth ``images`` entry, or one pair of a
    plain ``{"<id>": "<file name>"}`` map (whose ids are strings, JSON keys being strings).

    ``id`` as written (int or str); ``width``/``height`` as written, ``None`` when absent;
    ``index`` the entry's position in ``images`` (or among the plain map's keys).
    """

    id: ImageId
    file_name: str
    width: int | None = None
    height: int | None = None
    index: int = 0


@dataclass(frozen=True)
class ImageMap:
    """An ``--image-map`` file read once (:func:`read_image_map`).

    ``images``: its entries in file order. ``categories``: ``{id: name}`` from a COCO file's
    ``categories`` list (empty for a plain map or a file without one). ``is_coco``: whether it
    is a COCO ground-truth file (an object with an ``images`` list). ``supercategories``:
    ``{id: supercategory}`` for the categories that have one, so outputs can repeat it.
    """

    path: Path
    images: tuple[CocoImage, ...]
    categories: dict[int, str]
    is_coco: bool
    supercategories: dict[int, str] = field(default_factory=dict)

    def file_names(self) -> dict[ImageId, str]:
        """``{id: file_name}`` with the ids as written."""
        return {im.id: im.file_name for im in self.images}

    def get(self, image_id: ImageId) -> CocoImage | None:
        """The entry for ``image_id``, matched by :func:`image_id_key` (``139`` finds
        ``"139"`` and back), or None."""
        index = self.__dict__.get("_index")
        if index is None:
            index = {image_id_key(im.id): im for im in self.images}
            object.__setattr__(self, "_index", index)
        return index.get(image_id_key(image_id))


def _image_size(e: dict, key: str, where: str) -> int | None:
    v = e.get(key)
    if v is None:
        return None
    n = _json_uint(v, MAX_CLASS_ID)
    if n is None or n == 0:
        raise InputError(f"{where}: {key} must be a positive integer, got {_show(v)}")
    return n


def _file_name(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v or not _valid_text(v):
        raise InputError(f"{where}: file_name must be a non-empty string, got {_show(v)}")
    return v


def _read_categories(data: dict, path: Path) -> tuple[dict[int, str], dict[int, str]]:
    """``({id: name}, {id: supercategory})`` of a COCO file's ``categories``."""
    cats = data.get("categories")
    if cats is None:
        return {}, {}
    if not isinstance(cats, list):
        raise InputError(f"{path}: 'categories' must be a list, got {_json_type(cats)}")
    out: dict[int, str] = {}
    supers: dict[int, str] = {}
    index: dict[int, int] = {}
    for i, c in enumerate(cats):
        where = f"{path}: categories[{i}]"
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise InputError(f"{where}: expected an object with 'id' and 'name'")
        cid = _json_uint(c["id"], MAX_CLASS_ID)
        if cid is None:
            raise InputError(f"{where}: id must be an integer from 0 to {MAX_CLASS_ID}, "
                             f"got {_show(c['id'])}")
        name = c["name"]
        if not isinstance(name, str) or not name or not _valid_text(name):
            raise InputError(f"{where}: name must be a non-empty string, got {_show(name)}")
        if cid in out and out[cid] != name:
            raise InputError(f"{where}: category id {cid} is already categories[{index[cid]}] "
                             f"({_show(out[cid])}), now {_show(name)}")
        sup = c.get("supercategory")
        if sup is not None and (not isinstance(sup, str) or not _valid_text(sup)):
            raise InputError(f"{where}: supercategory must be a string, got {_show(sup)}")
        if sup is not None and cid not in out:
            supers[cid] = sup
        out.setdefault(cid, name)
        index.setdefault(cid, i)
    return out, supers


def read_image_map(path: Path | str) -> ImageMap:
    """Read an ``--image-map`` file: a COCO ground-truth file (an object with an ``images``
    list of ``{"id", "file_name", "width"?, "height"?}``, and optionally ``categories``), or a
    plain JSON object ``{"<image_id>": "<file name>"}``.

    Errors (:class:`InputError`, naming the file and entry): ids as for detections (integers
    from 0 to 2^63-1 or non-empty strings), empty or non-string file names, sizes that are not
    positive integers, the same image id twice (also as ``1`` and ``"1"``), category ids
    outside [0, 2^31-1] or one id with two names, and anything that is neither form.
    """
    path = Path(path)
    data = _load_json(path)
    if isinstance(data, dict) and "images" in data:
        images = data["images"]
        if not isinstance(images, list):
            raise InputError(f"{path}: 'images' must be a list, got {_json_type(images)}")
        out: list[CocoImage] = []
        seen: dict[ImageId, int] = {}
        for i, e in enumerate(images):
            where = f"{path}: images[{i}]"
            if not isinstance(e, dict) or "id" not in e or "file_name" not in e:
                raise InputError(f"{where}: expected an object with 'id' and 'file_name'")
            image_id = _image_id(e["id"], where, key="id")
            key = image_id_key(image_id)
            if key in seen:
                raise InputError(f"{where}: image id {_show(image_id)} is already "
                                 f"images[{seen[key]}]")
            seen[key] = i
            out.append(CocoImage(image_id, _file_name(e["file_name"], where),
                                 _image_size(e, "width", where), _image_size(e, "height", where),
                                 i))
        names, supers = _read_categories(data, path)
        return ImageMap(path, tuple(out), names, True, supers)
    if isinstance(data, dict):
        if "annotations" in data or "categories" in data:
            raise InputError(f"{path}: a COCO file without an 'images' list cannot map image "
                             "ids to files")
        out = []
        seen = {}
        for i, (key_text, name) in enumerate(data.items()):
            where = f"{path}: entry {_tok(key_text)}"
            image_id = _image_id(key_text, where, key="the key")
            key = image_id_key(image_id)
            if key in seen:  # "1" and 1 cannot both be keys, but keep the rule uniform
                raise InputError(f"{where}: image id {_show(image_id)} appears twice")
            seen[key] = i
            if not isinstance(name, str) or not name or not _valid_text(name):
                raise InputError(f"{where}: file name must be a non-empty string, "
                                 f"got {_show(name)}")
            out.append(CocoImage(image_id, name, None, None, i))
        return ImageMap(path, tuple(out), {}, False)
    raise InputError(
        f"{path}: expected a COCO file with an 'images' list or a JSON object "
        f"{{\"<image_id>\": \"<file name>\"}}, got {_json_type(data)}"
    )


def load_image_map(path: Path | str) -> dict[ImageId, str]:
    """``image_id -> file name`` from a COCO ground-truth file (``images`` list) or a plain
    JSON object ``{"<id>": "<file name>"}`` (:func:`read_image_map`; ids as written)."""
    return read_image_map(path).file_names()


def load_coco_images(path: Path | str) -> list[CocoImage]:
    """The ``images`` entries of an image map (id, file_name, width, height), in file order,
    ids as written, so outputs can reuse the ground truth's ids (:func:`read_image_map`)."""
    return list(read_image_map(path).images)


def load_coco_categories(path: Path | str) -> dict[int, str]:
    """``{category id: name}`` from a COCO ground-truth file's ``categories`` list; ``{}``
    when it has none (or is a plain map). Ids not listed have no name: callers fall back to
    ``str(id)``."""
    return dict(read_image_map(path).categories)

def _map_index(mapping: Mapping[Any, str]) -> dict[ImageId, tuple[ImageId, str] | None]:
    """``{image_id_key(id): (id, name)}``; None where two spellings name different files."""
    out: dict[ImageId, tuple[ImageId, str] | None] = {}
    for k, name in mapping.items():
        key = image_id_key(k)
        if key in out and (out[key] is None or out[key][1] != name):  # type: ignore[index]
            out[key] = None
        else:
            out.setdefault(key, (k, name))
    return out


def coco_id_stems(image_id: ImageId) -> list[str]:
    """The file stems an image id is looked for by without an image map, in order: the id as
    written, then for an integer id its 12-digit form (COCO's ``000000000139``)."""
    key = image_id_key(image_id)
    return [str(image_id)] + ([f"{key:012d}"] if isinstance(key, int) else [])


def resolve_coco_images(
    image_ids: Iterable[ImageId],
    images_dir: Path | str,
    image_map: Path | str | ImageMap | Mapping[Any, str] | None = None,
) -> tuple[dict[ImageId, InputItem], list[Problem]]:
    """Image files for COCO image ids: ``{id: InputItem}`` (keys are the ids passed in, ints
    staying ints and strings strings) plus problem messages.

    ``image_map``: a file for :func:`read_image_map`, an :class:`ImageMap`, an already loaded
    ``{id: file name}`` mapping, or ``None`` (the id is the file stem: ``DIR/<id>.<ext>``,
    then ``DIR/<id:012d>.<ext>`` for integer ids; a string id must then be a relative path
    without ``.``, ``..`` or empty parts, so lookups stay inside ``DIR``). Ids match by
    :func:`image_id_key` (``139`` finds ``"139"`` and back; ``"0139"`` is a different id).
    ``InputItem.rel`` is the file name from the map (``\\`` read as ``/``, ``./`` and ``//``
    collapsed), or the found file's path relative to ``images_dir``.

    Problems (the caller reports them, exit 3): ids with no map entry or no file, and ids
    that name the same file as another id (the same resolved path), e.g. two ``images``
    entries with one ``file_name`` (or ``a.jpg`` and ``sub/../a.jpg``, or a symlink to it), or
    ``139`` and ``"000000000139"`` without a map. Such ids are left out, all
    of them, with one message per file naming every id: output image ids are the input's,
    and one image cannot carry two ids, so samcli neither merges nor picks one silently.
    """
    images_dir = Path(images_dir)
    index: dict[ImageId, tuple[ImageId, str] | None] | None
    map_name = ""
    if image_map is None:
        index = None
    elif isinstance(image_map, ImageMap):
        map_name = str(image_map.path)
        index = _map_index(image_map.file_names())
    elif isinstance(image_map, (str, os.PathLike)):
        map_name = str(image_map)
        index = _map_index(read_image_map(Path(image_map)).file_names())
    else:
        map_name = "the image map"
        index = _map_index(image_map)
    found: dict[ImageId, InputItem] = {}
    done: set[ImageId] = set()
    problems: list[Problem] = []

    def problem(image_id: ImageId, message: str) -> None:
        problems.append(Problem(f"image_id {_show(image_id)}", f"image_id {_show(image_id)}: "
                                + message))

    for image_id in image_ids:
        if image_id in done:
            continue
        done.add(image_id)
        key = image_id_key(image_id)
        if index is not None:
            if key not in index:
                problem(image_id, f"not in {map_name}")
                continue
            entry = index[key]
            if entry is None:
                problem(image_id, f"{map_name} names it twice, with different files")
                continue
            name = entry[1]
            rel = PurePosixPath(name.replace("\\", "/")).as_posix()
            path = images_dir / rel
            if not _is_file(path) and rel != name and _is_file(images_dir / name):
                path = images_dir / name
            if not _is_file(path):
                problem(image_id, f"{path}: no such file")
                continue
            found[image_id] = InputItem(path=path, rel=rel, root=images_dir)
            continue
        stems = coco_id_stems(image_id)
        if not isinstance(key, int) and (
                "\\" in stems[0] or any(part in ("", ".", "..") for part in stems[0].split("/"))):
            # '/etc/x', '../x', '.' (-> '<DIR>.jpg') would leave DIR
            problem(image_id, f"not a file name under {images_dir} (give an image map to name "
                    "the files)")
            continue
        hit = None
        for stem in stems:
            hit = _first_existing(images_dir / stem)
            if hit is not None:
                break
        if hit is None:
            shown = stems[0] if len(stems[0]) <= 60 else stems[0][:50] + "..."
            problem(image_id, f"no image {images_dir / shown}.<jpg|png|...> (give an image map "
                    "to name the files)")
            continue
        rel = PurePosixPath(hit.relative_to(images_dir)).as_posix()
        found[image_id] = InputItem(path=hit, rel=rel, root=images_dir)

    # Two ids, one file (by name, or by resolved path: 'sub/../a.jpg', a symlink): report
    # them all (never keep only the last one's boxes, nor segment one image under two ids)
    by_file: dict[str, list[ImageId]] = {}
    for image_id, item in found.items():
        by_file.setdefault(os.path.realpath(item.path), []).append(image_id)
    for ids in by_file.values():
        if len(ids) < 2:
            continue
        items = [found.pop(image_id) for image_id in ids]
        source = f" in {map_name}" if map_name else ""
        rel = items[0].rel
        if all(item.rel == rel for item in items):
            named = f"image ids {', '.join(_show(i) for i in ids)} all name this file{source}"
        else:
            named = ("image ids " + ", ".join(f"{_show(i)} ({_show(item.rel)})"
                                              for i, item in zip(ids, items))
                     + f"{source} all name this file")
        problems.append(Problem(rel, f"{images_dir / rel}: {named}; their boxes are not used "
                                "(give each image a single id)"))
    return found, problems
