"""CPU memory: how samcli's heap is tuned for SAM's large, short-lived tensors, and trimmed.

SAM allocates and frees hundreds of MB of activations per image and prompt batch. With glibc's
defaults every block over a few MB is a fresh ``mmap`` whose pages are faulted in and zeroed
on first touch, which costs as much as the arithmetic on small CPUs. :func:`tune_cpu_allocator`
keeps freed blocks in the heap instead; the price is fragmentation and a heap that never shrinks
by itself, which the callers bound: the predictor mmaps the image encoder's largest blocks and
trims around it (:func:`encoder_blocks_mapped`, :func:`release_cpu_memory`), and the mask
stages trim between full-size chunks of large images (:func:`trim_between_chunks`).
Everything here is process-wide and a no-op outside glibc/Linux or before tuning.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from typing import Any, Iterator

# Images (or crops) larger than this many pixels return freed memory to the OS between
# full-size chunks once the resident size has grown by LARGE_CROP_SLACK bytes since the last
# trim, so a tuned allocator cannot pile up freed blocks.
LARGE_CROP_PIXELS = 4_000_000
LARGE_CROP_SLACK = 256 * 2**20

_ALLOCATOR_TUNED = False
_LIBC: Any = None
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TUNED_LIMIT = 2**31 - 1
# While the image encoder runs, blocks from this size up (its global-attention bias chunks and
# attention temporaries, 100 MB and more) are mmapped and returned to the OS when freed: kept
# in the tuned heap they fragment it, and the decoder's blocks then pile up beside them
# (peak RSS 1.8-1.9 GB instead of 1.5 GB on a 512 x 512 image, vit_b). Smaller encoder
# blocks (the 50 MB MLP activations) stay in the heap: a 32 MB threshold cost 10% encoder time.
ENCODER_MMAP_THRESHOLD = 64 * 2**20
# MobileSAM's TinyViT allocates 64 MiB blocks (its first stage's 256-channel activations at
# 256 x 256, float32) with little arithmetic on each: mmapped, faulting their pages in was a
# quarter of its encoder time (0.3 of 1.2 s an image); kept in the heap they cost 80-100 MB
# more peak RSS. vit_l's 64 MiB MLP blocks gained nothing from the heap (BENCHMARKS.md), so
# only TinyViT's encoder uses this threshold.
LIGHT_ENCODER_MMAP_THRESHOLD = 128 * 2**20


def tune_cpu_allocator() -> bool:
    """Keep large freed blocks in the process heap instead of returning them to the OS.

    SAM allocates and frees hundreds of MB of activations per image and prompt batch. With
    glibc's defaults every block over a few MB is a fresh ``mmap`` whose pages are faulted
    in and zeroed on first touch, which costs as much as the arithmetic on small CPUs (the
    encoder and decoder run about 1.5-2x faster with this tuning). Raising ``M_MMAP_THRESHOLD``
    and ``M_TRIM_THRESHOLD`` lets the heap reuse those pages; the price is fragmentation and
    a heap that never shrinks by itself, which :class:`Predictor` bounds by mmapping the image
    encoder's largest blocks and trimming the heap around it (see ``set_image``), and
    everything-mode by trimming between full-size chunks of large images. Process-wide and
    idempotent; returns True when applied (glibc on Linux only; elsewhere nothing happens).
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, _TUNED_LIMIT)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TUNED_LIMIT)
    )
    _ALLOCATOR_TUNED = ok
    return ok


def _set_mmap_threshold(nbytes: int) -> None:
    global _LIBC
    if _ALLOCATOR_TUNED:
        if _LIBC is None:
            _LIBC = ctypes.CDLL("libc.so.6")
        _LIBC.mallopt(_M_MMAP_THRESHOLD, nbytes)


def release_cpu_memory(slack: int = 0) -> None:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``) after the allocator was
    tuned; a no-op otherwise. Called around the image encoder and between full-resolution
    chunks of large images, where keeping every freed block would let the heap grow far past
    the working set.

    With ``slack`` > 0 the heap is trimmed only once the resident size has grown by more than
    ``slack`` bytes since the last trim (always when the size is unknown): trimming after
    every chunk makes the next chunk fault all its pages in again, which costs more than the
    arithmetic on large images, while a little slack lets chunks reuse each other's blocks."""
    global _LIBC, _RSS_AFTER_TRIM
    if _ALLOCATOR_TUNED:
        if _LIBC is None:
            _LIBC = ctypes.CDLL("libc.so.6")
        if slack > 0:
            rss = _resident_bytes()
            if rss >= 0 and _RSS_AFTER_TRIM >= 0 and rss - _RSS_AFTER_TRIM <= slack:
                return
        _LIBC.malloc_trim(0)
        _RSS_AFTER_TRIM = _resident_bytes()


_RSS_AFTER_TRIM = 0


def _resident_bytes() -> int:
    """This process's resident set size in bytes (Linux), or -1 when unknown."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return -1


@contextlib.contextmanager
def encoder_blocks_mapped(threshold: int = ENCODER_MMAP_THRESHOLD) -> Iterator[None]:
    """While the image encoder runs: start on a trimmed heap, mmap blocks from ``threshold``
    bytes up (:data:`ENCODER_MMAP_THRESHOLD`; :data:`LIGHT_ENCODER_MMAP_THRESHOLD` for
    MobileSAM's), and hand its freed heap blocks back afterwards, so the encoder's and the
    decoder's working sets do not add up in a tuned heap."""
    release_cpu_memory()
    _set_mmap_threshold(threshold)
    try:
        yield
    finally:
        _set_mmap_threshold(_TUNED_LIMIT)
        release_cpu_memory()


def trim_between_chunks(pixels: int) -> None:
    """After a full-size chunk of masks of an image (or crop) of ``pixels`` pixels: trim the
    heap when the image is large and the heap has grown past the slack (see module doc)."""
    if pixels > LARGE_CROP_PIXELS:
        release_cpu_memory(slack=LARGE_CROP_SLACK)
