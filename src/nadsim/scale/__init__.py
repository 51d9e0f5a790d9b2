"""Scale-out: run population chunks on Dask distributed workers.

:func:`run_chunks` sends independent chunks of subjects to a Dask cluster and yields
their results as they finish. ``cluster`` is a scheduler address (``"tcp://host:8786"``),
``"local"`` (a :class:`distributed.LocalCluster` on this machine, one single-threaded
worker process per core, closed afterwards) or an existing :class:`distributed.Client`.

Each chunk is a pure function of (model, run settings, parameter rows), so a distributed
run gives the same numbers as a single-process one; only the order of completion differs,
and callers place each result by its chunk index. At most ``window`` chunks are in flight
at once, so memory on the caller stays flat in the number of subjects.
"""

from nadsim.scale._dask import local_cluster as local_cluster
from nadsim.scale._dask import run_chunks as run_chunks

__all__ = ["local_cluster", "run_chunks"]
