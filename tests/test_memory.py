"""samcli.memory: heap trimming between chunks (the allocator's globals are patched: no real
malloc_trim is counted on)."""

from __future__ import annotations

import pytest

import samcli.memory as memory



class _CountingLibc:
    def __init__(self) -> None:
        self.trims = 0

    def malloc_trim(self, pad: int) -> int:
        self.trims += 1
        return 1


@pytest.mark.parametrize(
    "label, slack, resident_mb, trims",
    [
        ("no slack: always", 0, [100, 100, 900], 3),
        ("first call, growth since start within the slack: kept", 256, [100], 0),
        ("first call past the slack: trimmed", 256, [400], 1),
        ("growth within the slack: kept", 256, [300, 500, 550], 1),
        ("growth past the slack: trimmed, new baseline", 256, [300, 600, 650, 900], 3),
        ("unknown size (no /proc): always", 256, [-1, -1, -1], 3),
    ],
)
def test_release_cpu_memory_slack(monkeypatch, label, slack, resident_mb, trims):
    """Large-image chunks trim the heap only once it has grown by more than the slack since
    the last trim (each trim makes the next chunk fault its pages in again)."""
    libc = _CountingLibc()
    monkeypatch.setattr(memory, "_ALLOCATOR_TUNED", True)
    monkeypatch.setattr(memory, "_LIBC", libc)
    monkeypatch.setattr(memory, "_RSS_AFTER_TRIM", 0)
    sizes = iter(resident_mb)
    current = {"mb": 0}

    def resident() -> int:
        return current["mb"] * 2**20 if current["mb"] >= 0 else -1

    monkeypatch.setattr(memory, "_resident_bytes", resident)
    for mb in sizes:
        current["mb"] = mb  # the size before the call; a trim leaves it (the fake frees nothing)
        memory.release_cpu_memory(slack=slack * 2**20)
    assert libc.trims == trims, label


def test_release_cpu_memory_without_tuning_does_nothing(monkeypatch):
    libc = _CountingLibc()
    monkeypatch.setattr(memory, "_ALLOCATOR_TUNED", False)
    monkeypatch.setattr(memory, "_LIBC", libc)
    memory.release_cpu_memory()
    assert libc.trims == 0


def test_the_encoder_runs_with_its_own_mmap_threshold(monkeypatch, mobile_sam_pair,
                                                      chelsea_image):
    """MobileSAM's TinyViT runs with LIGHT_ENCODER_MMAP_THRESHOLD (its 64 MiB blocks stay in
    the heap: a quarter of its encoder time, BENCHMARKS.md), the decoder after it with the
    tuned limit again; the other encoders keep ENCODER_MMAP_THRESHOLD (the default)."""
    import numpy as np

    from samcli.predictor import Predictor

    set_to: list[int] = []
    monkeypatch.setattr(memory, "_set_mmap_threshold", set_to.append)
    monkeypatch.setattr(memory, "release_cpu_memory", lambda slack=0: None)
    Predictor(mobile_sam_pair[0], tune_allocator=False).set_image(chelsea_image[:64, :64])
    assert set_to == [memory.LIGHT_ENCODER_MMAP_THRESHOLD, memory._TUNED_LIMIT]
    assert memory.LIGHT_ENCODER_MMAP_THRESHOLD > 64 * 2**20 >= memory.ENCODER_MMAP_THRESHOLD
    set_to.clear()
    with memory.encoder_blocks_mapped():
        np.zeros(1)
    assert set_to == [memory.ENCODER_MMAP_THRESHOLD, memory._TUNED_LIMIT]
