"""Detector boxes for ``from-boxes``: YOLO label files and COCO detection results.

One module per idea; this package exports what callers use:

============  ===============================================================================
yolo          YOLO box rows (:func:`parse_yolo_labels`), boxes to clipped pixels
              (:func:`boxes_to_pixels`, :func:`clip_boxes`)
lookup        the image of a label file (:func:`find_image_for_label`), label folders
              (:func:`collect_label_files`)
coco          COCO detection results (:func:`parse_coco_dets`), image maps
              (:func:`read_image_map`), the image files of COCO ids
              (:func:`resolve_coco_images`)
names         class names from ``classes.txt`` or a dataset YAML (:func:`collect_class_names`)
yaml_names    a dataset YAML's ``names:`` without a YAML library (:func:`parse_yaml_names`)
numbers       strict number parsing (plain ASCII decimals, exact integer ids)
jsonio        strict JSON input (files named in errors, repeated keys refused)
text          reading text files with the file named in every error
============  ===============================================================================

Each module's docstring states its rules.
"""

from samcli.io.labels.coco import (MAX_IMAGE_ID, CocoDet, CocoImage, ImageId, ImageMap,
                                   coco_dets_to_xyxy, coco_id_stems, image_id_key,
                                   load_coco_categories, load_coco_images, load_image_map,
                                   parse_coco_dets, read_image_map, resolve_coco_images)
from samcli.io.labels.lookup import (LABEL_SKIP_NAMES, collect_label_files, find_image_for_label,
                                     image_candidates, is_named_names_file, rival_images,
                                     rivals_warning)
from samcli.io.labels.names import (CLASSES_TXT, DATASET_YAML_NAMES, ClassNames,
                                    collect_class_names, find_class_names_file,
                                    read_class_names, yolo_class_names)
from samcli.io.labels.numbers import MAX_CLASS_ID
from samcli.io.labels.yaml_names import parse_yaml_names
from samcli.io.labels.yolo import BoxLabel, PixelBoxes, boxes_to_pixels, clip_boxes, parse_yolo_labels

__all__ = [
    "CLASSES_TXT",
    "DATASET_YAML_NAMES",
    "LABEL_SKIP_NAMES",
    "MAX_CLASS_ID",
    "MAX_IMAGE_ID",
    "BoxLabel",
    "ClassNames",
    "CocoDet",
    "CocoImage",
    "ImageId",
    "ImageMap",
    "PixelBoxes",
    "boxes_to_pixels",
    "clip_boxes",
    "coco_dets_to_xyxy",
    "coco_id_stems",
    "collect_class_names",
    "collect_label_files",
    "find_class_names_file",
    "find_image_for_label",
    "image_candidates",
    "image_id_key",
    "is_named_names_file",
    "rival_images",
    "rivals_warning",
    "load_coco_categories",
    "load_coco_images",
    "load_image_map",
    "parse_coco_dets",
    "parse_yaml_names",
    "parse_yolo_labels",
    "read_class_names",
    "read_image_map",
    "resolve_coco_images",
    "yolo_class_names",
]
