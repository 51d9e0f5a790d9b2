"""Dask chunks and the local cluster (see the package docstring)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from nadsim._errors import InputError

__all__ = ["local_cluster", "run_chunks"]


def local_cluster(n_workers: int | None = None) -> Any:
    """A loopback Dask cluster of single-threaded worker processes (caller closes it)."""
    try:
        from distributed import LocalCluster
    except ImportError as exc:  # pragma: no cover - distributed is a core dependency
        raise InputError("cluster", "dask.distributed installed", "missing",
                         hint="pip install 'dask[distributed]'") from exc
    n = n_workers or max(1, (os.cpu_count() or 1))
    return LocalCluster(n_workers=n, processes=True, threads_per_worker=1, host="127.0.0.1",
                        dashboard_address=None)


def _client(cluster: Any) -> tuple[Any, list[Any]]:
    """A client for ``cluster`` and the objects to close afterwards."""
    from distributed import Client

    if isinstance(cluster, Client):
        return cluster, []
    if cluster == "local":
        lc = local_cluster()
        client = Client(lc)
        return client, [client, lc]
    if isinstance(cluster, str) and cluster:
        try:
            client = Client(cluster, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError("cluster", "the address of a reachable Dask scheduler, or 'local'", cluster,
                             hint=str(exc)) from None
        return client, [client]
    raise InputError("cluster", "a Dask scheduler address, 'local', or a distributed.Client", cluster)


def run_chunks(cluster: Any, task: Callable[..., Any], model: Any, spec: Any,
               chunks: Sequence[Any], *, window: int | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(i, task(model, spec, chunks[i]))`` for every chunk, computed on ``cluster``.

    ``model`` and ``spec`` are sent to the workers once (scattered); chunks are submitted
    ``window`` at a time (default: twice the number of worker threads).
    """
    from distributed import as_completed

    client, to_close = _client(cluster)
    try:
        nthreads = sum(client.nthreads().values()) or 1
        window = window or 2 * nthreads
        model_f, spec_f = client.scatter([model, spec], broadcast=True)
        todo = iter(enumerate(chunks))
        index: dict[Any, int] = {}
        ac = as_completed()
        for _ in range(window):
            nxt = next(todo, None)
            if nxt is None:
                break
            fut = client.submit(task, model_f, spec_f, nxt[1], pure=False)
            index[fut] = nxt[0]
            ac.add(fut)
        for fut in ac:
            i = index.pop(fut)
            result = fut.result()  # re-raises a worker's exception here
            fut.release()
            nxt = next(todo, None)
            if nxt is not None:
                new = client.submit(task, model_f, spec_f, nxt[1], pure=False)
                index[new] = nxt[0]
                ac.add(new)
            yield i, result
    finally:
        for obj in to_close:
            obj.close()
