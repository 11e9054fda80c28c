"""A test-only memo of the image encoders' forward passes, for the end-to-end tests.

The command, API, golden and README tests run samcli whole, on a few small images that
recur from test to test (``write_image`` with seeds 0-2, the same API arrays): about three
quarters of their image-encoder passes had been computed, bit for bit, by an earlier test.
Those passes were most of the suite's model time; what these tests hold (folders, resume,
writers, messages) does not depend on where an embedding came from, so a pass whose inputs
were all seen before returns the stored outputs (copies), which are the numbers it computes.

The key is everything the output depends on: the encoder class and its module tree (repr),
every state-dict tensor (name, shape, dtype, bytes), the input (shape, dtype, strides,
bytes), the keyword arguments, the torch thread count (the reductions depend on it:
``samcli/threads.py``), grad and autocast state. Entries past ``MAX_BYTES`` are dropped
oldest first.

Modules opt in with ``pytestmark = pytest.mark.encoder_memo``; a test opts out with
``@pytest.mark.no_encoder_memo`` (the threads test, whose point is concurrent passes); the
parity, precision and memory tests never use it. ``SAMCLI_TEST_ENCODER_MEMO=0`` turns it off
for a whole run (every pass computed, as before). ``tests/test_encoder_memo.py`` checks it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

#: Environment switch: "0" computes every pass.
ENV = "SAMCLI_TEST_ENCODER_MEMO"

MAX_BYTES = 1 << 30


def _update(h: Any, t: torch.Tensor) -> None:
    t = t.detach()
    h.update(f"{tuple(t.shape)}|{t.dtype}|{t.stride()}|{t.device}|".encode())
    h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)


def _copy(value: Any) -> Any:
    """A copy of an encoder's output: a tensor (strides kept), or a tuple / NamedTuple / list
    of them (None kept)."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, tuple):
        items = [_copy(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


def _size(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return 0


class EncoderMemo:
    """Stored encoder outputs by key (see the module docstring); thread-safe."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, module: nn.Module, x: torch.Tensor, kwargs: dict) -> str:
        h = hashlib.blake2b(digest_size=20)
        h.update(f"{type(module).__qualname__}|{module!r}|{sorted(kwargs.items())!r}|"
                 f"{torch.get_num_threads()}|{torch.is_grad_enabled()}|"
                 f"{torch.is_inference_mode_enabled()}|"
                 f"{torch.is_autocast_enabled('cpu')}|"
                 f"{torch.get_autocast_dtype('cpu')}|".encode())
        for name, value in module.state_dict().items():
            h.update(name.encode())
            _update(h, value)
        _update(h, x)
        return h.hexdigest()

    def forward(self, original, module: nn.Module, x: torch.Tensor, **kwargs):
        """``original(module, x, **kwargs)``, or a copy of its stored result."""
        key = self.key(module, x, kwargs)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                self.hits += 1
        if hit is not None:
            return _copy(hit[0])
        out = original(module, x, **kwargs)
        stored, size = _copy(out), _size(out)
        with self._lock:
            self.misses += 1
            if key not in self._entries and size <= self.max_bytes:
                self._entries[key] = (stored, size)
                self._bytes += size
                while self._bytes > self.max_bytes:
                    _, (_, dropped) = self._entries.popitem(last=False)
                    self._bytes -= dropped
        return out


def encoder_classes() -> tuple[type[nn.Module], ...]:
    """The image encoders samcli runs: SAM's ViT, MobileSAM's TinyViT, SAM 2's Hiera + FPN."""
    from samcli.model.image_encoder import ImageEncoderViT
    from samcli.model.sam2.image_encoder import ImageEncoder
    from samcli.model.tiny_vit import TinyViT

    return ImageEncoderViT, TinyViT, ImageEncoder


def install(memo: EncoderMemo, monkeypatch) -> None:
    """Route every encoder class's ``forward`` through ``memo`` (undone with
    ``monkeypatch``)."""
    for cls in encoder_classes():
        original = cls.forward

        def forward(self, x, _original=original, **kwargs):
            return memo.forward(_original, self, x, **kwargs)

        monkeypatch.setattr(cls, "forward", forward)


def enabled() -> bool:
    return os.environ.get(ENV, "1") != "0"
