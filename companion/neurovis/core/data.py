"""Where data lives: embedded sets under ``data/embedded/``, full sets under a user's data root.

Every failure names the data set, what was expected where, and how to obtain it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


class DataNotFoundError(FileNotFoundError):
    """A data set (or part of it) is not where the chapter expects it."""


class DataIntegrityError(ValueError):
    """An embedded file does not match the checksum recorded in ``data/registry.yaml``."""


def repo_root() -> Path:
    """The book's repository root (the folder holding ``data/registry.yaml`` and ``_toc.yml``).

    ``NEUROVIS_ROOT`` wins; otherwise search upwards from the working directory, then from this
    file (an editable install lives inside the repository).
    """
    env = os.environ.get("NEUROVIS_ROOT")
    if env:
        root = Path(env).expanduser().resolve()
        if not (root / "data").is_dir():
            raise DataNotFoundError(f"NEUROVIS_ROOT={env}: no data/ folder there; point it at the book's repository")
        return root
    for start in (Path.cwd(), Path(__file__).resolve()):
        for cand in (start, *start.parents):
            if (cand / "data" / "registry.yaml").is_file() and (cand / "companion").is_dir():
                return cand
    raise DataNotFoundError(
        "cannot find the book's repository (a folder with data/registry.yaml and companion/) above "
        f"{Path.cwd()}; run from inside a clone or set NEUROVIS_ROOT")


def registry() -> dict:
    """The parsed ``data/registry.yaml``."""
    import yaml

    path = repo_root() / "data" / "registry.yaml"
    with open(path) as f:
        reg = yaml.safe_load(f) or {}
    if "datasets" not in reg or not isinstance(reg["datasets"], dict):
        raise DataIntegrityError(f"{path}: expected a top-level 'datasets:' mapping")
    return reg


def embedded_path(name: str, *parts: str) -> Path:
    """Path of embedded data set ``name`` (``data/embedded/<name>/<parts...>``); must exist."""
    base = repo_root() / "data" / "embedded" / name
    path = base.joinpath(*parts)
    if not path.exists():
        raise DataNotFoundError(
            f"embedded data set {name!r}: {path} does not exist. The embedded data ship with the "
            f"repository (data/embedded/{name}/, see its SOURCE.md); is this a complete clone?")
    return path


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify_embedded(name: str) -> int:
    """Check every file of embedded set ``name`` against its sha256 in the registry.

    Returns the number of files checked; raises DataIntegrityError naming each mismatching or
    missing file, and each file present on disk but absent from the registry.
    """
    entry = registry()["datasets"].get(name)
    if entry is None or entry.get("kind") != "embedded":
        raise DataNotFoundError(f"data/registry.yaml has no embedded data set named {name!r}")
    base = repo_root() / entry["path"]
    recorded: dict = entry.get("files") or {}
    problems = []
    for rel, digest in recorded.items():
        p = base / rel
        if not p.is_file():
            problems.append(f"{p}: missing")
        elif sha256(p) != digest:
            problems.append(f"{p}: sha256 {sha256(p)[:12]}... differs from the registry's {digest[:12]}...")
    on_disk = {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file() and p.name != "SOURCE.md"}
    for rel in sorted(on_disk - set(recorded)):
        problems.append(f"{base / rel}: not listed in data/registry.yaml (run `python -m neurovis data --update`)")
    if problems:
        raise DataIntegrityError(f"embedded data set {name!r} does not match data/registry.yaml:\n  "
                                 + "\n  ".join(problems))
    return len(recorded)


def update_registry_checksums() -> dict[str, int]:
    """Rewrite the ``files:`` sha256 lists of every embedded set from disk (maintainers only)."""
    import yaml

    path = repo_root() / "data" / "registry.yaml"
    reg = registry()
    counts = {}
    for name, entry in reg["datasets"].items():
        if entry.get("kind") != "embedded":
            continue
        base = repo_root() / entry["path"]
        files = sorted(p for p in base.rglob("*") if p.is_file() and p.name != "SOURCE.md")
        entry["files"] = {str(p.relative_to(base)): sha256(p) for p in files}
        counts[name] = len(files)
    with open(path, "w") as f:
        yaml.safe_dump(reg, f, sort_keys=False, width=120)
    return counts


def require_data_root(data_root, dataset: str, expected: list[str], how_to_get: str) -> Path:
    """Resolve the folder holding full data set ``dataset`` for ``scale="paper"`` runs.

    ``data_root`` (or ``NEUROVIS_DATA_ROOT``) must contain every relative path in ``expected``;
    otherwise a DataNotFoundError lists what is missing, the expected layout and ``how_to_get``.
    """
    root = data_root if data_root is not None else os.environ.get("NEUROVIS_DATA_ROOT")
    layout = "\n    ".join(expected)
    if root is None:
        raise DataNotFoundError(
            f"{dataset}: scale='paper' needs the full data set; pass data_root=... (or set "
            f"NEUROVIS_DATA_ROOT) to a folder laid out as:\n    {layout}\nHow to get it: {how_to_get}")
    root = Path(root).expanduser()
    missing = [rel for rel in expected if not (root / rel).exists()]
    if missing:
        raise DataNotFoundError(
            f"{dataset}: under data_root={root} these are missing: {missing}. Expected layout:\n    "
            f"{layout}\nHow to get it: {how_to_get}")
    return root
