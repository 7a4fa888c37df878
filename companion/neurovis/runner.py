"""The book runner: jupytext -> papermill -> executed chapters, one failure never stops the rest.

``python -m neurovis run [CHAPTER ...] --scale small|paper --data-root DIR --device D --out DIR``
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

PLOTLY_RENDERER = "plotly_mimetype+notebook_connected"


@dataclass
class ChapterRun:
    chapter: str
    status: str = "pending"          # ok | failed | skipped
    seconds: float = 0.0
    cpu_seconds: float = 0.0          # CPU time of the chapter's kernel: robust to other jobs sharing the cores
    output: str = ""
    log: str = ""
    error: str = ""
    failing_cell: str = ""
    results: dict = field(default_factory=dict)


def list_chapters(root: Path) -> list[str]:
    """Chapter slugs: the ``notebooks/NN_slug.py`` sources, in book order."""
    return sorted(p.stem for p in (root / "notebooks").glob("[0-9][0-9]_*.py"))


def read_source(path: Path):
    """The chapter source as an nbformat notebook with a python3 kernelspec (TOOLCHAIN pitfall 1)."""
    import jupytext

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.pop("jupytext", None)
    return nb


def _failing_cell(nb) -> str:
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return cell.source[:400]
    return ""


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (the chapter kernels)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_chapter(root: Path, chapter: str, scale: str, out_dir: Path, log_dir: Path, data_root=None,
                device: str = "auto", timeout: int | None = None) -> ChapterRun:
    """Execute one chapter. The output notebook replaces the old one only if execution succeeded;
    a failed run is kept under ``<log_dir>/failed/`` with its log."""
    import papermill as pm

    rec = ChapterRun(chapter)
    src = root / "notebooks" / f"{chapter}.py"
    if not src.is_file():
        rec.status, rec.error = "failed", f"{src}: no such chapter source"
        return rec
    out_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "failed").mkdir(exist_ok=True)
    log_path = log_dir / f"{chapter}.{scale}.log"
    tmp_out = log_dir / f"{chapter}.{scale}.running.ipynb"
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    pm_logger = logging.getLogger("papermill")
    pm_logger.addHandler(handler)
    pm_logger.setLevel(logging.INFO)
    params = {"scale": scale, "device": device}
    if data_root is not None:
        params["data_root"] = str(data_root)
    t0, cpu0 = time.time(), _children_cpu()
    try:
        nb = read_source(src)
        pm.execute_notebook(nb, str(tmp_out), parameters=params, kernel_name="python3", log_output=True,
                            progress_bar=False, cwd=str(out_dir), execution_timeout=timeout)
        final = out_dir / f"{chapter}.ipynb"
        os.replace(tmp_out, final)
        rec.status, rec.output = "ok", str(final)
    except Exception as exc:  # noqa: BLE001 - any failure of one chapter is reported, not raised
        rec.status = "failed"
        rec.error = f"{type(exc).__name__}: {str(exc).strip()[-2000:]}"
        if tmp_out.exists():
            import nbformat
            failed = log_dir / "failed" / f"{chapter}.{scale}.ipynb"
            os.replace(tmp_out, failed)
            rec.output = str(failed)
            try:
                rec.failing_cell = _failing_cell(nbformat.read(failed, as_version=4))
            except Exception:
                pass
        with open(log_path, "a") as f:
            f.write("\n" + traceback.format_exc())
    finally:
        pm_logger.removeHandler(handler)
        handler.close()
    rec.seconds = round(time.time() - t0, 1)
    rec.cpu_seconds = round(_children_cpu() - cpu0, 1)
    rec.log = str(log_path)
    if rec.status == "ok":
        from .core import results
        saved = results.load(chapter, scale)
        if saved:
            rec.results = saved["metrics"]
    return rec


def run(chapters: list[str] | None = None, scale: str = "small", data_root=None, device: str = "auto",
        out: str | Path | None = None, root: Path | None = None, skip_fresh: bool = False,
        timeout: int | None = None) -> list[ChapterRun]:
    """Execute chapters, print and save a summary (``<log dir>/summary.<scale>.json``)."""
    from .core.data import repo_root
    from .core.scale import check_scale

    check_scale(scale)
    root = Path(root) if root else repo_root()
    known = list_chapters(root)
    chapters = chapters or known
    unknown = [c for c in chapters if c not in known]
    if unknown:
        raise SystemExit(f"unknown chapter(s) {unknown}; known: {known}")
    committed = (root / "book" / "chapters").resolve()
    if out is None:
        out_dir = committed if scale == "small" else root / "_build" / "paper_runs"
    else:
        out_dir = Path(out)
    if scale == "paper" and out_dir.resolve() == committed:
        raise SystemExit("--scale paper must not write over the committed small chapters in book/chapters; "
                         "choose another --out")
    log_dir = root / "_build" / "runs"
    os.environ["PLOTLY_RENDERER"] = PLOTLY_RENDERER
    os.environ["NEUROVIS_ROOT"] = str(root)
    # one CPU thread per kernel unless asked otherwise: reproducible floats (nbval compares them) and no
    # OpenMP spin-waiting when other work shares the cores; GPU runs are unaffected
    os.environ.setdefault("NEUROVIS_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # threads sleep instead of spinning when cores are shared
    os.environ.setdefault("NEUROVIS_PROGRESS", "0")       # no per-step progress widgets in executed chapters
    from .core.regression import pin_float_path
    pin_float_path(os.environ)     # one float path on every x86 machine (Makefile exports the same for nbval)
    runs = []
    for ch in chapters:
        final = out_dir / f"{ch}.ipynb"
        src = root / "notebooks" / f"{ch}.py"
        if skip_fresh and final.is_file() and final.stat().st_mtime >= src.stat().st_mtime:
            runs.append(ChapterRun(ch, status="skipped", output=str(final)))
            print(f"[skip] {ch}: {final} is newer than its source", flush=True)
            continue
        print(f"[run ] {ch} (scale={scale})", flush=True)
        rec = run_chapter(root, ch, scale, out_dir, log_dir, data_root, device, timeout)
        runs.append(rec)
        if out_dir.resolve() == committed:      # recorded chapter by chapter: an interrupted run keeps its times
            record_runtimes(root, scale, [rec])
        msg = f"[{'ok' if rec.status == 'ok' else 'FAIL'}] {ch}: {rec.seconds:.0f} s"
        if rec.status != "ok":
            msg += f" — {rec.error.splitlines()[0] if rec.error else ''} (log: {rec.log})"
        print(msg, flush=True)
    summary = log_dir / f"summary.{scale}.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps([asdict(r) for r in runs], indent=2))
    print_summary(runs)
    print(f"summary: {summary}")
    return runs


def record_runtimes(root: Path, scale: str, runs: list[ChapterRun]) -> Path:
    """Merge the wall time of each successful chapter run into ``book/results/runtimes.<scale>.json``
    (with machine, threads and date): the performance page's whole-book table."""
    import platform
    from datetime import datetime, timezone

    path = root / "book" / "results" / f"runtimes.{scale}.json"
    table = json.loads(path.read_text()) if path.is_file() else {}
    for r in runs:
        if r.status == "ok":
            table[r.chapter] = {"seconds": r.seconds, "cpu_seconds": r.cpu_seconds,
                                "load_avg": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
                                "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                                "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
                                "threads": int(os.environ.get("NEUROVIS_THREADS", "0") or 0)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(table.items())), indent=2) + "\n")
    return path


def print_summary(runs: list[ChapterRun]):
    print("\nchapter              status   minutes  CPU min  key results")
    for r in runs:
        keys = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in list(r.results.items())[:3])
        print(f"{r.chapter:<20} {r.status:<8} {r.seconds / 60:>7.1f}  {r.cpu_seconds / 60:>7.1f}  {keys}")
    failed = [r.chapter for r in runs if r.status == "failed"]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")


def code_cells(nb) -> list[str]:
    """Source of the code cells, without papermill's injected parameters cell."""
    return [c.source.strip() for c in nb.cells
            if c.cell_type == "code" and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


def cells(nb) -> list[tuple[str, str]]:
    """(cell type, source) of every cell, markdown and code, in order, without papermill's injected
    parameters cell; metadata and outputs do not count."""
    return [(c.cell_type, c.source.strip()) for c in nb.cells
            if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


def _first_difference(executed: list, source: list) -> str:
    """Where two cell lists first differ, in words (cells counted from 1, as in the source)."""
    for i, (a, b) in enumerate(zip(executed, source), 1):
        if a != b:
            kind = a[0] if a[0] == b[0] else f"{b[0]}, was {a[0]}"
            return f"cell {i} ({kind}) differs"
    if len(executed) != len(source):
        return f"{len(source)} cells in the source, {len(executed)} executed"
    return "no difference"


def check_fresh(root: Path | None = None) -> list[str]:
    """Problems with the executed chapters: missing, stale (a markdown or code cell differs from
    the source, or cells were added, removed or reordered), or holding an error output. An empty
    list means the book is fresh."""
    import nbformat
    from .core.data import repo_root

    root = Path(root) if root else repo_root()
    problems = []
    for ch in list_chapters(root):
        executed = root / "book" / "chapters" / f"{ch}.ipynb"
        if not executed.is_file():
            problems.append(f"{executed}: missing; run `python -m neurovis run {ch}`")
            continue
        nb = nbformat.read(executed, as_version=4)
        ran, src = cells(nb), cells(read_source(root / "notebooks" / f"{ch}.py"))
        if ran != src:
            problems.append(f"{executed}: its cells differ from notebooks/{ch}.py "
                            f"({_first_difference(ran, src)}); re-execute it")
        if _failing_cell(nb):
            problems.append(f"{executed}: holds an error output")
    for nb_path in sorted((root / "book" / "chapters").glob("*.ipynb")):
        if nb_path.stem not in list_chapters(root):
            problems.append(f"{nb_path}: no source notebooks/{nb_path.stem}.py")
    return problems


def build(root: Path | None = None, strict: bool = True) -> int:
    """``jupyter-book build`` of the committed chapters into ``_build/html``."""
    import subprocess
    from .core.data import repo_root

    root = Path(root) if root else repo_root()
    exe = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    cmd = [exe, "build", "--all", str(root), "--path-output", str(root)]
    if strict:
        cmd += ["-W", "--keep-going"]
    rc = subprocess.call(cmd)
    if rc == 0:
        print(f"book: {root / '_build' / 'html' / 'index.html'}")
    return rc
