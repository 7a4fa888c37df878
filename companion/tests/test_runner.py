"""The papermill runner: failure isolation, kept outputs, summaries, freshness check."""
import json
import os

import nbformat
import pytest

from neurovis import runner

OK = '''# %% tags=["parameters"]
scale = "small"
device = "auto"
# %%
print("chapter", scale, device)
'''
BAD = OK + '''# %%
raise RuntimeError("boom in cell 3")
'''


@pytest.fixture
def book(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROVIS_ROOT", str(tmp_path))
    monkeypatch.setenv("NEUROVIS_RESULTS_DIR", str(tmp_path / "results"))
    (tmp_path / "companion").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "registry.yaml").write_text("datasets: {}\n")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book" / "chapters").mkdir(parents=True)
    for name, src in [("01_first", OK), ("02_broken", BAD), ("03_third", OK)]:
        (tmp_path / "notebooks" / f"{name}.py").write_text(src)
    return tmp_path


def test_failing_chapter_is_reported_and_the_next_still_runs(book, capsys):
    old = book / "book" / "chapters" / "02_broken.ipynb"
    old.write_text("previous good output")
    runs = runner.run(root=book)
    status = {r.chapter: r.status for r in runs}
    assert status == {"01_first": "ok", "02_broken": "failed", "03_third": "ok"}
    broken = next(r for r in runs if r.chapter == "02_broken")
    assert "boom in cell 3" in broken.error
    assert "raise RuntimeError" in broken.failing_cell
    assert os.path.isfile(broken.log) and os.path.isfile(broken.output)
    # the previously executed chapter is kept, not replaced by the failed run
    assert old.read_text() == "previous good output"
    summary = json.loads((book / "_build" / "runs" / "summary.small.json").read_text())
    assert [s["status"] for s in summary] == ["ok", "failed", "ok"]
    assert "FAILED: 02_broken" in capsys.readouterr().out
    # the successful chapters' wall and kernel CPU time are recorded for the performance page
    times = json.loads((book / "book" / "results" / "runtimes.small.json").read_text())
    assert sorted(times) == ["01_first", "03_third"]
    assert all(t["seconds"] > 0 and 0 < t["cpu_seconds"] <= 4 * t["seconds"] and t["threads"] == 1 for t in times.values())
    # parameters are injected by papermill into the output only, never into the source
    nb = nbformat.read(book / "book" / "chapters" / "01_first.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert "injected" not in (book / "notebooks" / "01_first.py").read_text()
    # --skip-fresh resumes: executed chapters are skipped, the failed one is retried
    runs = runner.run(root=book, skip_fresh=True, chapters=["01_first", "03_third"])
    assert [r.status for r in runs] == ["skipped", "skipped"]


def test_paper_scale_never_writes_over_the_committed_chapters(book):
    with pytest.raises(SystemExit, match="must not write over"):
        runner.run(scale="paper", out=book / "book" / "chapters", root=book)


def test_unknown_chapter_is_refused(book):
    with pytest.raises(SystemExit, match="unknown chapter"):
        runner.run(chapters=["99_nope"], root=book)


def test_freshness_check_flags_stale_and_missing_chapters(book):
    runner.run(chapters=["01_first"], root=book)
    problems = runner.check_fresh(book)
    assert not any("01_first" in p for p in problems)
    assert any("03_third.ipynb: missing" in p for p in problems)
    (book / "notebooks" / "01_first.py").write_text(OK + "# %%\nprint('new cell')\n")
    assert any("01_first.ipynb: its cells differ" in p for p in runner.check_fresh(book))


PROSE = '''# %% [markdown]
# The claim: **A beats B**.

# %% tags=["parameters"]
scale = "small"

# %%
print("chapter", scale)
'''


def _executed(book, src):
    (book / "notebooks" / "01_first.py").write_text(src)
    runner.run(chapters=["01_first"], root=book)
    assert not any("01_first" in p for p in runner.check_fresh(book))


def test_freshness_check_flags_an_edited_markdown_cell(book):
    _executed(book, PROSE)
    (book / "notebooks" / "01_first.py").write_text(PROSE.replace("A beats B", "B beats A"))
    problems = [p for p in runner.check_fresh(book) if "01_first" in p]
    assert len(problems) == 1 and "cell 1 (markdown) differs" in problems[0], problems


def test_freshness_check_flags_reordered_and_retyped_cells(book):
    _executed(book, PROSE)
    md, params, code = PROSE.split("\n\n# %%")
    swapped = "\n\n# %%".join([md, code.rstrip("\n"), params]) + "\n"
    (book / "notebooks" / "01_first.py").write_text(swapped)
    assert any("01_first.ipynb: its cells differ" in p for p in runner.check_fresh(book))
    # the same text, but the markdown cell turned into a code cell (of comments)
    (book / "notebooks" / "01_first.py").write_text(PROSE.replace("# %% [markdown]\n", "# %%\n"))
    problems = [p for p in runner.check_fresh(book) if "01_first" in p]
    assert problems and "cell 1 (code, was markdown) differs" in problems[0], problems


def test_freshness_check_ignores_outputs_metadata_and_the_injected_parameters(book):
    _executed(book, PROSE)
    path = book / "book" / "chapters" / "01_first.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    for c in nb.cells:
        c.metadata["collapsed"] = True
        if c.cell_type == "code":
            c.outputs = []
    nbformat.write(nb, path)
    assert not any("01_first" in p for p in runner.check_fresh(book))
