"""The Dask worker plugin that ties a local worker's life to the nadsim process that started it
(a module of its own: it imports ``distributed``, which ``nadsim.scale`` imports only on use)."""

from __future__ import annotations

import os
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from nadsim._procs import die_with_parent

__all__ = ["DieWithParent"]


class DieWithParent(WorkerPlugin):
    """A local worker ends within 0.5 s of the nadsim process that started it
    (:func:`nadsim._procs.die_with_parent`), so a ``kill -9`` of ``nadsim simulate --cluster
    local`` leaves no worker computing. Registered on the client, so workers that the nannies
    restart get it too."""

    name = "nadsim-die-with-parent"

    def __init__(self, parent_pid: int) -> None:
        self.parent_pid = parent_pid

    def setup(self, worker: Any) -> None:
        if os.getppid() == self.parent_pid:  # a worker process started by that nadsim process
            die_with_parent(self.parent_pid)
