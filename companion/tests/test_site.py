"""The rendered book: offline assets, the browser check (on deliberately broken pages), the Colab
first cell, the generated performance and data pages, the performance records."""

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import types
from pathlib import Path

import pytest
import yaml

from neurovis.core import results
from neurovis.site import assets, browser, pages
from neurovis.site.sphinx_ext import localise_body

REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- offline assets
def test_plotly_outputs_are_pointed_at_the_local_plotly_js_and_cdn_mathjax_is_dropped():
    body = (
        "<div><script "
        'src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/3.2.2/es5/tex-svg.min.js"></script>'
        '<script charset="utf-8" src="https://cdn.plot.ly/plotly-4.1.1.min.js" '
        'integrity="sha256-x" '
        'crossorigin="anonymous"></script><div id="a" class="plotly-graph-div"></div></div>'
        '<script type="module">import "https://cdn.plot.ly/plotly-4.1.1.min"</script>'
    )
    out = localise_body(body, "../../_static/vendor/plotly/plotly.min.js")
    assert "cdn.plot.ly" not in out and "cloudflare" not in out
    assert (
        '<script charset="utf-8" src="../../_static/vendor/plotly/plotly.min.js"></script>' in out
    )
    assert 'class="plotly-graph-div"' in out


def _tgz(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_npm_tarballs_are_checked_against_their_integrity_and_unpacked_selectively(tmp_path):
    blob = _tgz(
        {
            "package/dist/a.js": b"a",
            "package/dist/a.js.map": b"m",
            "package/dist/f.woff": b"f",
            "package/README.md": b"r",
        }
    )
    good = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
    asset = assets.NpmAsset("x", "1.0.0", good, "package/dist/", "x/", skip=(".map",))
    assets._check_integrity(blob, asset)
    assets._unpack(blob, asset, tmp_path)
    assert sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
    ) == ["x/a.js", "x/f.woff"]
    bad = assets.NpmAsset(
        "x", "1.0.0", "sha512-" + base64.b64encode(b"0" * 64).decode(), "package/dist/", "x/"
    )
    with pytest.raises(RuntimeError, match="integrity mismatch"):
        assets._check_integrity(blob, bad)
    assert assets.NPM_ASSETS[1].tarball.endswith(
        "/@jupyter-widgets/html-manager/-/html-manager-1.0.6.tgz"
    )


def test_book_configuration_points_at_the_vendored_assets():
    cfg = yaml.safe_load((REPO / "_config.yml").read_text())
    sph = cfg["sphinx"]
    assert "neurovis.site.sphinx_ext" in sph["extra_extensions"]
    assert sph["config"]["mathjax_path"] == assets.MATHJAX_JS
    assert list(sph["config"]["nb_ipywidgets_js"]) == [
        assets.REQUIRE_JS,
        assets.WIDGETS_SETUP_JS,
        assets.WIDGETS_JS,
    ]
    assert all(not k.startswith("http") for k in sph["config"]["nb_ipywidgets_js"])
    assert (Path(assets.__file__).parent / "static" / "widgets-setup.js").is_file()
    assert assets.plotly_js_source().stat().st_size > 1_000_000


# ----------------------------------------------------------------------------- browser check
PLOT = (
    '<script src="{plotly}"></script><div id="fig" class="plotly-graph-div" '
    'style="height:300px"></div><script>Plotly.newPlot("fig", [{{"y": [1, 3, 2], "type": '
    '"scatter"}}], {{}});</script>'
)


def _site(tmp_path: Path) -> Path:
    """A tiny site: a good chapter page, and a broken one (missing image, broken link and anchor,
    a plot div that is never drawn)."""
    site = tmp_path / "html"
    (site / "_static").mkdir(parents=True)
    (site / "book" / "chapters").mkdir(parents=True)
    shutil.copyfile(assets.plotly_js_source(), site / "_static" / "plotly.min.js")
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 30, 30)).save(site / "_static" / "fig.png")
    head = (
        "<!doctype html><html><head><meta charset='utf-8'><link rel='icon' "
        "href='data:,'></head><body><main>"
    )
    colab = (
        '<a href="https://colab.research.google.com/github/x/y/blob/main/book/chapters/{}.ipynb">'
        "colab</a>"
    )
    (site / "index.html").write_text(
        head + '<a href="book/chapters/01_good.html#results">go</a></main></body></html>'
    )
    (site / "book" / "chapters" / "01_good.html").write_text(
        head + colab.format("01_good") + '<h1>01 — Good</h1><h2 id="results">Results</h2>'
        '<div style="width:300px"><table><tr><td>fits</td></tr></table></div><img '
        'src="../../_static/fig.png">'
        + PLOT.format(plotly="../../_static/plotly.min.js")
        + "</main></body></html>"
    )
    (site / "book" / "chapters" / "02_broken.html").write_text(
        head
        + colab.format("02_broken")
        + '<h1>Broken, no number</h1><div style="width:300px;overflow-x:auto">'
        '<table><tr><td style="white-space:nowrap">'
        + "a very wide results table "
        * 20
        + "</td></tr></table></div>"
        '<img src="../../_static/missing.png"><a href="../../nowhere.html">x</a>'
        '<a href="01_good.html#no-such-anchor">y</a>'
        '<div id="undrawn" class="plotly-graph-div"></div></main></body></html>'
    )
    return site


def test_static_link_check_finds_missing_files_and_anchors(tmp_path):
    problems = browser.check_links(_site(tmp_path))
    bad = problems["book/chapters/02_broken.html"]
    assert any("missing.png" in p for p in bad) and any("nowhere.html" in p for p in bad)
    assert any("no-such-anchor" in p for p in bad)
    assert "book/chapters/01_good.html" not in problems and "index.html" not in problems


def _need_browser():
    try:
        browser.find_chromium()
    except RuntimeError as e:
        if os.environ.get("NEUROVIS_REQUIRE_BROWSER"):
            raise
        pytest.skip(str(e))


def test_browser_check_passes_a_good_page_and_fails_a_broken_one(tmp_path, monkeypatch):
    _need_browser()
    monkeypatch.delenv("NEUROVIS_STRICT_LAYOUT", raising=False)  # layout is enforced by default
    site = _site(tmp_path)
    reports = {
        r.page: r
        for r in browser.check_site(
            site,
            shots=tmp_path / "shots",
            chapter_glob="book/chapters/*.html",
            pages=["index.html", "book/chapters/01_good.html", "book/chapters/02_broken.html"],
        )
    }
    good, broken = reports["book/chapters/01_good.html"], reports["book/chapters/02_broken.html"]
    assert good.problems == [] and good.plotly == 1 and good.figures == 2, good.problems
    assert reports["index.html"].problems == []
    text = "\n".join(broken.problems)
    assert "image not loaded: ../../_static/missing.png" in text
    assert "plotly figure not drawn: #undrawn" in text
    assert "nowhere.html" in text and "no-such-anchor" in text
    assert "console error" in text  # the 404 of the missing image
    assert "table wider than its column (first cell 'a very wide results table" in text
    assert "chapter title 'Broken, no number' does not start with its number: '02 — '" in text
    assert Path(good.screenshot).stat().st_size > 1000 and Path(broken.screenshot).is_file()
    summary, bad = browser.summarise(list(reports.values()))
    assert bad == 1 and "3 pages checked, 1 with problems" in summary


def test_missing_chromium_gives_an_install_hint(monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install"):
        browser.find_chromium()


# ----------------------------------------------------------------------------- Colab first cell
def _colab_cell(py: Path) -> str:
    m = re.search(r'# %% tags=\["colab-setup"\]\n(.*?)\n\n# %%', py.read_text(), re.S)
    assert m, f"{py}: no colab-setup cell"
    return m.group(1)


@pytest.mark.parametrize(
    "chapter", sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.py"))
)
def test_colab_cell_installs_the_companion_from_the_repository_only_on_colab(chapter, monkeypatch):
    markers = re.findall(r"^# %%.*$", (REPO / "notebooks" / f"{chapter}.py").read_text(), re.M)
    first_code = next(m for m in markers if "[markdown]" not in m)
    assert 'tags=["colab-setup"]' in first_code, (
        "the Colab cell must be the chapter's first code cell"
    )
    cell = _colab_cell(REPO / "notebooks" / f"{chapter}.py")
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(cell, chapter, "exec"), {})
    assert calls == [], "the cell must do nothing outside Colab"

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(os.path, "isdir", lambda p: False)
    monkeypatch.setenv("NEUROVIS_ROOT", "before")  # restored after the test (the cell sets it)
    exec(compile(cell, chapter, "exec"), {})
    repo_url = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]
    (pip, kw1), (clone, kw2) = calls
    assert pip[:4] == [sys.executable, "-m", "pip", "install"] and kw1.get("check") is True
    assert pip[-1] == f"neurovis[all] @ git+{repo_url}#subdirectory=companion"
    assert clone[:2] == ["git", "clone"] and repo_url in clone and clone[-1] == "/content/neurovis"
    assert os.environ["NEUROVIS_ROOT"] == "/content/neurovis"


def test_companion_requires_minimum_versions_only():
    import tomllib

    proj = tomllib.loads((REPO / "companion" / "pyproject.toml").read_text())["project"]
    extras = proj["optional-dependencies"]
    assert "all" in extras
    runtime = proj["dependencies"] + [d for k, v in extras.items() if k != "book" for d in v]
    pinned = [d for d in runtime if re.search(r"==|<|~=", d)]
    assert pinned == [], f"Colab installs these: minimum versions only, got {pinned}"


# ---------------------------------------------------------------------- performance records + pages
def test_record_performance_keeps_one_entry_per_task_and_rejects_bad_times():
    results.save("98_demo", "small", {"acc": 90.0})
    with pytest.raises(FileNotFoundError, match="call results.save first"):
        results.record_performance("97_none", "small", "t", "m", "b", 1.0, 2.0)
    results.record_performance(
        "98_demo", "small", "inference", "ours", "base", 1.0, 4.0, quality=("acc", 91.0, 90.0, True)
    )
    results.record_performance("98_demo", "small", "inference", "ours", "base", 3.0, 2.0)
    perf = results.load("98_demo", "small")["performance"]
    assert (
        len(perf) == 1 and perf[0]["time_ratio"] == pytest.approx(1.5) and "quality" not in perf[0]
    )
    with pytest.raises(ValueError, match="positive and finite"):
        results.record_performance("98_demo", "small", "x", "m", "b", 0.0, 1.0)


@pytest.fixture
def mini_book(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROVIS_ROOT", str(tmp_path))
    (tmp_path / "notebooks").mkdir()
    for ch in ("01_depression", "06_trucks"):
        (tmp_path / "notebooks" / f"{ch}.py").write_text("# %%\n")
    res = tmp_path / "book" / "results"
    res.mkdir(parents=True)
    prov = {"machine": "Linux x86_64, 2 cores", "device": "cpu", "date": "2026-11-24 10:00 UTC"}
    (res / "01_depression.small.json").write_text(
        json.dumps(
            {
                "provenance": prov,
                "performance": [
                    {
                        "task": "inference",
                        "method": "HMHN",
                        "baseline": "ResNet-18",
                        "time_ratio": 2.5,
                        "method_s": 5,
                        "baseline_s": 2,
                        "quality": {
                            "metric": "MAE",
                            "method": 7.0,
                            "baseline": 8.5,
                            "higher_is_better": False,
                        },
                    }
                ],
            }
        )
    )
    (res / "runtimes.small.json").write_text(
        json.dumps(
            {
                "01_depression": {
                    "seconds": 300.0,
                    "cpu_seconds": 120.0,
                    "load_avg": 4.0,
                    "date": "2026-11-24 10:00 UTC",
                    "machine": "m",
                    "threads": 1,
                },
                "06_trucks": {
                    "seconds": 330.0,
                    "cpu_seconds": 330.0,
                    "load_avg": 1.0,
                    "date": "2026-11-24 10:00 UTC",
                    "machine": "m",
                    "threads": 1,
                },
            }
        )
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "registry.yaml").write_text(
        yaml.safe_dump(
            {
                "datasets": {
                    "faces": {
                        "kind": "embedded",
                        "chapter": "01_depression",
                        "path": "data/embedded/faces",
                        "files": {},
                        "citation": ["samaria1994orl"],
                        "licence": "research",
                    }
                }
            }
        )
    )
    return tmp_path


def test_performance_page_reports_ratios_quality_deltas_and_budgets(mini_book):
    page = pages.performance_page(mini_book)
    row = next(line for line in page.splitlines() if line.startswith("| [01_depression]"))
    assert "HMHN vs ResNet-18 | 2.50 | MAE | 7 | 8.5 | -1.5 (better)" in row
    assert "No same-run comparison recorded yet for: 06_trucks." in page
    assert (
        "| 06_trucks | 5.5 | 5.5 (over) | 5 | 1.0 |" in page
        and "| 01_depression | 5.0 | 2.0 | 3 | 4.0 |" in page
    )
    assert "| **all** | **10.5** | **7.5** |" in page


def test_data_page_has_an_anchor_per_chapter_and_stale_pages_are_detected(mini_book):
    page = pages.data_page(mini_book)
    assert "(data-01-depression)=" in page and "(data-06-trucks)=" in page
    assert "{cite:p}`samaria1994orl`" in page and "Generated in code only" in page
    assert len(pages.stale_pages(mini_book)) == 3  # performance, data and the claims ledger
    pages.write_pages(mini_book)
    assert pages.stale_pages(mini_book) == []
    (mini_book / "book" / "results" / "runtimes.small.json").write_text("{}")
    assert pages.stale_pages(mini_book) == [
        f"{mini_book / 'book/performance.md'}: stale; run `python -m neurovis pages`"
    ]


def test_bibliography_holds_every_paper_and_data_set():
    bib = set(re.findall(r"^@\w+\{([^,]+),", (REPO / "book" / "references.bib").read_text(), re.M))
    reg = yaml.safe_load((REPO / "data" / "registry.yaml").read_text())["datasets"]
    missing = {n: k for n, e in reg.items() for k in e.get("citation", []) or [] if k not in bib}
    assert missing == {}, f"registry citations missing from references.bib: {missing}"
    for py in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py")):
        cited = set(re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", py.read_text()))
        keys = {k.strip() for c in cited for k in c.split(",")}
        assert keys and keys <= bib, (
            f"{py.name}: cites {keys - bib or 'nothing'} not in references.bib"
        )


def test_setup_cells_are_collapsed_on_the_page_and_untouched_elsewhere():
    import json
    from neurovis.site.sphinx_ext import hide_setup_cells

    nb = {
        "cells": [
            {"cell_type": "code", "metadata": {"tags": ["colab-setup"]}, "source": "pip"},
            {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "source": "scale"},
            {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "seed = 0"},
            {"cell_type": "markdown", "metadata": {}, "source": "text"},
        ],
        "metadata": {},
    }
    out = json.loads(hide_setup_cells(json.dumps(nb)))
    assert [c["metadata"].get("tags") for c in out["cells"]] == [
        ["colab-setup", "hide-cell"],
        ["injected-parameters", "hide-cell"],
        ["parameters"],
        [],
    ]
    assert hide_setup_cells(json.dumps(out)) == json.dumps(out)  # idempotent
    chapter = REPO / "book" / "chapters" / "11_restoration.ipynb"
    tags = [
        t for c in json.loads(chapter.read_text())["cells"] for t in c["metadata"].get("tags", [])
    ]
    # the committed (downloadable, Colab) notebook keeps them visible
    assert "hide-cell" not in tags


def test_reference_run_pages_keep_the_chapters_links_working():
    import json
    from neurovis.site.sphinx_ext import relink_from_chapters

    nb = {
        "cells": [
            {
                "cell_type": "markdown",
                "source": "[run](../runs/reference/11_x.ipynb), [ledger](../claims.md#a), "
                "[ch](01_a.ipynb), [web](https://doi.org/1)",
            },
            {"cell_type": "code", "source": "x = '[a](../claims.md)'"},
        ]
    }
    out = json.loads(relink_from_chapters(json.dumps(nb), "book/runs/reference"))["cells"]
    assert out[0]["source"] == (
        "[run](11_x.ipynb), [ledger](../../claims.md#a), [ch](../../chapters/01_a.ipynb), "
        "[web](https://doi.org/1)"
    )
    assert out[1]["source"] == "x = '[a](../claims.md)'"
