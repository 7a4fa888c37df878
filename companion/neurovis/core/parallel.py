"""Independent CPU jobs (one training per seed and model) in worker processes, one thread each.

On a machine without a GPU, a reference run's trainings are independent of each other: run in
``workers`` processes of one thread each, they give the numbers a sequential run gives (same seed,
same float path, same thread count) in about 1/``workers`` of the wall time."""

from __future__ import annotations

import os

WORKERS_ENV = "NEUROVIS_WORKERS"


def process_workers(device="cpu", n: int | None = None) -> int:
    """How many processes to train in: ``n``, else ``NEUROVIS_WORKERS``, else 1; always 1 on a
    GPU (the jobs would share it)."""
    import torch

    if torch.device(device).type != "cpu":
        return 1
    if n is None:
        raw = os.environ.get(WORKERS_ENV, "1") or "1"
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"{WORKERS_ENV} must be a whole number, got {raw!r}") from None
    if n < 1:
        raise ValueError(f"worker count must be >= 1, got {n}")
    return n


def _one_thread():
    import torch

    torch.set_num_threads(1)


def map_in_processes(fn, jobs: list[tuple], workers: int = 1) -> list:
    """``[fn(*job) for job in jobs]``, in order. With ``workers > 1`` the jobs run in that many
    spawned processes with one torch thread each (``fn`` and the jobs must pickle: a module-level
    function, tensors, dataclasses); ``workers == 1`` runs them here, one after the other. A job
    that raises stops the map with an error naming it."""
    jobs = [tuple(j) for j in jobs]
    if workers < 1:
        raise ValueError(f"worker count must be >= 1, got {workers}")
    if workers == 1 or len(jobs) <= 1:
        out = []
        for i, job in enumerate(jobs):
            try:
                out.append(fn(*job))
            except Exception as exc:
                raise RuntimeError(f"job {i} of {len(jobs)} ({fn.__name__}) failed: {exc}") from exc
        return out

    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)), mp_context=ctx, initializer=_one_thread
    ) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        out = []
        for i, fut in enumerate(futures):
            try:
                out.append(fut.result())
            except Exception as exc:
                for f in futures:
                    f.cancel()
                raise RuntimeError(f"job {i} of {len(jobs)} ({fn.__name__}) failed: {exc}") from exc
        return out
