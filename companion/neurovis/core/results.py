"""The results recorder and the "paper vs ours" table.

A chapter records its key metrics once per run::

    results.save("11_restoration", scale, {"denoise_psnr_msgsrc": 30.1, ...},
                 paper={"denoise_psnr_msgsrc": (30.62, "Table 1, Set12 mean")},
                 data="Set12 (embedded, real)")

into ``book/results/<chapter>.<scale>.json`` with provenance (git commit, date, machine, device,
duration, data). ``table()`` reads those files and renders paper | ours (this run) | ours at paper
scale | notes. ``NEUROVIS_RESULTS_DIR`` redirects writes (tests and nbval use it so that a test run
never rewrites the committed files).
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from .scale import check_scale

_T0 = time.time()  # the chapter's first import of neurovis.core: the run's start


def results_dir(for_reading: bool = False) -> Path:
    env = os.environ.get("NEUROVIS_RESULTS_DIR")
    if env and not for_reading:
        return Path(env)
    from .data import repo_root
    return repo_root() / "book" / "results"


def _git_commit() -> str:
    try:
        from .data import repo_root
        root = repo_root()
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "companion", "notebooks"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha or "unknown") + ("+dirty" if dirty else "")
    except Exception:  # no git, or not a clone (Colab pip install)
        return "unknown"


def _device_name(device) -> str:
    if device is None:
        return "unspecified"
    name = str(device)
    if name.startswith("cuda"):
        try:
            import torch
            return f"{name} ({torch.cuda.get_device_name(0)})"
        except Exception:
            return name
    return name


def _check_metric(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        if not (isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)):
            raise TypeError(f"metric {key!r}: expected a number, a string or a list of numbers, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"metric {key!r} is {value}: a non-finite result is a bug, not a result")


def save(chapter: str, scale: str, metrics: dict, paper: dict | None = None, data: str = "",
         notes: dict | None = None, device=None, duration_s: float | None = None) -> Path:
    """Write ``<chapter>.<scale>.json``; returns its path.

    metrics: {name: value} from this run. paper: {name: (value, source)} the paper's reported
    figures for the same metrics (``None`` value where the paper has none). notes: {name: text}.
    """
    check_scale(scale)
    if not metrics:
        raise ValueError(f"{chapter}: no metrics to save")
    for k, v in metrics.items():
        _check_metric(k, v)
    paper_rows = {}
    for k, v in (paper or {}).items():
        value, source = (v if isinstance(v, (tuple, list)) else (v, ""))
        paper_rows[k] = {"value": value, "source": source}
    record = {
        "chapter": chapter,
        "scale": scale,
        "metrics": {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                    for k, v in metrics.items()},
        "paper": paper_rows,
        "notes": dict(notes or {}),
        "provenance": _provenance(device, duration_s, data),
    }
    return _write(record, f"{chapter}.{scale}.json")


def record_performance(chapter: str, scale: str, task: str, method: str, baseline: str, method_time,
                       baseline_time, quality: tuple | None = None) -> Path:
    """Add a same-run speed comparison to the chapter's results file (after ``save``); the book's
    performance page is generated from these entries.

    method_time / baseline_time: seconds or ``timing.Timing`` (its median) for the same work.
    quality: optional ``(metric, method value, baseline value, higher_is_better)`` from this run.
    Re-recording a ``task`` replaces its entry.
    """
    check_scale(scale)
    name = f"{chapter}.{scale}.json"
    record = _read(name)
    if record is None:
        raise FileNotFoundError(f"{name}: no results recorded for {chapter} at scale={scale!r}; call results.save first")
    t_m, t_b = (float(getattr(t, "median", t)) for t in (method_time, baseline_time))
    if not (t_m > 0 and t_b > 0 and math.isfinite(t_m) and math.isfinite(t_b)):
        raise ValueError(f"{chapter}/{task}: times must be positive and finite, got {t_m} and {t_b}")
    entry = {"task": task, "method": method, "baseline": baseline, "method_s": t_m, "baseline_s": t_b,
             "time_ratio": t_m / t_b}
    if quality is not None:
        metric, q_m, q_b, higher = quality
        _check_metric(metric, q_m)
        _check_metric(metric, q_b)
        entry["quality"] = {"metric": metric, "method": float(q_m), "baseline": float(q_b),
                            "higher_is_better": bool(higher)}
    record["performance"] = [e for e in record.get("performance", []) if e["task"] != task] + [entry]
    return _write(record, name)


def save_benchmark(chapter: str, metrics: dict, data: str = "", device=None, duration_s=None) -> Path:
    """Write a chapter's benchmark (``python -m neurovis bench``) to ``<chapter>.bench.json``."""
    for k, v in metrics.items():
        _check_metric(k, v)
    record = {"chapter": chapter, "kind": "benchmark", "metrics": {k: float(v) for k, v in metrics.items()},
              "provenance": _provenance(device, duration_s, data)}
    return _write(record, f"{chapter}.bench.json")


def load_benchmark(chapter: str) -> dict | None:
    """The record written by ``save_benchmark`` or None."""
    return _read(f"{chapter}.bench.json")


def _provenance(device, duration_s, data) -> dict:
    return {
        "commit": _git_commit(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "device": _device_name(device),
        "duration_s": round(duration_s if duration_s is not None else time.time() - _T0, 1),
        "data": data,
    }


def _write(record: dict, name: str) -> Path:
    out = results_dir()
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def load(chapter: str, scale: str) -> dict | None:
    """The saved record of ``chapter`` at ``scale`` or None. Looks in the write folder first."""
    check_scale(scale)
    return _read(f"{chapter}.{scale}.json")


def _read(name: str) -> dict | None:
    """A results file from the write folder, else from book/results; None if neither has it."""
    for folder in (results_dir(), results_dir(for_reading=True)):
        path = folder / name
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON ({e}); delete it or rerun the chapter") from e
    return None


def _fmt(v, decimals):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{decimals}f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x, decimals) for x in v)
    return str(v)


def table(chapter: str, scale: str = "small", labels: dict | None = None, decimals: int = 2):
    """The "paper vs ours" table (a pandas DataFrame) for ``chapter``.

    Rows: the metrics of this run's record (``labels`` maps metric keys to readable names, and
    also chooses and orders the rows when given). Columns: paper (value and source) | ours (this
    run, with data set) | ours at paper scale (from ``<chapter>.paper.json`` if present, with
    machine and date) | notes.
    """
    import pandas as pd

    run = load(chapter, scale)
    if run is None:
        raise FileNotFoundError(f"no results recorded for {chapter} at scale={scale!r}; call results.save first")
    at_paper = load(chapter, "paper") if scale != "paper" else None
    keys = list(labels) if labels else list(run["metrics"])
    ours_col = f"ours ({scale}, this run)"
    paper_scale_col = "ours (paper scale)"
    if at_paper:
        prov = at_paper["provenance"]
        paper_scale_col = f"ours (paper scale, {prov['device']}, {prov['date'][:10]})"
    rows = []
    for k in keys:
        p = run["paper"].get(k, {})
        paper_val = _fmt(p.get("value"), decimals)
        if p.get("source") and p.get("value") is not None:
            paper_val += f" ({p['source']})"
        rows.append({
            "metric": (labels or {}).get(k, k),
            "paper (reported)": paper_val,
            ours_col: _fmt(run["metrics"].get(k), decimals),
            paper_scale_col: _fmt(at_paper["metrics"].get(k), decimals) if at_paper else "not run yet",
            "notes": run["notes"].get(k, ""),
        })
    df = pd.DataFrame(rows).set_index("metric")
    df.attrs["data"] = run["provenance"]["data"]
    return df
