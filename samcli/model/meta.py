"""Building a model's shapes without its numbers: the ``meta`` device, without its start-up cost.

:func:`on_meta` is ``with torch.device("meta"):`` except that ``normal_`` initialisers
(``nn.init.normal_``, ``Tensor.normal_``: ``nn.Embedding``'s reset, for one) do nothing. A meta
tensor has no numbers to fill, and the meta kernel of ``normal_``, like that of out-of-place
arithmetic, is one of PyTorch's Python reference ops, whose first use imports
``torch._dynamo``: about a second of every command's start, spent before any image is read.
Model constructors keep their own arithmetic in place or on the CPU for the same reason
(``PositionEmbeddingRandom``, ``tiny_vit.offset_bias_index``);
``tests/model/test_meta.py`` holds every builder to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.overrides import TorchFunctionMode

_NORMAL_INITS = (torch.nn.init.normal_, torch.Tensor.normal_)


class _NoNormalInit(TorchFunctionMode):
    """``normal_(tensor, ...)`` returns ``tensor`` untouched; every other call runs."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _NORMAL_INITS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **(kwargs or {}))


@contextmanager
def on_meta() -> Iterator[None]:
    """Tensors made inside are on the ``meta`` device (shapes and dtypes, no storage) and
    ``normal_`` initialisers are skipped (see the module docstring)."""
    with torch.device("meta"), _NoNormalInit():
        yield
