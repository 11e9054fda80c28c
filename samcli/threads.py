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
runs with :func:`model_threads` threads: :data:`DEFAULT_THREADS`, or ``$SAMCLI_THREADS``
where it is set. A Ray run passes the driver's number to its actors (see
:mod:`samcli.executors.ray_actors`), so a plain run and a Ray run of the same command give
the same records, byte for byte, on machines with the same kind of CPU and the same torch.
Another ``$SAMCLI_THREADS`` may change the last digits of scores and a few border pixels.
"""

from __future__ import annotations

import os

from samcli.errors import ConfigError

#: Threads of one model replica. 4: what a CPU Ray actor reserves, about the cores of a
#: laptop, and on a 2-core machine no slower than 2 (see README, "Scale-out: Ray").
DEFAULT_THREADS = 4
ENV = "SAMCLI_THREADS"
_MAX = 1024


def model_threads() -> int:
    """The model's thread count: ``$SAMCLI_THREADS`` if set (a whole number from 1 to 1024),
    else :data:`DEFAULT_THREADS`."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return DEFAULT_THREADS
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
