"""The results recorder and the "paper vs ours" table.

A chapter records its key metrics once per run::

    results.save("11_restoration", scale, {"denoise_psnr_msgsrc": 30.1, ...},
                 paper={"denoise_psnr_msgsrc": (30.62, "Table 1, Set12 mean")},
                 data="Set12 (embedded, real)")

into ``book/results/<chapter>.<scale>.json`` with provenance (git commit, date, machine, CPU,
device, duration, data, a hash of the chapter's code). A run with seeds and claims uses
``save_evidence`` instead: metrics as {mean, sd, n, values} over seeds, and each claim's effect,
95% CI and verdict (``core.claims``). ``table()`` reads those files and renders paper | ours (this
run) | ours (reference, mean ± sd) | ours at paper scale | notes. ``NEUROVIS_RESULTS_DIR`` redirects
writes: the runner points it at a staging folder and moves the file beside its notebook only when
the chapter succeeded, so a scratch run never rewrites the committed files.
"""

from __future__ import annotations

import hashlib
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
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "companion", "notebooks"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
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
        if not (
            isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)
        ):
            raise TypeError(
                f"metric {key!r}: expected a number, a string or a list of numbers, got "
                f"{type(value).__name__}"
            )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"metric {key!r} is {value}: a non-finite result is a bug, not a result")


def save(
    chapter: str,
    scale: str,
    metrics: dict,
    paper: dict | None = None,
    data: str = "",
    notes: dict | None = None,
    device=None,
    duration_s: float | None = None,
) -> Path:
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
        value, source = v if isinstance(v, (tuple, list)) else (v, "")
        paper_rows[k] = {"value": value, "source": source}
    record = {
        "chapter": chapter,
        "scale": scale,
        "metrics": {
            k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
            for k, v in metrics.items()
        },
        "paper": paper_rows,
        "notes": dict(notes or {}),
        "provenance": _provenance(device, duration_s, data, chapter),
    }
    return _write(record, f"{chapter}.{scale}.json")


def record_performance(
    chapter: str,
    scale: str,
    task: str,
    method: str,
    baseline: str,
    method_time,
    baseline_time,
    quality: tuple | None = None,
) -> Path:
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
        raise FileNotFoundError(
            f"{name}: no results recorded for {chapter} at scale={scale!r}; call results.save first"
        )
    t_m, t_b = (float(getattr(t, "median", t)) for t in (method_time, baseline_time))
    if not (t_m > 0 and t_b > 0 and math.isfinite(t_m) and math.isfinite(t_b)):
        raise ValueError(
            f"{chapter}/{task}: times must be positive and finite, got {t_m} and {t_b}"
        )
    entry = {
        "task": task,
        "method": method,
        "baseline": baseline,
        "method_s": t_m,
        "baseline_s": t_b,
        "time_ratio": t_m / t_b,
    }
    if quality is not None:
        metric, q_m, q_b, higher = quality
        _check_metric(metric, q_m)
        _check_metric(metric, q_b)
        entry["quality"] = {
            "metric": metric,
            "method": float(q_m),
            "baseline": float(q_b),
            "higher_is_better": bool(higher),
        }
    record["performance"] = [e for e in record.get("performance", []) if e["task"] != task] + [
        entry
    ]
    return _write(record, name)


def save_benchmark(
    chapter: str, metrics: dict, data: str = "", device=None, duration_s=None
) -> Path:
    """Write a chapter's benchmark (``python -m neurovis bench``) to ``<chapter>.bench.json``."""
    for k, v in metrics.items():
        _check_metric(k, v)
    record = {
        "chapter": chapter,
        "kind": "benchmark",
        "metrics": {k: float(v) for k, v in metrics.items()},
        "provenance": _provenance(device, duration_s, data),
    }
    return _write(record, f"{chapter}.bench.json")


def load_benchmark(chapter: str) -> dict | None:
    """The record written by ``save_benchmark`` or None."""
    return _read(f"{chapter}.bench.json")


DATA_KINDS = ("real", "generated", "real + generated")


def save_evidence(
    chapter: str,
    scale: str,
    evidence,
    claims=(),
    paper: dict | None = None,
    data: str = "",
    notes: dict | None = None,
    settings: dict | None = None,
    device=None,
    duration_s: float | None = None,
    data_kind: str | None = None,
) -> Path:
    """Write ``<chapter>.<scale>.json`` from a ``claims.Evidence``: ``seeds``, ``metrics``
    ({name: {mean, sd, n, values}}), ``claims`` (each evaluated: effect, ci, n, verdict),
    ``paper``, ``notes`` and ``provenance`` (with ``settings``: what differs from ``small``, and
    ``data_kind``: real, generated, or real + generated, shown by the claims ledger)."""
    check_scale(scale)
    if data_kind is not None and data_kind not in DATA_KINDS:
        raise ValueError(f"{chapter}: data_kind must be one of {DATA_KINDS}, got {data_kind!r}")
    summary = evidence.summary()
    if not summary:
        raise ValueError(f"{chapter}: no metrics to save")
    try:  # evaluate_all checks the claims' type (core.claims imports this module, not vice versa)
        evaluated = evidence.evaluate_all(list(claims))
    except TypeError as e:
        raise TypeError(f"{chapter}: {e}") from None
    paper_rows = {}
    for k, v in (paper or {}).items():
        value, source = v if isinstance(v, (tuple, list)) else (v, "")
        paper_rows[k] = {"value": value, "source": source}
    prov = _provenance(device, duration_s, data, chapter)
    prov["settings"] = dict(settings or {})
    if data_kind:
        prov["data_kind"] = data_kind
    record = {
        "chapter": chapter,
        "scale": scale,
        "seeds": evidence.seeds,
        "metrics": summary,
        "claims": evaluated,
        "paper": paper_rows,
        "notes": dict(notes or {}),
        "provenance": prov,
    }
    return _write(record, f"{chapter}.{scale}.json")


def metric_value(m):
    """The number of a recorded metric: a plain value, or the mean of a {mean, sd, ...} record."""
    return m["mean"] if isinstance(m, dict) else m


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _chapter_files(chapter: str, notebook: bool = True):
    """(repository root, the chapter's code files), or (None, []) without a clone.
    ``notebook=False``: the sub-package alone (the code a tuning search runs)."""
    from .data import repo_root

    try:
        root = repo_root()
    except Exception:  # Colab pip install without a clone
        return None, []
    topic = chapter.split("_", 1)[-1]
    files = [root / "notebooks" / f"{chapter}.py"] if notebook else []
    files += sorted((root / "companion" / "neurovis" / topic).rglob("*.py"))
    return root, [f for f in files if f.is_file()]


def _hash_sources(sources) -> str:
    """sha256 (16 hex) over (relative path, source text) pairs, each source as its syntax tree."""
    from .sourcecode import fingerprint

    h = hashlib.sha256()
    for rel, text in sources:
        try:
            data = fingerprint(text).encode()
        except (SyntaxError, ValueError):  # not parseable: its bytes
            data = text.encode("utf-8", "surrogateescape")
        h.update(rel.encode() + b"\0" + data + b"\0")
    return h.hexdigest()[:16]


def code_hash(chapter: str, notebook: bool = True) -> str:
    """sha256 (16 hex) of the chapter's code: ``notebooks/<chapter>.py`` and its sub-package
    ``companion/neurovis/<topic>/``, each file as its syntax tree (``sourcecode.fingerprint``:
    reformatting, comments and docstring wrapping do not count, any change of the code does). A
    results file whose hash differs from today's is stale. ``notebook=False`` hashes the
    sub-package alone: the scope of a tuning record (``save_tuning``)."""
    root, files = _chapter_files(chapter, notebook)
    if not files:
        return "unknown"
    sources = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            text = f.read_bytes().decode("utf-8", "surrogateescape")
        sources.append((f.relative_to(root).as_posix(), text))
    return _hash_sources(sources)


def package_hash_at(chapter: str, commit: str) -> str | None:
    """``code_hash(chapter, notebook=False)`` of the sub-package as committed at ``commit`` (read
    with git), or None when git cannot read it."""
    from .data import repo_root

    topic = chapter.split("_", 1)[-1]
    try:
        root = repo_root()
        git = ["git", "-C", str(root)]
        listing = subprocess.run(
            git + ["ls-tree", "-r", "--name-only", commit, f"companion/neurovis/{topic}/"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        rels = sorted((p for p in listing if p.endswith(".py")), key=lambda p: root / p)
        sources = []
        for rel in rels:
            blob = subprocess.run(
                git + ["show", f"{commit}:{rel}"], capture_output=True, timeout=30, check=True
            ).stdout
            sources.append((rel, blob.decode("utf-8", "surrogateescape")))
    except (OSError, subprocess.SubprocessError):
        return None
    return _hash_sources(sources) if sources else None


def legacy_code_hash(chapter: str) -> str:
    """The hash of the files' bytes that ``code_hash`` gave before it read syntax trees (kept to
    migrate records: ``python -m neurovis rehash``)."""
    root, files = _chapter_files(chapter)
    if not files:
        return "unknown"
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def rehash_records(directory: Path | None = None, chapters=None, write: bool = True) -> list[str]:
    """Migrate the results files in ``directory`` (default ``book/results``) to today's
    ``code_hash``: a record whose hash is the byte hash (``legacy_code_hash``) of the chapter's code
    as it is now gets the syntax-tree hash of the same code; a record with neither hash was made
    from other code (stale) and is left as it is. ``chapters``: only these (default: all). Returns
    one line per file with a hash. Run it before reformatting code that such records hash."""
    directory = Path(directory) if directory else results_dir(for_reading=True)
    lines = []
    for path in sorted(directory.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        prov = record.get("provenance") if isinstance(record, dict) else None
        if not isinstance(prov, dict) or "code_hash" not in prov:
            continue
        chapter = record.get("chapter") or path.name.split(".")[0]
        if chapters and chapter not in chapters:
            continue
        recorded, now = prov["code_hash"], _record_hash_now({**record, "chapter": chapter})
        if recorded == now:
            lines.append(f"{path.name}: up to date ({now})")
        elif record.get("kind") == "tuning" and "code_scope" not in prov:
            lines.append(_rescope_tuning(path, chapter, prov, write))
        elif recorded == legacy_code_hash(chapter) and now != "unknown":
            if write:
                text = path.read_text()
                needle = f'"code_hash": "{recorded}"'
                if text.count(needle) != 1:
                    raise RuntimeError(f"{path}: expected one {needle}")
                path.write_text(text.replace(needle, f'"code_hash": "{now}"'))
            lines.append(f"{path.name}: migrated {recorded} -> {now}")
        else:
            lines.append(
                f"{path.name}: STALE, left as it is (recorded {recorded}; the code "
                f"now gives {legacy_code_hash(chapter)} as bytes, {now} as syntax)"
            )
    return lines


def _record_hash_now(record: dict) -> str:
    """Today's code hash in the record's scope: the sub-package alone for a tuning record saved
    by ``save_tuning`` (``code_scope: "package"``), else notebook and sub-package."""
    prov = record.get("provenance", {})
    return code_hash(record["chapter"], notebook=prov.get("code_scope") != "package")


def _rescope_tuning(path: Path, chapter: str, prov: dict, write: bool) -> str:
    """A tuning record saved before ``save_tuning`` hashed the notebook too. It gets the
    package-only scope when its (clean) commit's sub-package has today's package hash: the search
    then ran exactly today's code."""
    commit, now = str(prov.get("commit", "")), code_hash(chapter, notebook=False)
    if not commit or commit.endswith("+dirty") or commit == "unknown":
        return f"{path.name}: STALE, left as it is (made at {commit or 'no commit'}: not checkable)"
    then = package_hash_at(chapter, commit)
    if then != now or now == "unknown":
        return (
            f"{path.name}: STALE, left as it is (the package at {commit} hashes to {then}, "
            f"today {now})"
        )
    if write:
        text = path.read_text()
        needle = f'"code_hash": "{prov["code_hash"]}"'
        if text.count(needle) != 1:
            raise RuntimeError(f"{path}: expected one {needle}")
        indent = text[: text.index(needle)].rsplit("\n", 1)[-1]
        path.write_text(
            text.replace(needle, f'"code_hash": "{now}",\n{indent}"code_scope": "package"')
        )
    return (
        f"{path.name}: rescoped to its package ({prov['code_hash']} -> {now}; "
        f"the package is as at {commit})"
    )


def is_stale(record: dict) -> bool:
    """True when the chapter's code changed after ``record`` was made (or the record has no
    hash). A tuning record looks only at the code its search ran (its sub-package)."""
    recorded = record.get("provenance", {}).get("code_hash")
    now = _record_hash_now(record)
    return recorded is None or recorded == "unknown" or (now != "unknown" and recorded != now)


def _provenance(
    device, duration_s, data, chapter: str | None = None, notebook: bool = True
) -> dict:
    prov = {
        "commit": _git_commit(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "cpu": _cpu_model(),
        "device": _device_name(device),
        "duration_s": round(duration_s if duration_s is not None else time.time() - _T0, 1),
        "data": data,
    }
    if chapter:
        prov["code_hash"] = code_hash(chapter, notebook)
        if not notebook:
            prov["code_scope"] = "package"
    return prov


def save_tuning(
    chapter: str, record: dict, data: str, device=None, duration_s=None, **extra
) -> Path:
    """Write a tuning search's ``record`` to ``<results>/<chapter>.tuning.json`` (``kind:
    "tuning"``; ``extra`` keys go before the record's). Its code hash covers the chapter's
    sub-package only (``code_scope: "package"``): the search runs package code, so an edit of the
    notebook does not make the chosen values stale, while any change of the package does."""
    prov = _provenance(device, duration_s, data, chapter, notebook=False)
    body = {"chapter": chapter, "kind": "tuning", **extra, **record, "provenance": prov}
    out = results_dir()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{chapter}.tuning.json"
    path.write_text(json.dumps(body, indent=2, default=_json_default) + "\n")
    return path


def tuning_cli(chapter: str, tune, data: str, argv=None, default_scale: str = "small") -> Path:
    """The command line of a chapter's validation search (``python -m neurovis.<topic>.tuning
    [--scale small|reference] [--device cpu|cuda]``): runs ``tune(scale, device=...)`` and writes
    its record with ``save_tuning`` (``data`` says which splits it read)."""
    import argparse

    from .device import choose_device

    ap = argparse.ArgumentParser(description=f"{chapter}: the validation search")
    ap.add_argument("--scale", default=default_scale, choices=("small", "reference"))
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    dev = choose_device(args.device)
    rec = tune(args.scale, device=dev)
    path = save_tuning(chapter, rec, data=data, device=dev, duration_s=rec.get("duration_s"))
    print(rec.get("chosen"), "->", path)
    return path


def _json_default(v):
    """numpy scalars as numbers, anything else as its string."""
    try:
        return v.item()
    except AttributeError:
        return str(v)


def load_tuning(chapter: str) -> dict | None:
    """The chapter's tuning record (write folder first, then book/results), or None."""
    return _read(f"{chapter}.tuning.json")


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
                raise ValueError(
                    f"{path}: not valid JSON ({e}); delete it or rerun the chapter"
                ) from e
    return None


def _fmt(v, decimals):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{decimals}f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x, decimals) for x in v)
    return str(v)


def _fmt_metric(m, decimals):
    """A plain value, or mean ± sd (n) of a seeds record."""
    if isinstance(m, dict):
        if m.get("n", 1) > 1:
            return f"{m['mean']:.{decimals}f} ± {m['sd']:.{decimals}f} (n={m['n']})"
        return _fmt(m["mean"], decimals)
    return _fmt(m, decimals)


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
        raise FileNotFoundError(
            f"no results recorded for {chapter} at scale={scale!r}; call results.save first"
        )
    at_paper = load(chapter, "paper") if scale != "paper" else None
    at_ref = load(chapter, "reference") if scale != "reference" else None
    ref_col = "ours (reference, mean ± sd)"
    if at_ref:
        prov = at_ref["provenance"]
        ref_col = (
            f"ours (reference, {len(at_ref.get('seeds', []))} seeds, {prov['date'][:10]}"
            f"{', stale' if is_stale(at_ref) else ''})"
        )
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
        rows.append(
            {
                "metric": (labels or {}).get(k, k),
                "paper (reported)": paper_val,
                ours_col: _fmt_metric(run["metrics"].get(k), decimals),
                ref_col: _fmt_metric(at_ref["metrics"].get(k), decimals)
                if at_ref
                else "not run yet",
                paper_scale_col: _fmt_metric(at_paper["metrics"].get(k), decimals)
                if at_paper
                else "not run yet",
                "notes": run["notes"].get(k, ""),
            }
        )
    df = pd.DataFrame(rows).set_index("metric")
    df.attrs["data"] = run["provenance"]["data"]
    return df
