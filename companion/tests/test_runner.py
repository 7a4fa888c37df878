"""The papermill runner: failure isolation, kept outputs, summaries, freshness check."""

import json
import os

import nbformat
import pytest

from neurovis import runner

OK = """# %% tags=["parameters"]
scale = "small"
device = "auto"
# %%
print("chapter", scale, device)
"""
BAD = (
    OK
    + """# %%
raise RuntimeError("boom in cell 3")
"""
)


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
    assert all(
        t["seconds"] > 0 and 0 < t["cpu_seconds"] <= 4 * t["seconds"] and t["threads"] == 1
        for t in times.values()
    )
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


SAVES = """# %% tags=["parameters"]
scale = "small"
device = "auto"
data_root = None
seed = 0
# %%
import os
from neurovis.core import results
from neurovis.core.claims import Claim, Evidence
from neurovis.core.scale import seeds_for
from neurovis.core.timing import Progress
ev, prog = Evidence(), Progress(len(seeds_for(scale, seed)))
for s in seeds_for(scale, seed):
    ev.add(s, {"a": 1.0 + 0.1 * s, "b": 0.5 + 0.05 * s})
    prog.step()
CLAIMS = [Claim("a-beats-b", "a beats b", "Table 1", method="a", baseline="b")]
results.save_evidence("04_saves", scale, ev, CLAIMS, data="generated")
print("data_root", data_root, os.path.isabs(str(data_root)) if data_root else None)
"""
MISSING_DATA = (
    OK
    + """# %%
from neurovis.core import DataNotFoundError
raise DataNotFoundError("BSD68: under data_root=/x these are missing: ['BSD68']")
"""
)


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_console_line_names_the_error_and_the_failing_cell(book, capsys):
    (book / "notebooks" / "05_missing.py").write_text(MISSING_DATA)
    [rec] = runner.run(chapters=["05_missing"], root=book)
    out = capsys.readouterr().out
    assert rec.status == "failed"
    assert (
        "[FAIL] 05_missing: DataNotFoundError: BSD68: under data_root=/x these are missing" in out
    )
    assert "in the cell starting: from neurovis.core import DataNotFoundError" in out
    assert f"log: {rec.log}" in out
    assert not list((book / "_build" / "runs").glob("*.running.ipynb"))


def test_scratch_runs_leave_the_book_byte_identical_and_keep_their_results(
    book, tmp_path, monkeypatch
):
    (book / "notebooks" / "04_saves.py").write_text(SAVES)
    monkeypatch.delenv("NEUROVIS_RESULTS_DIR")
    runner.run(chapters=["04_saves"], root=book)  # the committed run
    committed = book / "book" / "results" / "04_saves.small.json"
    assert committed.is_file()
    before = _snapshot(book / "book")
    scratch = tmp_path / "scratch"
    [rec] = runner.run(chapters=["04_saves"], root=book, out=scratch)
    assert rec.status == "ok"
    assert _snapshot(book / "book") == before
    assert (scratch / "04_saves.ipynb").is_file() and (
        scratch / "results" / "04_saves.small.json"
    ).is_file()


def test_a_failing_chapter_keeps_the_committed_results_and_its_own(book, monkeypatch):
    monkeypatch.delenv("NEUROVIS_RESULTS_DIR")
    (book / "notebooks" / "04_saves.py").write_text(SAVES)
    runner.run(chapters=["04_saves"], root=book)
    committed = book / "book" / "results" / "04_saves.small.json"
    good = committed.read_bytes()
    (book / "notebooks" / "04_saves.py").write_text(SAVES + "# %%\nraise RuntimeError('late')\n")
    [rec] = runner.run(chapters=["04_saves"], root=book)
    assert rec.status == "failed"
    assert committed.read_bytes() == good  # not replaced: its notebook was not
    kept = book / "_build" / "runs" / "failed" / "04_saves.small.results" / "04_saves.small.json"
    assert kept.is_file()  # and nothing computed is lost


def test_reference_scale_writes_its_own_notebook_and_results_with_claims(book, monkeypatch, capsys):
    monkeypatch.delenv("NEUROVIS_RESULTS_DIR")
    (book / "notebooks" / "04_saves.py").write_text(SAVES)
    [rec] = runner.run(chapters=["04_saves"], root=book, scale="reference")
    assert rec.status == "ok", rec.error
    assert (book / "book" / "runs" / "reference" / "04_saves.ipynb").is_file()
    assert not (book / "book" / "chapters" / "04_saves.ipynb").exists()
    ref = json.loads((book / "book" / "results" / "04_saves.reference.json").read_text())
    assert ref["seeds"] == [0, 1, 2, 3, 4]
    assert ref["metrics"]["a"]["values"] == pytest.approx([1.0, 1.1, 1.2, 1.3, 1.4])
    [claim] = ref["claims"]
    assert claim["verdict"] == "reproduced" and claim["n"] == 5 and claim["ci"][0] > 0
    # one console line per finished seed, echoed from the kernel
    out = capsys.readouterr().out
    assert out.count("[....] 04_saves: seed ") == 5 and "seed 5/5 done" in out
    with pytest.raises(SystemExit, match="must not write over the committed small"):
        runner.run(scale="reference", out=book / "book" / "chapters", root=book)


def test_relative_data_root_is_resolved_from_where_it_was_typed(book, monkeypatch):
    (book / "notebooks" / "04_saves.py").write_text(SAVES)
    (book / "mydata").mkdir()
    monkeypatch.chdir(book)
    [rec] = runner.run(chapters=["04_saves"], root=book, data_root="mydata", out=book / "scratch")
    assert rec.status == "ok"
    nb = nbformat.read(book / "scratch" / "04_saves.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert f"data_root {book / 'mydata'} True" in text


def test_paper_scale_checks_data_before_any_work(book, capsys):
    (book / "data" / "registry.yaml").write_text(
        "datasets:\n  bsd68:\n    kind: full\n    chapter: 01_first\n    expected_layout: "
        "[BSD68/*.png]\n    how_to_get: testsets/BSD68 of DnCNN\n  extra:\n    kind: full\n    "
        "chapter: 01_first\n    optional: true\n    expected_layout: [Extra/x]\n"
    )
    [rec] = runner.run(chapters=["01_first"], root=book, scale="paper", data_root=book)
    assert rec.status == "failed" and rec.seconds == 0  # never started
    assert "bsd68: BSD68 not found under --data-root" in capsys.readouterr().out
    (book / "BSD68").mkdir()
    [rec] = runner.run(chapters=["01_first"], root=book, scale="paper", data_root=book)
    assert rec.status == "ok"  # the optional set is not required


def test_an_absent_device_is_refused_before_any_chapter(book, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="--device cuda: .*CUDA is not available"):
        runner.run(chapters=["01_first"], root=book, device="cuda")
    assert not (book / "book" / "chapters" / "01_first.ipynb").exists()


def test_parallel_run_gives_the_same_notebooks_as_a_sequential_one(book, tmp_path):
    seq = runner.run(chapters=["01_first", "03_third"], root=book, out=tmp_path / "seq", jobs=1)
    par = runner.run(chapters=["01_first", "03_third"], root=book, out=tmp_path / "par", jobs=2)
    assert [r.status for r in seq] == [r.status for r in par] == ["ok", "ok"]
    for ch in ("01_first", "03_third"):
        a, b = (nbformat.read(tmp_path / d / f"{ch}.ipynb", as_version=4) for d in ("seq", "par"))
        assert [c.get("outputs") for c in a.cells] == [c.get("outputs") for c in b.cells]


def test_command_line_rejects_bad_devices_and_scales(capsys):
    from neurovis.__main__ import main

    for argv in (
        ["run", "--device", "gpu"],
        ["run", "--device", "cuda:x"],
        ["run", "--scale", "huge"],
    ):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid device 'gpu'" in err and "invalid choice: 'huge'" in err


def test_bench_tells_a_missing_benchmark_from_a_broken_one(tmp_path, monkeypatch, capsys):
    from neurovis.__main__ import main

    assert main(["bench", "nosuchtopic"]) == 2
    assert "no benchmark for topic 'nosuchtopic'" in capsys.readouterr().err
    import neurovis

    broken = tmp_path / "broken"
    (broken / "bench.py").parent.mkdir()
    (broken / "__init__.py").write_text("")
    (broken / "bench.py").write_text("import a_module_that_is_not_installed\n")
    monkeypatch.setattr(neurovis, "__path__", list(neurovis.__path__) + [str(tmp_path)])
    assert main(["bench", "broken"]) == 1
    assert "neurovis.broken.bench failed to import" in capsys.readouterr().err


PROSE = """# %% [markdown]
# The claim: **A beats B**.

# %% tags=["parameters"]
scale = "small"

# %%
print("chapter", scale)
"""


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


def test_the_runner_restores_the_callers_environment(book, monkeypatch):
    monkeypatch.delenv("NEUROVIS_RUNNER", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    before = dict(os.environ)
    runner.run(chapters=["01_first"], root=book)
    assert dict(os.environ) == before  # no NEUROVIS_RUNNER or float-path caps left behind
