"""Device choice and CPU thread control."""

from __future__ import annotations

import os
import platform
from contextlib import contextmanager

_VALID = ("auto", "cpu", "cuda", "mps")


def choose_device(device: str = "auto"):
    """Return a ``torch.device``: cuda > mps > cpu for ``"auto"``, or the one forced.

    A forced device that is not available raises a ValueError instead of silently falling back.
    """
    import torch

    name = str(device).lower()
    base = name.split(":")[0]
    if base not in _VALID:
        raise ValueError(f"device must be one of {_VALID} (optionally 'cuda:N'), got {device!r}")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was asked for but CUDA is not available on this machine"
        )
    if base == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(
            f"device={device!r} was asked for but MPS is not available on this machine"
        )
    return torch.device(name)


def set_threads(n: int | None = None) -> int:
    """Fix the number of CPU threads torch (and BLAS, via env) uses; returns the number set.

    ``None`` uses ``NEUROVIS_THREADS`` if set, else the machine's core count. A fixed count makes
    CPU timings comparable and float reductions reproducible from run to run.
    """
    import torch

    if n is None:
        n = int(os.environ.get("NEUROVIS_THREADS", os.cpu_count() or 1))
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    torch.set_num_threads(n)
    return n


@contextmanager
def single_thread(device="cpu"):
    """Run the block on one CPU thread (restored afterwards); a no-op for a GPU ``device``.

    For solvers working on thousands of tiny matrices, where intra-op threads only add
    synchronisation (and, on a busy machine, oversubscription); one thread also makes the numbers
    independent of the core count."""
    import torch

    if torch.device(device).type != "cpu":
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def environment_report(device=None) -> str:
    """One line: python, torch, device and thread count, for the top of every chapter."""
    import torch

    dev = device if device is not None else choose_device("auto")
    gpu = ""
    if str(dev).startswith("cuda"):
        gpu = f" ({torch.cuda.get_device_name(0)})"
    return (
        f"python {platform.python_version()} | torch {torch.__version__} | device {dev}{gpu} | "
        f"threads {torch.get_num_threads()} | {platform.machine()} {os.cpu_count()} cores"
    )
