"""Sphinx extension for the book (``sphinx.extra_extensions`` in ``_config.yml``).

- serves plotly.js, RequireJS, the widget manager and MathJax from ``_static/vendor/`` (see
  ``assets``); plotly's notebook outputs name plotly.js on its CDN, so their script tags are pointed
  at the local copy (same version) and the extra MathJax they pull in is dropped (the page already
  loads MathJax);
- drops the inline scripts other extensions register twice, and sets the theme's light mode (an
  empty mode is a console error on a reader's first visit);
- adds the chapter's jupytext source (.py) and its data provenance to the page's download menu;
- collapses the Colab install cell and papermill's injected-parameters cell on the rendered page
  (``hide-cell``): they stay, unchanged, in the downloadable notebook and on Colab.
"""

from __future__ import annotations

import json
import posixpath
import re
import shutil
from pathlib import Path

from . import assets

_PLOTLY_CDN = re.compile(
    r'<script[^>]*src="https://cdn\.plot\.ly/plotly-[0-9.]+\.min\.js"[^>]*></script>'
)
_PLOTLY_MODULE = re.compile(
    r'<script type="module">import "https://cdn\.plot\.ly/plotly-[0-9.]+\.min"</script>'
)
_EXTRA_MATHJAX = re.compile(
    r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]+"></script>'
)
CHAPTER_PAGE = re.compile(r"^book/chapters/(\d\d_[a-z0-9_]+)$")


def localise_body(body: str, plotly_url: str) -> str:
    """Point plotly outputs at the local plotly.js and drop their CDN MathJax."""
    body = _PLOTLY_CDN.sub(f'<script charset="utf-8" src="{plotly_url}"></script>', body)
    body = _PLOTLY_MODULE.sub("", body)
    return _EXTRA_MATHJAX.sub("", body)


HIDDEN_ON_PAGE = ("colab-setup", "injected-parameters")  # cell tags collapsed on the rendered page


def hide_setup_cells(notebook_json: str) -> str:
    """The notebook's JSON with ``hide-cell`` added to the cells tagged ``HIDDEN_ON_PAGE``
    (myst-nb then renders them collapsed behind a toggle)."""
    nb = json.loads(notebook_json)
    changed = False
    for cell in nb.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if any(t in tags for t in HIDDEN_ON_PAGE) and "hide-cell" not in tags:
            tags.append("hide-cell")
            changed = True
    return json.dumps(nb) if changed else notebook_json


_MD_LINK = re.compile(r"\]\(([^)\s#:]+)(#[^)\s]*)?\)")


def relink_from_chapters(notebook_json: str, folder: str) -> str:
    """A chapter's prose is written from ``book/chapters/``; the same notebook run at another scale
    lives in ``folder`` (e.g. ``book/runs/reference``): its relative markdown links are rewritten
    to point at the same targets from there."""
    nb = json.loads(notebook_json)

    def fix(m):
        target = posixpath.normpath(posixpath.join("book/chapters", m.group(1)))
        return f"]({posixpath.relpath(target, folder)}{m.group(2) or ''})"

    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            cell["source"] = _MD_LINK.sub(fix, src)
    return json.dumps(nb)


def _source_read(app, docname, source):
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        source[0] = hide_setup_cells(source[0])
        folder = posixpath.dirname(docname)
        if folder.startswith("book/runs/"):
            source[0] = relink_from_chapters(source[0], folder)


def _root(app) -> Path:
    return Path(app.confdir)


def _config_inited(app, config):
    base = assets.ensure_assets(_root(app))
    config.html_static_path = list(config.html_static_path or []) + [str(base)]


def _dedupe_scripts(context):
    """sphinx-thebe and sphinx-togglebutton register their inline scripts twice under jupyter-book
    1.x (``const THEBE_JS_URL`` declared twice is a console error on every page): keep the first
    copy."""
    seen, kept = set(), []
    for js in context.get("script_files", []):
        # the two copies differ only in filename None vs "" (inline scripts: the body is an
        # attribute)
        key = (js.filename or "", tuple(sorted((k, str(v)) for k, v in js.attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def _page_context(app, pagename, templatename, context, doctree):
    _dedupe_scripts(context)
    # pydata-sphinx-theme logs a console error for an empty mode
    if not context.get("default_mode"):
        context["default_mode"] = "light"
    if "body" in context:
        context["body"] = localise_body(
            context["body"], context["pathto"]("_static/" + assets.PLOTLY_JS, 1)
        )
    m = CHAPTER_PAGE.match(pagename)
    if not m:
        return
    slug = m.group(1)
    pathto = context["pathto"]
    extra = [
        {
            "type": "link",
            "url": pathto(f"_static/notebooks/{slug}.py", 1),
            "text": ".py",
            "tooltip": "Download the chapter's jupytext source",
            "icon": "fas fa-file-code",
            "label": "download-py-button",
        },
        {
            "type": "link",
            "url": pathto("book/data") + f"#data-{slug.replace('_', '-')}",
            "text": "data",
            "tooltip": "Where this chapter's data come from (source, licence, checksums)",
            "icon": "fas fa-database",
            "label": "data-provenance-button",
        },
    ]
    for button in context.get("header_buttons", []):
        if button.get("label") == "download-buttons":
            button["buttons"][1:1] = extra
            break


def _build_finished(app, exception):
    if exception or app.builder is None or app.builder.format != "html":
        return
    out = Path(app.outdir) / "_static" / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    for src in sorted((_root(app) / "notebooks").glob("[0-9][0-9]_*.py")):
        shutil.copyfile(src, out / src.name)


def setup(app):
    app.add_css_file(assets.BOOK_CSS)
    app.connect("config-inited", _config_inited)
    app.connect("source-read", _source_read)
    # after sphinx-book-theme's buttons (501)
    app.connect("html-page-context", _page_context, priority=600)
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
