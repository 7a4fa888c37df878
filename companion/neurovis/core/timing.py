"""Timing helpers: warm-up, repeats, median, and ratios against a baseline timed in the same run."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field


def _sync():
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
    except ImportError:  # pragma: no cover
        pass


@dataclass
class Timing:
    """Wall-clock times (seconds) of repeated calls; ``result`` is the last call's return value."""

    times: list = field(default_factory=list)
    result: object = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)

    def __repr__(self):
        return f"Timing(median={self.median:.4g}s, n={len(self.times)})"


def measure(fn, *args, warmup: int = 1, repeats: int = 3, **kwargs) -> Timing:
    """Call ``fn(*args, **kwargs)`` ``warmup`` times untimed, then ``repeats`` times timed.

    CUDA work is synchronised before each clock read so GPU times are real.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(
            f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}"
        )
    result = None
    for _ in range(warmup):
        result = fn(*args, **kwargs)
    times = []
    for _ in range(repeats):
        _sync()
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        _sync()
        times.append(time.perf_counter() - t0)
    return Timing(times, result)


def ratio(method: Timing | float, baseline: Timing | float) -> float:
    """How many times slower ``method`` is than ``baseline`` (median over median; < 1 = faster)."""
    m = method.median if isinstance(method, Timing) else float(method)
    b = baseline.median if isinstance(baseline, Timing) else float(baseline)
    if b <= 0:
        raise ValueError(f"baseline time must be positive, got {b}")
    return m / b


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self):
        _sync()
        self._t0 = time.perf_counter()
        self.seconds = float("nan")
        return self

    def __exit__(self, *exc):
        _sync()
        self.seconds = time.perf_counter() - self._t0
        return False


class Progress:
    """One console line per finished seed or stage of a long run, with elapsed time and an estimate
    of what is left: ``[progress] seed 2/5 done: 8.1 min elapsed, about 12.2 min left``. The runner
    echoes these lines on its console (the executed notebook keeps them as plain text, no
    widget)."""

    def __init__(self, total: int, what: str = "seed"):
        if total < 1:
            raise ValueError(f"Progress needs a positive total, got {total}")
        self.total, self.what, self.done, self.t0 = int(total), what, 0, time.time()

    def step(self, label: str = "") -> str:
        self.done += 1
        elapsed = time.time() - self.t0
        left = elapsed / self.done * (self.total - self.done)
        line = (
            f"[progress] {self.what} {self.done}/{self.total}{' (' + label + ')' if label else ''} "
            f"done: {elapsed / 60:.1f} min elapsed, about {left / 60:.1f} min left"
        )
        print(line, flush=True)
        return line
