"""Torch's intra-op thread count for the model: one fixed number, wherever the model runs.

On the CPU, float reductions (matrix products with a long inner dimension, sums, layer
norms) are split among torch's threads, and each split adds the same numbers in another
order: the model's logits and scores change in their last bits with the thread count
(measured with MobileSAM at 1, 2, 3, 4, 6 and 8 threads: six different sets of mask logits).
At mask borders, where a logit is near 0, that moves a pixel in or out, and scores change
in their sixth decimal. A plain run used to take torch's default (the machine's cores) and
a Ray actor its CPU reservation, so the same image gave slightly different records
depending on where it ran.

So every model (:meth:`samcli.loader.ModelLoader.get`: plain runs and Ray actors alike)
runs with :func:`model_threads` threads: :data:`DEFAULT_THREADS` (fewer on a machine with
fewer usable cores: more threads than cores spin-wait, and vit_b's encoder ran 10x slower
with 4 threads on 2 cores), or ``$SAMCLI_THREADS`` where it is set. A Ray run passes the
driver's number to its actors (see :mod:`samcli.executors.ray_actors`), so a plain run and a Ray run of the same command give
the same records, byte for byte, on machines with the same kind of CPU and the same torch.
Another ``$SAMCLI_THREADS`` may change the last digits of scores and a few border pixels.
"""

from __future__ import annotations

import os

from samcli.errors import ConfigError

#: Threads of one model replica: 4, what a CPU Ray actor reserves and about the cores of a
#: laptop, or the machine's usable cores where there are fewer (see README, "Records and the
#: plain run").
DEFAULT_THREADS = 4
ENV = "SAMCLI_THREADS"
_MAX = 1024


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def model_threads() -> int:
    """The model's thread count: ``$SAMCLI_THREADS`` if set (a whole number from 1 to 1024),
    else :data:`DEFAULT_THREADS` or :func:`usable_cores` where that is fewer."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return min(DEFAULT_THREADS, usable_cores())
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= _MAX:
        raise ConfigError(f"${ENV}={text!r}: expected a whole number of threads from 1 to "
                          f"{_MAX}, or unset for {DEFAULT_THREADS}")
    return int(text)


def use_model_threads() -> int:
    """Set torch's intra-op threads of this process to :func:`model_threads` (before the
    model runs); returns the number."""
    import torch

    n = model_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
