"""One way to spread independent chunks of work: :func:`map_chunks`.

Behind it, three places to compute: this process (``workers=1``, no cluster), a pool of worker
processes that die with this one (:func:`nadsim._procs.process_pool`), or a Dask cluster
(:mod:`nadsim.scale`: an address, ``"local"`` or a client). Callers see the same iterator of
``(index, result)`` pairs in completion order and place results by index, so a run gives the
same numbers wherever it ran; at most ``window`` chunks are in flight, so memory stays flat in
the number of chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from nadsim._errors import InputError
from nadsim._procs import process_pool
from nadsim.scale import run_chunks

__all__ = ["map_chunks"]


def map_chunks(task: Callable[..., Any], chunks: Sequence[Any], *, shared: tuple[Any, Any] = (None, None),
               workers: int = 1, cluster: Any = None, window: int | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(i, task(shared[0], shared[1], chunks[i]))`` for every chunk as it finishes.

    ``shared`` (e.g. a model and a run specification) is sent to each worker once. An exception
    in a chunk is re-raised here. Worker processes end with this process, even after a kill -9.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError("workers", "a whole number of worker processes >= 1", workers)
    first, second = shared
    if cluster is not None:
        yield from run_chunks(cluster, task, first, second, chunks, window=window)
        return
    if workers == 1 or len(chunks) <= 1:
        for i, chunk in enumerate(chunks):
            yield i, task(first, second, chunk)
        return
    window = window or 2 * workers
    with process_pool(min(workers, len(chunks))) as pool:
        todo = iter(enumerate(chunks))
        running: dict[Future[Any], int] = {}

        def submit() -> None:
            nxt = next(todo, None)
            if nxt is not None:
                running[pool.submit(task, first, second, nxt[1])] = nxt[0]

        for _ in range(window):
            submit()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                i = running.pop(fut)
                result = fut.result()
                submit()
                yield i, result
