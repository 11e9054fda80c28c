"""Segment Anything (SAM, MobileSAM) re-implemented with the reference's state-dict layout.

Imports nothing from the rest of samcli except :mod:`samcli.errors`. Names are loaded on first
use, so importing the table, cache and download modules (as every CLI start does) does not
import torch.

``specs`` (the one model table), ``cache`` (cache folder, cached files), ``download``
(verified download), ``checkpoint`` (safe reading and strict checking of state dicts),
``loading`` (name or file -> ready model), ``build`` and the networks.
"""

from __future__ import annotations

import importlib

__all__ = ["MODEL_NAMES", "Sam", "ResizeLongestSide", "build_model"]

_WHERE = {"MODEL_NAMES": "build", "build_model": "build", "Sam": "sam",
          "ResizeLongestSide": "transforms"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
