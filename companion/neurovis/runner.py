"""The book runner: jupytext -> papermill -> executed chapters, one failure never stops the rest.

``python -m neurovis run [CHAPTER ...] --scale small|reference|paper --data-root DIR --device D
--out DIR -j N``
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
    status: str = "pending"  # ok | failed | skipped
    seconds: float = 0.0
    # CPU time of the chapter's kernel: robust to other jobs sharing the cores
    cpu_seconds: float = 0.0
    output: str = ""
    log: str = ""
    error: str = ""
    failing_cell: str = ""
    results: dict = field(default_factory=dict)


def list_chapters(root: Path) -> list[str]:
    """Chapter slugs: the ``notebooks/NN_slug.py`` sources, in book order."""
    return sorted(p.stem for p in (root / "notebooks").glob("[0-9][0-9]_*.py"))


def read_source(path: Path):
    """The chapter source as an nbformat notebook with a python3 kernelspec (TOOLCHAIN pitfall
    1)."""
    import jupytext

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
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


# lines a chapter prints with ``timing.progress``: echoed on the console
PROGRESS_MARK = "[progress]"


class _ProgressEcho(logging.Handler):
    """Echo a chapter's ``[progress]`` lines (one per finished seed or stage) to the console."""

    def __init__(self, chapter: str):
        super().__init__()
        self.chapter = chapter

    def emit(self, record):
        for line in str(record.getMessage()).splitlines():
            if line.startswith(PROGRESS_MARK):
                print(f"[....] {self.chapter}: {line[len(PROGRESS_MARK) :].strip()}", flush=True)


def default_out(root: Path, scale: str) -> Path:
    """Where a scale's executed notebooks go by default: ``book/chapters`` (small, committed,
    nbval-checked), ``book/runs/reference`` (committed, not nbval-checked),
    ``_build/paper_runs``."""
    return {
        "small": root / "book" / "chapters",
        "reference": root / "book" / "runs" / "reference",
        "paper": root / "_build" / "paper_runs",
    }[scale]


def results_destination(root: Path, scale: str, out_dir: Path) -> Path:
    """Where a successful chapter's results files go: ``book/results`` when its notebook goes to
    the committed place of its scale (and always at paper scale: the chapter's paper column reads
    them), else ``<out>/results`` beside the scratch notebook."""
    if scale == "paper" or out_dir.resolve() == default_out(root, scale).resolve():
        return root / "book" / "results"
    return out_dir / "results"


def _error_text(exc: BaseException) -> str:
    """``ename: evalue`` of the exception that stopped a chapter (papermill's cell error when it was
    one), one line, without the traceback's art."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {' '.join(str(evalue).split())}"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"


def _first_code_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return ""


def run_chapter(
    root: Path,
    chapter: str,
    scale: str,
    out_dir: Path,
    log_dir: Path,
    data_root=None,
    device: str = "auto",
    timeout: int | None = None,
) -> ChapterRun:
    """Execute one chapter. The output notebook replaces the old one only if execution succeeded,
    and the results files it wrote (staged in ``_build/runs/staging``) move beside it at the same
    moment; a failed run is kept under ``<log_dir>/failed/`` with its log and staged results."""
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
    stage = log_dir / "staging" / f"{chapter}.{scale}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    echo = _ProgressEcho(chapter)
    pm_logger = logging.getLogger("papermill")
    pm_logger.addHandler(handler)
    pm_logger.addHandler(echo)
    pm_logger.setLevel(logging.INFO)
    pm_logger.propagate = False
    params = {"scale": scale, "device": device}
    if data_root is not None:
        params["data_root"] = str(data_root)
    saved_env = os.environ.get("NEUROVIS_RESULTS_DIR")
    os.environ["NEUROVIS_RESULTS_DIR"] = str(stage)  # the kernel inherits it: results are staged
    t0, cpu0 = time.time(), _children_cpu()
    try:
        nb = read_source(src)
        pm.execute_notebook(
            nb,
            str(tmp_out),
            parameters=params,
            kernel_name="python3",
            log_output=True,
            progress_bar=False,
            cwd=str(out_dir),
            execution_timeout=timeout,
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
        final = out_dir / f"{chapter}.ipynb"
        dest = results_destination(root, scale, out_dir)
        dest.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_out, final)
        for f in sorted(stage.glob("*.json")):
            os.replace(f, dest / f.name)
        rec.status, rec.output = "ok", str(final)
    # one chapter's failure (or an interrupt) is reported
    except BaseException as exc:  # noqa: BLE001
        rec.status = "failed"
        rec.error = _error_text(exc)
        if getattr(exc, "source", None):
            rec.failing_cell = str(exc.source)[:400]
        if tmp_out.exists():
            import nbformat

            failed = log_dir / "failed" / f"{chapter}.{scale}.ipynb"
            os.replace(tmp_out, failed)
            rec.output = str(failed)
            if not rec.failing_cell:
                try:
                    rec.failing_cell = _failing_cell(nbformat.read(failed, as_version=4))
                except Exception:
                    pass
        # nothing computed is lost: staged results kept with the failure
        if any(stage.glob("*.json")):
            kept = log_dir / "failed" / f"{chapter}.{scale}.results"
            shutil.rmtree(kept, ignore_errors=True)
            shutil.move(str(stage), str(kept))
        with open(log_path, "a") as f:
            f.write("\n" + traceback.format_exc())
        if isinstance(exc, KeyboardInterrupt):
            raise
    finally:
        if saved_env is None:
            os.environ.pop("NEUROVIS_RESULTS_DIR", None)
        else:
            os.environ["NEUROVIS_RESULTS_DIR"] = saved_env
        shutil.rmtree(stage, ignore_errors=True)
        pm_logger.removeHandler(handler)
        pm_logger.removeHandler(echo)
        handler.close()
    rec.seconds = round(time.time() - t0, 1)
    rec.cpu_seconds = round(_children_cpu() - cpu0, 1)
    rec.log = str(log_path)
    if rec.status == "ok":
        path = results_destination(root, scale, out_dir) / f"{chapter}.{scale}.json"
        if path.is_file():
            from .core.results import metric_value

            rec.results = {
                k: metric_value(v) for k, v in json.loads(path.read_text())["metrics"].items()
            }
    return rec


def _run_in_worker(args):
    """``run_chapter`` in a pool worker (``-j N``): the worker's own environment and cwd."""
    return run_chapter(*args)


def check_device(device: str) -> str:
    """Refuse, before any chapter runs, a device this machine does not have."""
    from .core.device import choose_device

    try:
        return str(choose_device(device))
    except ValueError as e:
        raise SystemExit(f"--device {device}: {e}") from None


def paper_data_problems(root: Path, chapter: str, data_root) -> list[str]:
    """What a paper-scale run of ``chapter`` misses under ``data_root`` (checked before any work):
    each required full data set of ``data/registry.yaml`` must have the top folders of its layout.
    Sets marked ``optional: true`` are reported by the chapter itself, never required."""
    import yaml

    reg = yaml.safe_load((root / "data" / "registry.yaml").read_text()) or {}
    problems = []
    for name, entry in (reg.get("datasets") or {}).items():
        chapters = [c.strip() for c in str(entry.get("chapter", "")).split(",")]
        if entry.get("kind") != "full" or chapter not in chapters or entry.get("optional"):
            continue
        if data_root is None:
            problems.append(
                f"DataNotFoundError: {name}: scale='paper' needs --data-root DIR (or "
                f"NEUROVIS_DATA_ROOT) holding {entry.get('expected_layout')}; "
                f"how to get it: {entry.get('how_to_get', 'see data/README.md')}"
            )
            continue
        tops = sorted(
            {
                str(rel).split("/")[0].split(",")[0].strip()
                for rel in entry.get("expected_layout", [])
            }
        )
        missing = [
            t
            for t in tops
            if t and "<" not in t and "{" not in t and not (Path(data_root) / t).exists()
        ]
        if missing:
            problems.append(
                f"DataNotFoundError: {name}: {', '.join(missing)} not found under --data-root "
                f"{data_root}; expected {entry.get('expected_layout')}; how to get it: "
                f"{entry.get('how_to_get', 'see data/README.md')}"
            )
    return problems


def run(
    chapters: list[str] | None = None,
    scale: str = "small",
    data_root=None,
    device: str = "auto",
    out: str | Path | None = None,
    root: Path | None = None,
    skip_fresh: bool = False,
    timeout: int | None = None,
    jobs: int = 1,
) -> list[ChapterRun]:
    """Execute chapters (``jobs`` at once, one thread each), print one line per chapter and a final
    table, and save a summary (``<log dir>/summary.<scale>.json``). The environment the chapter
    kernels get (threads, float path, ``NEUROVIS_RUNNER``...) is set for the run only: the caller's
    is restored afterwards."""
    saved = dict(os.environ)
    try:
        return _run(chapters, scale, data_root, device, out, root, skip_fresh, timeout, jobs)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _run(
    chapters, scale, data_root, device, out, root, skip_fresh, timeout, jobs
) -> list[ChapterRun]:
    from .core.data import repo_root
    from .core.scale import check_scale

    check_scale(scale)
    root = Path(root) if root else repo_root()
    known = list_chapters(root)
    chapters = chapters or known
    unknown = [c for c in chapters if c not in known]
    if unknown:
        raise SystemExit(f"unknown chapter(s) {unknown}; known: {known}")
    if jobs < 1:
        raise SystemExit(f"--jobs must be at least 1, got {jobs}")
    out_dir = Path(out).resolve() if out is not None else default_out(root, scale)
    for other in ("small", "reference"):
        if other != scale and out_dir == default_out(root, other).resolve():
            raise SystemExit(
                f"--scale {scale} must not write over the committed {other} chapters in "
                f"{default_out(root, other)}; choose another --out"
            )
    if device != "auto":
        check_device(device)
    # a relative data root means relative to where the user typed it, not to the kernel's folder
    if data_root is None and os.environ.get("NEUROVIS_DATA_ROOT"):
        os.environ["NEUROVIS_DATA_ROOT"] = str(
            Path(os.environ["NEUROVIS_DATA_ROOT"]).expanduser().resolve()
        )
    if data_root is not None:
        data_root = Path(data_root).expanduser().resolve()
    log_dir = root / "_build" / "runs"
    os.environ["PLOTLY_RENDERER"] = PLOTLY_RENDERER
    os.environ["NEUROVIS_ROOT"] = str(root)
    os.environ["NEUROVIS_RUNNER"] = "1"  # data errors then name --data-root
    # one CPU thread per kernel unless asked otherwise: reproducible floats (nbval compares them)
    # and no OpenMP spin-waiting when other work shares the cores; GPU runs are unaffected
    os.environ.setdefault("NEUROVIS_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", os.environ["NEUROVIS_THREADS"])
    # threads sleep instead of spinning when cores are shared
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # no per-step progress widgets in executed chapters
    os.environ.setdefault("NEUROVIS_PROGRESS", "0")
    from .core.regression import pin_float_path

    # one float path on every x86 machine (Makefile exports the same for nbval)
    pin_float_path(os.environ)
    for stale in log_dir.glob("*.running.ipynb"):  # left by a run that was killed
        stale.unlink()
    todo, runs = [], {}
    for ch in chapters:
        final = out_dir / f"{ch}.ipynb"
        src = root / "notebooks" / f"{ch}.py"
        if skip_fresh and final.is_file() and final.stat().st_mtime >= src.stat().st_mtime:
            runs[ch] = ChapterRun(ch, status="skipped", output=str(final))
            print(f"[skip] {ch}: {final} is newer than its source", flush=True)
            continue
        problems = (
            paper_data_problems(root, ch, data_root or os.environ.get("NEUROVIS_DATA_ROOT"))
            if scale == "paper"
            else []
        )
        if problems:
            runs[ch] = ChapterRun(ch, status="failed", error=problems[0])
            _print_done(runs[ch])
            continue
        todo.append(ch)
    args = [(root, ch, scale, out_dir, log_dir, data_root, device, timeout) for ch in todo]
    committed = out_dir == default_out(root, scale).resolve() and scale != "paper"
    t0 = time.time()

    def finished(rec: ChapterRun):
        runs[rec.chapter] = rec
        if committed:  # recorded chapter by chapter: an interrupted run keeps its times
            record_runtimes(root, scale, [rec])
        _print_done(rec)

    if jobs == 1 or len(args) <= 1:
        for a in args:
            print(f"[run ] {a[1]} (scale={scale})", flush=True)
            finished(run_chapter(*a))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        print(
            f"[run ] {len(args)} chapters, {jobs} at once (scale={scale}): {', '.join(todo)}",
            flush=True,
        )
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_run_in_worker, a): a[1] for a in args}
            for fut in as_completed(futures):
                try:
                    finished(fut.result())
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its chapter only
                    finished(ChapterRun(futures[fut], status="failed", error=_error_text(exc)))
    ordered = [runs[ch] for ch in chapters if ch in runs]
    summary = log_dir / f"summary.{scale}.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps([asdict(r) for r in ordered], indent=2))
    print_summary(ordered, wall=time.time() - t0)
    print(f"summary: {summary}")
    return ordered


def _print_done(rec: ChapterRun):
    if rec.status == "ok":
        print(
            f"[ok  ] {rec.chapter}: {rec.seconds:.0f} s wall, {rec.cpu_seconds:.0f} s CPU",
            flush=True,
        )
        return
    msg = f"[FAIL] {rec.chapter}: {rec.error}"
    if rec.failing_cell:
        msg += f"\n       in the cell starting: {_first_code_line(rec.failing_cell)}"
    if rec.log:
        msg += f"\n       log: {rec.log}"
    print(msg, flush=True)


def record_runtimes(root: Path, scale: str, runs: list[ChapterRun]) -> Path:
    """Merge the wall time of each successful chapter run into
    ``book/results/runtimes.<scale>.json`` (with machine, threads and date): the performance page's
    whole-book table."""
    import platform
    from datetime import datetime, timezone

    from .core.results import _cpu_model

    # small: the performance page's table; other scales: beside their executed notebooks
    path = (
        root / "book" / "results" / "runtimes.small.json"
        if scale == "small"
        else default_out(root, scale) / "runtimes.json"
    )
    table = json.loads(path.read_text()) if path.is_file() else {}
    for r in runs:
        if r.status == "ok":
            table[r.chapter] = {
                "seconds": r.seconds,
                "cpu_seconds": r.cpu_seconds,
                "load_avg": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
                "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
                "cpu": _cpu_model(),
                "threads": int(os.environ.get("NEUROVIS_THREADS", "0") or 0),
            }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(table.items())), indent=2) + "\n")
    return path


def print_summary(runs: list[ChapterRun], wall: float | None = None):
    print("\nchapter              status   wall min  CPU min  key results")
    for r in runs:
        keys = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in list(r.results.items())[:2]
        )
        print(
            f"{r.chapter:<20} {r.status:<8} {r.seconds / 60:>8.1f}  {r.cpu_seconds / 60:>7.1f}  "
            f"{keys}"
        )
    if wall is not None:
        print(
            f"{'all':<20} {'':<8} {wall / 60:>8.1f}  {sum(r.cpu_seconds for r in runs) / 60:>7.1f}"
        )
    failed = [r.chapter for r in runs if r.status == "failed"]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")


def code_cells(nb) -> list[str]:
    """Source of the code cells, without papermill's injected parameters cell."""
    return [
        c.source.strip()
        for c in nb.cells
        if c.cell_type == "code"
        and "injected-parameters" not in c.get("metadata", {}).get("tags", [])
    ]


def cells(nb) -> list[tuple[str, str]]:
    """(cell type, source) of every cell, markdown and code, in order, without papermill's injected
    parameters cell; metadata and outputs do not count."""
    return [
        (c.cell_type, c.source.strip())
        for c in nb.cells
        if "injected-parameters" not in c.get("metadata", {}).get("tags", [])
    ]


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
            problems.append(
                f"{executed}: its cells differ from notebooks/{ch}.py "
                f"({_first_difference(ran, src)}); re-execute it"
            )
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
