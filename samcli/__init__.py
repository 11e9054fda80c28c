"""samcli: batch mask proposals from Segment Anything.

The library (:mod:`samcli.api`): ``from samcli import Segmenter``. Imported on first use, so
``import samcli`` (and the command line's start-up) does not load torch.
"""

from typing import Any

__version__ = "0.1.0"

_API = ("Segmenter", "Proposals", "Proposal")


def __getattr__(name: str) -> Any:
    if name in _API:
        from samcli import api

        return getattr(api, name)
    raise AttributeError(f"module 'samcli' has no attribute {name!r}")
