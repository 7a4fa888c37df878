"""Formatting-insensitive maintenance: ``resync`` of executed notebooks, the syntax-tree code hash,
and the ruff configuration that ``make lint`` applies."""

import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from neurovis import resync as rs
from neurovis.core import results, sourcecode

SOURCE = textwrap.dedent('''\
    # %% [markdown]
    # # 98 — A probe chapter
    #
    # Two words, then a few more words on a line.

    # %% tags=["parameters"]
    scale = "small"; seed = 0

    # %%
    def f(x):
        """Twice ``x``."""
        return 2*x   # doubled
    values = [f(i) for i in range(3)]

    # %%
    import matplotlib.pyplot as plt
    plt.plot(values, label='values');
    ''')

FORMATTED = textwrap.dedent('''\
    # %% [markdown]
    # # 98 — A probe chapter
    #
    # Two words, then a few more
    # words on a line.

    # %% tags=["parameters"]
    scale = "small"
    seed = 0


    # %%
    def f(x):
        """Twice
        ``x``."""
        return 2 * x  # doubled


    values = [
        f(i)
        for i in range(3)
    ]

    # %%
    import matplotlib.pyplot as plt

    plt.plot(
        values,
        label="values",
    );
    ''')


def _executed(tmp_path: Path, source: str) -> Path:
    """A committed 'executed' notebook of ``source``: papermill's injected cell, outputs."""
    src = tmp_path / "98_probe.py"
    src.write_text(source)
    nb = rs_read(src)
    injected = nbformat.v4.new_code_cell('scale = "reference"')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(2, injected)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.execution_count = i
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"out {i}\n")]
            cell.metadata["papermill"] = {"duration": 0.1}
    path = tmp_path / "98_probe.ipynb"
    nbformat.write(nb, path)
    return path


def rs_read(path: Path):
    from neurovis.runner import read_source

    return read_source(path)


def _resync(tmp_path, old: str, new: str):
    path = _executed(tmp_path, old)
    before = path.read_text()
    new_src = tmp_path / "new.py"
    new_src.write_text(new)
    report = rs.resync_notebook(path, rs_read(new_src))
    return report, before, path


def test_resync_takes_a_formatting_only_change_and_keeps_the_outputs(tmp_path):
    report, before, path = _resync(tmp_path, SOURCE, FORMATTED)
    assert report.status == "updated" and report.cells == 4, str(report)
    old, new = nbformat.reads(before, as_version=4), nbformat.read(path, as_version=4)
    assert [c.get("outputs") for c in old.cells] == [c.get("outputs") for c in new.cells]
    layout = {"lines_to_next_cell"}  # jupytext's blank-line record follows the source
    assert [{k: v for k, v in c.metadata.items() if k not in layout} for c in old.cells] == [
        {k: v for k, v in c.metadata.items() if k not in layout} for c in new.cells
    ]
    assert [c.get("execution_count") for c in old.cells] == [
        c.get("execution_count") for c in new.cells
    ]
    assert new.cells[2].source == 'scale = "reference"'  # the injected cell stays as it ran
    assert new.cells[3].source.startswith("def f(x):") and "2 * x  # doubled" in new.cells[3].source
    from neurovis.runner import cells

    assert cells(new) == cells(rs_read(tmp_path / "new.py"))  # fresh for `neurovis check`
    # a second pass has nothing left to do
    assert rs.resync_notebook(path, rs_read(tmp_path / "new.py")).status == "unchanged"


@pytest.mark.parametrize(
    "old, new, why",
    [
        ("return 2*x", "return 3 * x", "cell 3 (code): the code differs"),
        ("Two words, then", "Two words, and then", "cell 1 (markdown): its words differ"),
        ("label='values');", "label='values')", "cell 4 (code): its trailing ';'"),
        ('tags=["parameters"]', "", "cell 2 (code): tags ['parameters'] became []"),
        (
            "# %%\nimport matplotlib",
            "import matplotlib",
            "3 cells in the source, 4 in the notebook",
        ),
    ],
)
def test_resync_refuses_any_other_change_and_leaves_the_notebook(tmp_path, old, new, why):
    assert old in SOURCE
    report, before, path = _resync(tmp_path, SOURCE, SOURCE.replace(old, new))
    assert report.status == "refused" and why in report.reason, str(report)
    assert path.read_text() == before


def test_a_trailing_semicolon_is_read_like_ipython():
    assert sourcecode.ends_with_semicolon("plt.plot(x);  # hidden\n\n")
    assert sourcecode.ends_with_semicolon("plt.plot(\n    x,\n);")
    assert not sourcecode.ends_with_semicolon("a = 1; b = 2")
    assert not sourcecode.ends_with_semicolon("s = ';'")
    assert not sourcecode.ends_with_semicolon("x  # ;")


def test_the_fingerprint_sees_code_not_layout():
    fp = sourcecode.fingerprint
    assert fp("x = f(a,b) # c\n") == fp("x = f(\n    a,\n    b,\n)\n")
    assert fp("s = 'ab' 'cd'") == fp('s = "abcd"')
    assert fp('def f():\n    """One\n    two."""\n') == fp('def f():\n    """One two."""\n')
    assert fp("x = 1.0") != fp("x = 1.5")
    assert fp("x = 1") != fp("y = 1")
    assert fp('def f():\n    """One two."""\n') != fp('def f():\n    """One three."""\n')
    cell = "!pip install x\nimport os, sys"
    assert fp(cell, ipython=True) == fp(cell.replace(", ", ",") + "  # c", ipython=True)
    assert fp(cell, ipython=True) != fp(cell.replace("x", "y"), ipython=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A minimal repository with one chapter: notebooks/98_probe.py and neurovis/probe/."""
    (tmp_path / "data").mkdir()
    (tmp_path / "notebooks").mkdir()
    pkg = tmp_path / "companion" / "neurovis" / "probe"
    pkg.mkdir(parents=True)
    (tmp_path / "notebooks" / "98_probe.py").write_text(SOURCE)
    (pkg / "model.py").write_text('"""A model."""\nGAIN = 2.0\ndef run(x): return GAIN*x  # go\n')
    monkeypatch.setenv("NEUROVIS_ROOT", str(tmp_path))
    return tmp_path


def test_code_hash_ignores_reformatting_and_sees_a_changed_constant(repo):
    model = repo / "companion" / "neurovis" / "probe" / "model.py"
    before = results.code_hash("98_probe")
    assert before != "unknown"
    (repo / "notebooks" / "98_probe.py").write_text(FORMATTED)
    model.write_text('"""A model."""\n\nGAIN = 2.0\n\n\ndef run(x):\n    return GAIN * x\n')
    assert results.code_hash("98_probe") == before
    model.write_text('"""A model."""\n\nGAIN = 2.5\n\n\ndef run(x):\n    return GAIN * x\n')
    assert results.code_hash("98_probe") != before


def test_rehash_migrates_only_records_of_unchanged_code(repo):
    out = repo / "results"
    out.mkdir()
    legacy = results.legacy_code_hash("98_probe")
    for name, code_hash in [("98_probe.small.json", legacy), ("98_probe.old.json", "0" * 16)]:
        rec = {"chapter": "98_probe", "provenance": {"code_hash": code_hash}}
        (out / name).write_text(json.dumps(rec, indent=2))
    lines = results.rehash_records(out)
    assert any("98_probe.small.json: migrated" in line for line in lines)
    assert any("98_probe.old.json: STALE" in line for line in lines)
    rec = json.loads((out / "98_probe.small.json").read_text())
    assert rec["provenance"]["code_hash"] == results.code_hash("98_probe") != legacy
    assert not results.is_stale(rec)
    assert (
        json.loads((out / "98_probe.old.json").read_text())["provenance"]["code_hash"] == "0" * 16
    )


def test_a_tuning_record_ignores_the_notebook_but_sees_the_package(repo, monkeypatch):
    monkeypatch.setenv("NEUROVIS_RESULTS_DIR", str(repo / "results"))
    path = results.save_tuning("98_probe", {"chosen": {"gain": 2.0}}, data="probe set")
    rec = results.load_tuning("98_probe")
    assert path.name == "98_probe.tuning.json" and rec["kind"] == "tuning"
    assert rec["provenance"]["code_scope"] == "package" and not results.is_stale(rec)
    (repo / "notebooks" / "98_probe.py").write_text(SOURCE + "\n# %%\nprint('another cell')\n")
    assert not results.is_stale(rec)  # the search did not run the notebook
    model = repo / "companion" / "neurovis" / "probe" / "model.py"
    model.write_text(model.read_text().replace("2.0", "2.5"))
    assert results.is_stale(rec)


def test_the_tuning_command_line_runs_the_search_at_the_scale_asked_and_saves_it(
    repo, monkeypatch, capsys
):
    monkeypatch.setenv("NEUROVIS_RESULTS_DIR", str(repo / "results"))
    calls = []

    def tune(scale, device):
        calls.append((scale, str(device)))
        return {"chosen": {"gain": 3.0}, "duration_s": 1.5}

    path = results.tuning_cli("98_probe", tune, "probe set", ["--scale", "reference"])
    assert calls == [("reference", "cpu")] and path.name == "98_probe.tuning.json"
    rec = results.load_tuning("98_probe")
    assert rec["chosen"] == {"gain": 3.0} and rec["provenance"]["data"] == "probe set"
    assert "{'gain': 3.0} ->" in capsys.readouterr().out
    results.tuning_cli("98_probe", tune, "probe set", [], default_scale="small")
    assert calls[-1][0] == "small"
    with pytest.raises(SystemExit):
        results.tuning_cli("98_probe", tune, "probe set", ["--scale", "paper"])


def test_rehash_rescopes_a_tuning_record_only_when_its_commit_had_todays_package(repo):
    import subprocess

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    same = git("rev-parse", "--short=12", "HEAD")
    full = results.code_hash("98_probe")  # the old scope: notebook and package
    model = repo / "companion" / "neurovis" / "probe" / "model.py"
    model.write_text(model.read_text().replace("2.0", "2.5"))
    git("commit", "-q", "-am", "two")
    other = git("rev-parse", "--short=12", "HEAD")
    model.write_text(model.read_text().replace("2.5", "2.0"))  # today's package = commit one's
    (repo / "notebooks" / "98_probe.py").write_text(SOURCE + "\n# %%\nprint('another cell')\n")
    assert results.code_hash("98_probe") != full  # the notebook changed after the search
    out = repo / "results"
    out.mkdir()
    for name, commit in [("a", same), ("b", other), ("c", same + "+dirty")]:
        rec = {
            "chapter": "98_probe",
            "kind": "tuning",
            "provenance": {"commit": commit, "code_hash": full},
        }
        (out / f"98_probe.{name}.json").write_text(json.dumps(rec, indent=2) + "\n")
    lines = "\n".join(results.rehash_records(out))
    assert "98_probe.a.json: rescoped" in lines
    assert "98_probe.b.json: STALE" in lines and "98_probe.c.json: STALE" in lines
    a = json.loads((out / "98_probe.a.json").read_text())
    assert a["provenance"]["code_scope"] == "package" and not results.is_stale(a)
    assert a["provenance"]["code_hash"] == results.package_hash_at("98_probe", same)
    assert results.is_stale(json.loads((out / "98_probe.b.json").read_text()))


def test_the_ruff_rule_set_is_stated_and_covers_the_chapter_sources():
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[2]
    conf = tomllib.loads((root / "companion" / "pyproject.toml").read_text())["tool"]["ruff"]
    assert conf["line-length"] == 100 and conf["lint"]["select"]
    assert tomllib.loads((root / "ruff.toml").read_text())["extend"] == "companion/pyproject.toml"
    assert "lint" in (root / "Makefile").read_text().split("\ntest:")[1].split("\n")[0]


# ------------------------------------------------------------------ python -m neurovis format
CHAPTER = (
    "# %% [markdown]\n# # 98 — A probe\n#\n# A paragraph of prose that is far too long for one "
    "line of the chapter source, with `inline code that stays whole` and $a + b$ math, then more "
    "words to wrap.\n# - a list item whose text is long enough to need a second line, continued "
    "with the same hanging indent\n\n# %%\nimport os\nx = {'a':1}  # a trailing comment that makes "
    "this line much longer than the limit of one hundred characters\nmessage = f'{x} is a long "
    "message, said once, that needs splitting into two adjacent string literals "
    "{os.sep}'\nprint(message);\n\n# %%\nif x:\n    print(message, message, message, message, "
    "message, message, message, message, message, m);\n"
)


def _ruff_available():
    import subprocess
    import sys

    return (
        subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True).returncode
        == 0
    )


@pytest.mark.skipif(not _ruff_available(), reason="ruff is not installed")
def test_format_shortens_lines_keeps_the_tree_the_words_and_the_trailing_semicolons(tmp_path):
    from neurovis import tidy
    from neurovis.runner import cells

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "ruff.toml").write_text("line-length = 100\n")
    path = tmp_path / "notebooks" / "98_probe.py"
    path.write_text(CHAPTER)
    before = rs_read(path)
    assert tidy.tidy_file(path, tmp_path) == []
    text = path.read_text()
    assert max(len(line) for line in text.split("\n")) <= 100
    assert sourcecode.fingerprint(text) == sourcecode.fingerprint(CHAPTER)
    assert tidy.quiet_cells(text) == tidy.quiet_cells(CHAPTER) == [1, 2]
    assert "`inline code that stays whole`" in text and "$a + b$" in text
    assert "\n#   indent\n" in text or "\n#   " in text  # the list item keeps its hanging indent
    assert "#   " in text.split("# - a list item")[1].split("\n")[1]
    after = rs_read(path)
    for (kind, old), (_, new) in zip(cells(before), cells(after)):
        assert (old.split() == new.split()) if kind == "markdown" else True
    # and the executed notebook takes it as formatting only
    report, _, _ = _resync(tmp_path, CHAPTER, text)
    assert report.status == "updated", str(report)
    assert tidy.tidy_file(path, tmp_path) == [] and path.read_text() == text  # idempotent


def test_format_leaves_a_file_whose_tree_would_change(tmp_path, monkeypatch):
    from neurovis import tidy

    path = tmp_path / "m.py"
    path.write_text("x = 1\n")
    monkeypatch.setattr(tidy, "_ruff_format", lambda p, root: p.write_text("x = 2\n"))
    assert "left unchanged" in tidy.tidy_file(path, tmp_path)[0]
    assert path.read_text() == "x = 1\n"


def test_words_keep_inline_code_and_math_whole():
    from neurovis.tidy import words

    assert words("a ``b c`` $d + e$ `f g` h") == ["a", "``b c``", "$d + e$", "`f g`", "h"]
    assert words("cost $5 only") == ["cost", "$5", "only"]  # unbalanced: plain words
