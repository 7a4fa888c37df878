"""``python -m neurovis resync``: carry a formatting-only change of the chapter sources into the
committed executed notebooks, without executing them again.

For each chapter, each committed notebook (``book/chapters/NN_x.ipynb`` and, where there is one,
``book/runs/reference/NN_x.ipynb``) takes the cell sources of ``notebooks/NN_x.py`` only when the
change is provably formatting only, cell by cell:

- the same number of cells, of the same kinds, in the same order (papermill's injected parameters
  cell aside, which is kept as it is), with the same tags and the same source metadata;
- a code cell: the same syntax tree (``core.sourcecode.fingerprint``: layout, comments and
  docstring wrapping aside) and the same trailing ``;`` (which hides the cell's value);
- a markdown cell: the same words (``old.split() == new.split()``).

Otherwise the notebook is left unchanged and the first difference is reported (chapter, notebook,
cell number counted from 1 as in the source). Outputs, execution counts and metadata are never
touched: a resynced notebook shows exactly what it showed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# metadata that execution adds to a cell (papermill, nbclient, Jupyter): not in the source
_RUN_METADATA = {"papermill", "execution", "ExecuteTime", "scrolled", "collapsed", "jupyter"}
# jupytext's record of the source's layout (blank lines between cells): copied, never compared
_LAYOUT_METADATA = {"lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker"}


@dataclass
class Resync:
    notebook: Path
    status: str  # "unchanged" | "updated" | "refused"
    reason: str = ""
    cells: int = 0  # cells whose source changed

    def __str__(self) -> str:
        if self.status == "updated":
            return f"{self.notebook}: updated {self.cells} cell(s) (formatting only)"
        if self.status == "refused":
            return f"{self.notebook}: REFUSED, left unchanged: {self.reason}"
        return f"{self.notebook}: unchanged"


def _injected(cell) -> bool:
    return "injected-parameters" in cell.get("metadata", {}).get("tags", [])


def _same_code(old: str, new: str) -> str:
    """'' when two code cells differ in layout only, else why not."""
    from .core.sourcecode import ends_with_semicolon, fingerprint, python_of_cell

    try:
        same_tree = fingerprint(old, ipython=True) == fingerprint(new, ipython=True)
    except SyntaxError as e:
        return f"does not parse ({e.msg}, line {e.lineno})"
    if not same_tree:
        return "the code differs (not only its layout)"
    if ends_with_semicolon(python_of_cell(old)) != ends_with_semicolon(python_of_cell(new)):
        return "its trailing ';' (which hides the cell's value) was added or removed"
    return ""


def _same_metadata(executed, source) -> str:
    skip = _RUN_METADATA | _LAYOUT_METADATA
    old = {k: v for k, v in executed.get("metadata", {}).items() if k not in skip}
    new = {k: v for k, v in source.get("metadata", {}).items() if k not in skip}
    if old.get("tags", []) != new.get("tags", []):
        return f"tags {old.get('tags', [])} became {new.get('tags', [])}"
    old.pop("tags", None)
    new.pop("tags", None)
    if old != new:
        return f"cell metadata {old} became {new}"
    return ""


def _layout(cell) -> dict:
    return {k: v for k, v in cell.get("metadata", {}).items() if k in _LAYOUT_METADATA}


def compare(executed_nb, source_nb) -> tuple[list[tuple[int, object]], str]:
    """(the (index in the executed notebook, source cell) pairs to copy, '') when every difference
    is formatting only, else ([], the first reason to refuse)."""
    ran = [(i, c) for i, c in enumerate(executed_nb.cells) if not _injected(c)]
    src = [c for c in source_nb.cells if not _injected(c)]
    if len(ran) != len(src):
        return [], f"{len(src)} cells in the source, {len(ran)} in the notebook"
    changes = []
    for n, ((i, old), new) in enumerate(zip(ran, src), 1):
        if old.cell_type != new.cell_type:
            return [], f"cell {n} is {new.cell_type} in the source, {old.cell_type} in the notebook"
        why = _same_metadata(old, new)
        if not why and old.source != new.source:
            if old.cell_type == "code":
                why = _same_code(old.source, new.source)
            elif old.source.split() != new.source.split():
                why = "its words differ"
        if not why and (old.source != new.source or _layout(old) != _layout(new)):
            changes.append((i, new))
        if why:
            return [], f"cell {n} ({old.cell_type}): {why}"
    return changes, ""


def resync_notebook(path: Path, source_nb, write: bool = True) -> Resync:
    """Resync one executed notebook with ``source_nb`` (a ``runner.read_source`` notebook)."""
    import nbformat

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    changes, why = compare(nb, source_nb)
    if why:
        return Resync(path, "refused", why)
    if not changes:
        return Resync(path, "unchanged")
    for i, new in changes:
        cell = nb.cells[i]
        cell.source = new.source
        for key in _LAYOUT_METADATA:
            cell.metadata.pop(key, None)
        cell.metadata.update(_layout(new))
    if write:
        out = nbformat.writes(nb).rstrip("\n")  # the file's own ending, so the diff is the sources
        path.write_text(out + text[len(text.rstrip("\n")) :], encoding="utf-8")
    return Resync(path, "updated", cells=len(changes))


def executed_notebooks(root: Path, chapter: str) -> list[Path]:
    """The committed executed notebooks of a chapter: the small run and the reference run."""
    paths = [root / "book" / "chapters" / f"{chapter}.ipynb"]
    paths.append(root / "book" / "runs" / "reference" / f"{chapter}.ipynb")
    return [p for p in paths if p.is_file()]


def resync(chapters: list[str] | None = None, root: Path | None = None, write: bool = True):
    """Resync the committed notebooks of ``chapters`` (default: all); one ``Resync`` per
    notebook."""
    from .core.data import repo_root
    from .runner import list_chapters, read_source

    root = Path(root) if root else repo_root()
    reports = []
    for ch in chapters or list_chapters(root):
        source_nb = read_source(root / "notebooks" / f"{ch}.py")
        for path in executed_notebooks(root, ch):
            reports.append(resync_notebook(path, source_nb, write=write))
    return reports
