"""Regression checks that hold on any x86 machine.

A chapter's small run is the book's regression test: nbval re-executes it and compares the outputs
of the cells tagged ``nbval-check-output``. A trained model's third digit moves with the CPU's
float path (AVX-512 vs AVX2 vs no SIMD), so those cells print *bands* instead of raw numbers::

    print(regression.report(
        regression.band("HMHN test MAE", mae_hmhn, expected=8.8, tol=1.5),
        regression.below("HMHN test MAE", mae_hmhn, "mean predictor", mae_mean),
    ))

prints ``ok   HMHN test MAE in 8.8 ± 1.5`` on every machine whose run lands in the band, and
``FAIL HMHN test MAE = 10.9, outside 8.8 ± 1.5`` otherwise, so nbval shows the value that moved.
The full numbers are displayed by an unchecked cell beside it. A band is wide enough for float-path
noise and narrow enough to catch a model that stopped learning; the chapter states both.

The float path itself is pinned too (``CPU_FLOAT_PATH``): the runner and ``make`` export the same
instruction-set caps, so AVX-512 and AVX2 machines take one path where the libraries allow it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Instruction-set caps for torch's ATen kernels, oneDNN and MKL, exported by the runner for every
# chapter kernel and by the Makefile for nbval (a test keeps the two in sync). AVX2 is the widest
# set every x86-64 machine of the last decade has; a machine without it falls back by itself.
CPU_FLOAT_PATH = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "AVX2",
}


def pin_float_path(environ) -> dict:
    """Set ``CPU_FLOAT_PATH`` in ``environ`` where the caller has not chosen otherwise; returns
    what is in force. Must run before torch is imported in the process that computes."""
    for key, value in CPU_FLOAT_PATH.items():
        environ.setdefault(key, value)
    return {key: environ[key] for key in CPU_FLOAT_PATH}


@dataclass(frozen=True)
class Check:
    """One regression check: its stable text when it holds, the measured value when it fails."""

    ok: bool
    holds: str  # printed when ok: must not contain the measured value
    fails: str  # printed when not ok: shows the measured value

    def __str__(self) -> str:
        return f"ok   {self.holds}" if self.ok else f"FAIL {self.fails}"


def _finite(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number, got {value!r}") from None
    return v


def band(name: str, value, expected: float, tol: float) -> Check:
    """``value`` lies within ``expected ± tol`` (a NaN never does)."""
    v = _finite(name, value)
    if not tol > 0:
        raise ValueError(f"{name}: tolerance must be positive, got {tol!r}")
    ok = math.isfinite(v) and abs(v - expected) <= tol
    return Check(
        ok, f"{name} in {expected:g} ± {tol:g}", f"{name} = {v:.4g}, outside {expected:g} ± {tol:g}"
    )


def below(name: str, value, bound_name: str, bound, margin: float = 0.0) -> Check:
    """``value`` < ``bound`` - ``margin`` (e.g. an error below the mean predictor's)."""
    v, b = _finite(name, value), _finite(bound_name, bound)
    ok = math.isfinite(v) and math.isfinite(b) and v < b - margin
    by = f" by more than {margin:g}" if margin else ""
    return Check(
        ok,
        f"{name} below {bound_name}{by}",
        f"{name} = {v:.4g} is not below {bound_name} = {b:.4g}{by}",
    )


def above(name: str, value, bound_name: str, bound, margin: float = 0.0) -> Check:
    """``value`` > ``bound`` + ``margin`` (e.g. an accuracy above chance)."""
    v, b = _finite(name, value), _finite(bound_name, bound)
    ok = math.isfinite(v) and math.isfinite(b) and v > b + margin
    by = f" by more than {margin:g}" if margin else ""
    return Check(
        ok,
        f"{name} above {bound_name}{by}",
        f"{name} = {v:.4g} is not above {bound_name} = {b:.4g}{by}",
    )


def report(*checks: Check) -> str:
    """One line per check, in the order given."""
    if not checks:
        raise ValueError("report() needs at least one check")
    for c in checks:
        if not isinstance(c, Check):
            raise TypeError(
                f"report() takes Check objects (band, below, above), got {type(c).__name__}"
            )
    return "\n".join(str(c) for c in checks)
