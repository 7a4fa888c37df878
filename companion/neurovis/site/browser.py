"""Open the built HTML book in headless Chromium, the way readers see it, and check every page.

``python -m neurovis browse [--html _build/html] [--shots _build/screenshots]``

Static checks (every ``.html`` file): each internal link, image, script and stylesheet resolves to a
file of the site, and each ``#fragment`` to an element id of its target page; every page of
``_toc.yml`` was built. Browser checks (every page, served over HTTP from a local server, with all
other hosts unreachable so a CDN dependency fails as it would offline): no console error, every
image loaded, math typeset by MathJax, every plotly figure drawn (an SVG inside each plot div),
every saved widget view rendered, no table wider than its column; chapter pages must show at least
one figure, offer their Colab launch link and carry their number in their title ("NN — Title"). A
screenshot of each chapter's first screen is saved.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# "NN — Title", the same in navigation, page and notebook
CHAPTER_TITLE = re.compile(r"^\d\d — \S")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVER_NAMES = ("chromedriver",)
INSTALL_HINT = (
    "install Debian's packages `chromium` and `chromium-driver` (what `make test` does: "
    "apt-get install -y --no-install-recommends chromium chromium-driver)"
)


@dataclass
class PageReport:
    page: str
    problems: list = field(default_factory=list)
    figures: int = 0  # images + plotly figures
    plotly: int = 0
    math: int = 0
    widgets: int = 0
    screenshot: str = ""
    # wide tables, unnumbered titles: problems when strict
    layout: list = field(default_factory=list)


# --------------------------------------------------------------------------- static link check
class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) and not (tag == "a" and key == "src"):
                self.refs.append((tag, a[key]))


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Collector:
    c = _Collector()
    c.feed(path.read_text(encoding="utf-8", errors="replace"))
    return c


def _is_internal(ref: str) -> bool:
    parts = urlsplit(ref)
    return (
        not parts.scheme
        and not parts.netloc
        and not ref.startswith(("mailto:", "javascript:", "data:"))
    )


def check_links(html_dir: str | Path) -> dict[str, list[str]]:
    """Broken internal references per page (relative path -> problems)."""
    html_dir = Path(html_dir).resolve()
    _parse.cache_clear()
    problems: dict[str, list[str]] = {}
    for page in sorted(html_dir.rglob("*.html")):
        rel = page.relative_to(html_dir).as_posix()
        if rel.startswith(("_static/", "_sources/", "_downloads/")):
            continue
        for tag, ref in _parse(page).refs:
            if not _is_internal(ref):
                continue
            parts = urlsplit(ref)
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or html_dir not in target.parents:
                problems.setdefault(rel, []).append(f"<{tag}> {ref}: no such file in the site")
                continue
            frag = unquote(parts.fragment)
            if frag and target.suffix == ".html" and frag not in _parse(target).ids:
                problems.setdefault(rel, []).append(f"<{tag}> {ref}: no element with id '{frag}'")
    return problems


def toc_pages(root: str | Path) -> list[str]:
    """The pages ``_toc.yml`` lists, as built html paths (``book/chapters/11_restoration.html``)."""
    import yaml

    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        for key in ("chapters", "sections", "parts"):
            for item in node.get(key, []) or []:
                if "file" in item:
                    files.append(item["file"])
                walk(item)

    walk(toc)
    return [f"{Path(f).with_suffix('')}.html" for f in files]


# --------------------------------------------------------------------------- browser
def find_chromium() -> tuple[str, str]:
    """Paths of the Chromium binary and its matching chromedriver, or a clear error."""
    browser = next((p for n in CHROMIUM_NAMES if (p := shutil.which(n))), None)
    driver = next((p for n in DRIVER_NAMES if (p := shutil.which(n))), None)
    if not browser or not driver:
        missing = " and ".join(
            x for x, p in (("chromium", browser), ("chromedriver", driver)) if not p
        )
        raise RuntimeError(f"{missing} not found on PATH; {INSTALL_HINT}")
    return browser, driver


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(html_dir: str | Path):
    """Serve a folder over HTTP on a free local port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900):
    """A headless Chromium (selenium) that can reach only 127.0.0.1: offline, as a reader without
    internet, so any CDN dependency shows up as a console error."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--disable-background-networking",
        "--no-first-run",
        "--hide-scrollbars",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()


# state of the page once loaded: figures, math, widgets (evaluated in the page)
_PROBE = """
if (!document.body) { return null; }   // between documents (a redirect page): not loaded yet
const q = s => Array.from(document.querySelectorAll(s));
const main = document.querySelector('main') || document.body;
const imgs = Array.from(main.querySelectorAll('img'));
const plots = q('div.plotly-graph-div');
const math = q('.math');
const views = q('script[type="application/vnd.jupyter.widget-view+json"]');
return {
  ready: document.readyState === 'complete',
  mathjax: !!(window.MathJax && window.MathJax.startup && window.MathJax.startup.document),
  images: imgs.length,
  broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0))
    .map(i => i.getAttribute('src')),
  plots: plots.length,
  undrawn_plots: plots.filter(p => !p.querySelector('svg.main-svg')).map(p => p.id),
  math: math.length,
  untypeset_math: math.filter(m => !m.querySelector('mjx-container')
    && !m.closest('mjx-container')).length,
  widget_views: views.length,
  widget_nodes: q('.jupyter-widgets').length,
  colab: q('a[href*="colab.research.google.com"]').map(a => a.href),
  title: ((main.querySelector('h1') || {}).textContent || '').trim(),
  // tables wider than the column that holds them: cut at the page edge or scrolled sideways
  wide_tables: Array.from(main.querySelectorAll('table')).filter(t => t.parentElement
      && t.getBoundingClientRect().width > t.parentElement.clientWidth + 2).map(t =>
      (t.querySelector('th, td') || {textContent: ''}).textContent.trim().slice(0, 40)),
};
"""


def _probe(drv) -> dict | None:
    from selenium.common.exceptions import JavascriptException

    try:
        return drv.execute_script(_PROBE)
    except JavascriptException:  # the document changed under the script (redirect)
        return None


def _settled(state: dict | None) -> bool:
    return state is not None and (
        state["ready"]
        and not state["undrawn_plots"]
        and not state["untypeset_math"]
        and (state["widget_views"] == 0 or state["widget_nodes"] > 0)
    )


def check_page(drv, url: str, rel: str, settle_s: float = 20.0) -> tuple[PageReport, dict]:
    """Load one page and report what a reader would miss."""
    rep = PageReport(rel)
    drv.get_log("browser")  # drop messages of the previous page
    drv.get(url)
    t0 = time.time()
    state = _probe(drv)
    while not _settled(state) and time.time() - t0 < settle_s:
        time.sleep(0.25)
        state = _probe(drv)
    if state is None:
        rep.problems.append(f"page did not finish loading in {settle_s:.0f} s")
        return rep, {"colab": []}
    if state["mathjax"]:  # let MathJax finish typesetting before judging
        drv.execute_script("return window.MathJax.startup.promise.then(() => true)")
        state = _probe(drv) or state
    errors = [e["message"] for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
    rep.problems += [f"console error: {m[:300]}" for m in errors]
    rep.problems += [f"image not loaded: {s}" for s in state["broken_images"]]
    rep.problems += [f"plotly figure not drawn: #{i}" for i in state["undrawn_plots"]]
    rep.layout += [
        f"table wider than its column (first cell {c!r})" for c in state.get("wide_tables", [])
    ]
    if state["untypeset_math"]:
        rep.problems.append(
            f"{state['untypeset_math']} of {state['math']} math elements not typeset (MathJax)"
        )
    if state["widget_views"] and not state["widget_nodes"]:
        rep.problems.append(
            f"{state['widget_views']} saved widget views, none rendered (widget manager)"
        )
    rep.figures, rep.plotly, rep.math = (
        state["images"] + state["plots"],
        state["plots"],
        state["math"],
    )
    rep.widgets = state["widget_nodes"]
    return rep, state


def check_site(
    html_dir: str | Path = "_build/html",
    root: str | Path | None = None,
    shots: str | Path | None = "_build/screenshots",
    chapter_glob: str = "book/chapters/*.html",
    pages: list[str] | None = None,
    strict_layout: bool | None = None,
) -> list[PageReport]:
    """Check every page of a built site; returns one report per page (problems empty when fine).

    Layout findings (tables wider than their column, chapter titles without their number) are
    problems too; ``strict_layout=False`` (or ``NEUROVIS_STRICT_LAYOUT=0``) lists them as notes
    instead, for a look at a book whose tables are still being made to fit."""
    import os

    if strict_layout is None:
        strict_layout = os.environ.get("NEUROVIS_STRICT_LAYOUT", "1") != "0"
    html_dir = Path(html_dir).resolve()
    if not (html_dir / "index.html").is_file() and not pages:
        raise FileNotFoundError(
            f"{html_dir}/index.html: no built book here; run `python -m neurovis build` first"
        )
    links = check_links(html_dir)
    if pages is None:
        pages = sorted(
            p.relative_to(html_dir).as_posix()
            for p in html_dir.rglob("*.html")
            if not p.relative_to(html_dir).as_posix().startswith(("_static/", "_sources/"))
        )
    reports = []
    missing_toc = []
    if root is not None:
        missing_toc = [p for p in toc_pages(root) if not (html_dir / p).is_file()]
    chapters = {p.relative_to(html_dir).as_posix() for p in html_dir.glob(chapter_glob)}
    if shots:
        shots = Path(shots)
        shots.mkdir(parents=True, exist_ok=True)
    with serve(html_dir) as base, chromium() as drv:
        for rel in pages:
            rep, state = check_page(drv, base + rel, rel)
            rep.problems = [f"broken link {p}" for p in links.get(rel, [])] + rep.problems
            if rel in chapters:
                slug, hrefs = Path(rel).stem, [r for _, r in _parse(html_dir / rel).refs]
                if root is not None and not any(
                    h.endswith(f"_static/notebooks/{slug}.py") for h in hrefs
                ):
                    rep.problems.append("no download link to the chapter's .py source")
                if root is not None and not any(
                    f"data.html#data-{slug.replace('_', '-')}" in h for h in hrefs
                ):
                    rep.problems.append("no link to the chapter's data provenance")
                if rep.figures == 0:
                    rep.problems.append("chapter page shows no figure")
                if (
                    not CHAPTER_TITLE.match(state.get("title", ""))
                    or state["title"][:2] != slug[:2]
                ):
                    rep.layout.append(
                        f"chapter title {state.get('title', '')[:60]!r} does not start with its "
                        f"number: '{slug[:2]} — '"
                    )
                if root is not None and not any(
                    Path(rel).stem + ".ipynb" in h for h in state["colab"]
                ):
                    rep.problems.append("no Colab launch link to this chapter's notebook")
                if shots:
                    drv.execute_script("window.scrollTo(0, 0)")
                    out = shots / f"{Path(rel).stem}.png"
                    drv.save_screenshot(str(out))
                    rep.screenshot = str(out)
            if strict_layout:
                rep.problems += rep.layout
            reports.append(rep)
    for p in missing_toc:
        reports.append(PageReport(p, problems=["listed in _toc.yml but not built"]))
    return reports


def summarise(reports: list[PageReport]) -> tuple[str, int]:
    """A text table of the reports and the number of pages with problems."""
    lines = [f"{'page':<44} {'figs':>4} {'plotly':>6} {'math':>5} {'widgets':>7}  status"]
    bad = 0
    for r in reports:
        lines.append(
            f"{r.page:<44} {r.figures:>4} {r.plotly:>6} {r.math:>5} {r.widgets:>7}  "
            f"{'ok' if not r.problems else 'FAIL'}"
        )
        for p in r.problems:
            lines.append(f"    - {p}")
        for p in r.layout:
            if p not in r.problems:
                lines.append(f"    ~ layout (not enforced): {p}")
        bad += bool(r.problems)
    shots = [r.screenshot for r in reports if r.screenshot]
    lines.append(
        f"\n{len(reports)} pages checked, {bad} with problems; {len(shots)} screenshots"
        + (f" in {Path(shots[0]).parent}" if shots else "")
    )
    return "\n".join(lines), bad
