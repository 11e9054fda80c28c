"""A ``samcli`` driver that loses a worker node of a test cluster at a known point.

``python -m tests.executors.cluster_driver HEAD_NODE_ID MARKER -- samcli-args...``

The first image an actor takes on a node other than the head claims ``MARKER`` (a file
holding that node's id) and then waits for ever: the test waits for the file, removes that
node (which kills the actor while it holds the image) and watches the run go on. Images
on the head wait for the claim before they are processed, and each actor is given one image
at a time, so a worker node always gets one to hold. After the claim every image is
processed as usual, on whichever nodes are left. No clock decides anything: the node is
lost with an image in flight on every machine, however fast.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any


class StallOnANode:
    """A work object (see :mod:`samcli.jobs`) wrapping the run's: it travels to the actors
    like the real one (``tests`` is importable on the test cluster's nodes: they are started
    with the checkout on ``PYTHONPATH``)."""

    def __init__(self, work: Any, head: str, marker: str) -> None:
        self.work, self.head, self.marker = work, head, marker

    @property
    def unit(self) -> str:
        return self.work.unit

    def __call__(self, model, item, on_batch=None):
        import ray

        node = ray.get_runtime_context().get_node_id()
        marker = Path(self.marker)
        if node == self.head:
            while not marker.exists():  # an event on a shared folder, not a timing
                time.sleep(0.05)
        elif not marker.exists() and self._claim(node):
            threading.Event().wait()  # until the node's removal kills this process
        return self.work(model, item, on_batch=on_batch)

    def _claim(self, node: str) -> bool:
        """Create the marker holding ``node`` atomically; False if another node was first."""
        tmp = Path(f"{self.marker}.{os.getpid()}")
        tmp.write_text(node)
        try:
            os.link(tmp, self.marker)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink()


def main() -> None:
    head, marker = sys.argv[1], sys.argv[2]
    assert sys.argv[3] == "--"
    import ray.data

    from samcli.executors import ray_actors

    ray.data.DataContext.get_current().max_tasks_in_flight_per_actor = 1
    init = ray_actors.RayExecutor.__init__

    def stalling_init(self, work, *args, **kwargs):
        init(self, StallOnANode(work, head, marker), *args, **kwargs)

    ray_actors.RayExecutor.__init__ = stalling_init
    sys.argv = ["samcli", *sys.argv[4:]]
    from samcli.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
