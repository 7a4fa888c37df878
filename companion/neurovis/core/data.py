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
            raise DataNotFoundError(
                f"NEUROVIS_ROOT={env}: no data/ folder there; point it at the book's repository"
            )
        return root
    for start in (Path.cwd(), Path(__file__).resolve()):
        for cand in (start, *start.parents):
            if (cand / "data" / "registry.yaml").is_file() and (cand / "companion").is_dir():
                return cand
    raise DataNotFoundError(
        "cannot find the book's repository (a folder with data/registry.yaml and companion/) above "
        f"{Path.cwd()}; run from inside a clone or set NEUROVIS_ROOT"
    )


_REGISTRY_CACHE: dict = {}


def registry() -> dict:
    """The parsed ``data/registry.yaml`` (a fresh copy; the parse is cached while the file is
    unchanged, as the registry holds a sha256 per embedded file)."""
    import copy

    import yaml

    path = repo_root() / "data" / "registry.yaml"
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if _REGISTRY_CACHE.get("key") != key:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(path) as f:
            reg = yaml.load(f, Loader=loader) or {}
        if "datasets" not in reg or not isinstance(reg["datasets"], dict):
            raise DataIntegrityError(f"{path}: expected a top-level 'datasets:' mapping")
        _REGISTRY_CACHE.update(key=key, reg=reg)
    return copy.deepcopy(_REGISTRY_CACHE["reg"])


def embedded_path(name: str, *parts: str, verify: bool = True) -> Path:
    """Path of embedded data set ``name`` (``data/embedded/<name>/<parts...>``); must exist.

    On the first use of a set in the process, every file of the set is checked against its sha256
    in ``data/registry.yaml`` (``verify_embedded``; cached per process, about a second for all
    sets): an altered file stops the chapter with a DataIntegrityError naming it, instead of
    loading silently. ``verify=False`` skips the check (maintainers rebuilding a set).
    """
    base = repo_root() / "data" / "embedded" / name
    path = base.joinpath(*parts)
    if not path.exists():
        raise DataNotFoundError(
            f"embedded data set {name!r}: {path} does not exist. The embedded data ship with the "
            f"repository (data/embedded/{name}/, see its SOURCE.md); is this a complete clone?"
        )
    if verify:
        ensure_verified(name)
    return path


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _embedded_entry(name: str) -> tuple[str, dict]:
    """(registry key, entry) of embedded set ``name``: a registry key, or the folder name under
    ``data/embedded/`` (the registry's ``stanford-cars-trucks`` is ``data/embedded/trucks``)."""
    sets = registry()["datasets"]
    entry = sets.get(name)
    if entry is not None and entry.get("kind") == "embedded":
        return name, entry
    for key, e in sets.items():
        where = Path(e.get("path", "")).as_posix()
        if e.get("kind") == "embedded" and where == f"data/embedded/{name}":
            return key, e
    raise DataNotFoundError(
        f"data/registry.yaml has no embedded data set named {name!r} (nor one "
        f"at data/embedded/{name}), so its files cannot be checked"
    )


def verify_embedded(name: str) -> int:
    """Check every file of embedded set ``name`` (a registry key or its folder name) against its
    sha256 in the registry.

    Returns the number of files checked; raises DataIntegrityError naming each mismatching or
    missing file (with the expected and the found sha256), each file present on disk but absent
    from the registry, and how to restore the set.
    """
    key, entry = _embedded_entry(name)
    root = repo_root()
    rel_base = Path(entry["path"]).as_posix()
    base = root / rel_base
    recorded: dict = entry.get("files") or {}
    problems = []
    for rel, digest in recorded.items():
        p = base / rel
        if not p.is_file():
            problems.append(f"{rel_base}/{rel}: missing")
            continue
        found = sha256(p)
        if found != digest:
            problems.append(f"{rel_base}/{rel}: altered (sha256 expected {digest}, found {found})")
    on_disk = (
        {
            p.relative_to(base).as_posix()
            for p in base.rglob("*")
            if p.is_file() and p.name != "SOURCE.md"
        }
        if base.is_dir()
        else set()
    )
    for rel in sorted(on_disk - set(recorded)):
        problems.append(
            f"{rel_base}/{rel}: not listed in data/registry.yaml (remove it; a "
            "maintainer adding files runs `python -m neurovis data --update`)"
        )
    if problems:
        raise DataIntegrityError(
            f"embedded data set {key!r} ({rel_base}) does not match data/registry.yaml "
            f"({len(problems)} of {len(recorded)} files):\n  "
            + "\n  ".join(problems)
            + f"\nRestore it from the repository: `git checkout -- {rel_base}` in {root} "
            "(a copy without git: download the repository again)."
        )
    return len(recorded)


_VERIFIED: dict[tuple[str, str], int] = {}


def ensure_verified(name: str) -> int:
    """``verify_embedded(name)`` once per process and repository root (a success is cached; a
    failure raises every time). Returns the number of files checked."""
    key = (str(repo_root()), name)
    if key not in _VERIFIED:
        _VERIFIED[key] = verify_embedded(name)
    return _VERIFIED[key]


def verify_all_embedded() -> dict[str, int | Exception]:
    """Every embedded set of the registry checked: {name: number of files, or the error}."""
    out: dict[str, int | Exception] = {}
    for name, entry in registry()["datasets"].items():
        if entry.get("kind") != "embedded":
            continue
        try:
            out[name] = verify_embedded(name)
        except (DataIntegrityError, DataNotFoundError) as e:
            out[name] = e
    return out


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
    # under the runner (`python -m neurovis run`) the reader typed --data-root, not data_root=...
    option = "--data-root" if os.environ.get("NEUROVIS_RUNNER") == "1" else "data_root"
    if root is None:
        how = "pass --data-root DIR" if option == "--data-root" else "pass data_root=..."
        raise DataNotFoundError(
            f"{dataset}: scale='paper' needs the full data set; {how} (or set NEUROVIS_DATA_ROOT) "
            f"to a folder laid out as:\n    {layout}\nHow to get it: {how_to_get}"
        )
    root = Path(root).expanduser()
    missing = [rel for rel in expected if not (root / rel).exists()]
    if missing:
        raise DataNotFoundError(
            f"{dataset}: under {option} {root} these are missing: {missing}. Expected layout:\n    "
            f"{layout}\nHow to get it: {how_to_get}"
        )
    return root
