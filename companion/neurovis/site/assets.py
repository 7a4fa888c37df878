"""Offline-safe web assets for the built book.

The HTML book must render without internet: plotly.js, RequireJS, the Jupyter widget manager and
MathJax are served from the site's own ``_static/vendor/`` instead of CDNs. plotly.js comes from the
installed ``plotly`` package (same version as its notebook outputs reference); the others are npm
packages fetched once from the npm registry, checked against their published sha512 integrity, and
cached under ``_build/site-assets`` (override with ``NEUROVIS_ASSETS_DIR``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = os.environ.get("NEUROVIS_NPM_REGISTRY", "https://registry.npmjs.org")


@dataclass(frozen=True)
class NpmAsset:
    package: str  # npm name
    version: str
    integrity: str  # the registry's dist.integrity (sha512, base64)
    src: str  # folder (or file) inside the tarball to keep
    dest: str  # where it goes under vendor/
    skip: tuple = ()  # path fragments not kept (source maps, unused bundles)

    @property
    def tarball(self) -> str:
        return f"{REGISTRY}/{self.package}/-/{self.package.split('/')[-1]}-{self.version}.tgz"


NPM_ASSETS = (
    NpmAsset(
        "requirejs",
        "2.3.7",
        "sha512-DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8"
        "Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
        "package/require.js",
        "require.js",
    ),
    # the widget manager myst-nb pairs with ipywidgets 8
    NpmAsset(
        "@jupyter-widgets/html-manager",
        "1.0.6",
        "sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD"
        "35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==",
        "package/dist/",
        "html-manager/",
        skip=(".map", "/embed.js", "LICENSE.txt"),
    ),
    NpmAsset(
        "mathjax",
        "3.2.2",
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0"
        "/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        "package/es5/",
        "mathjax/",
        skip=("/sre/", "-full", "-svg", "es5/mml-", "es5/tex-chtml.js", "/output/svg"),
    ),
)
# the paths the book's configuration points at (relative to _static/)
REQUIRE_JS = "vendor/require.js"
# ours: tables that fit the column (static/neurovis.css)
BOOK_CSS = "vendor/neurovis.css"
# ours: module paths + MathJax 2 shim (static/widgets-setup.js)
WIDGETS_SETUP_JS = "vendor/widgets-setup.js"
WIDGETS_JS = "vendor/html-manager/embed-amd.js"
MATHJAX_JS = "vendor/mathjax/tex-mml-chtml.js"
PLOTLY_JS = "vendor/plotly/plotly.min.js"


def assets_dir(root: Path | None = None) -> Path:
    """The folder whose ``vendor/`` sub-folder is copied into the site's ``_static/``."""
    if os.environ.get("NEUROVIS_ASSETS_DIR"):
        return Path(os.environ["NEUROVIS_ASSETS_DIR"])
    from ..core.data import repo_root

    return (root or repo_root()) / "_build" / "site-assets"


def _check_integrity(blob: bytes, asset: NpmAsset):
    algo, _, expected = asset.integrity.partition("-")
    got = base64.b64encode(hashlib.new(algo, blob).digest()).decode()
    if got != expected:
        raise RuntimeError(
            f"{asset.tarball}: integrity mismatch ({algo} {got} != {expected}); refusing to use it"
        )


def _unpack(blob: bytes, asset: NpmAsset, vendor: Path):
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for m in tar.getmembers():
            if (
                not m.isfile()
                or not m.name.startswith(asset.src)
                or any(s in m.name for s in asset.skip)
            ):
                continue
            rel = (
                asset.dest if not asset.src.endswith("/") else asset.dest + m.name[len(asset.src) :]
            )
            out = vendor / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(tar.extractfile(m).read())


def plotly_js_source() -> Path:
    """plotly.min.js shipped inside the installed ``plotly`` package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: plotly.min.js not found in the installed plotly package")
    return path


def ensure_assets(root: Path | None = None, quiet: bool = False) -> Path:
    """Fetch (once) and return the assets folder holding ``vendor/``. Idempotent: a stamp per asset
    records the version, so a version bump here re-fetches."""
    base = assets_dir(root)
    vendor = base / "vendor"
    vendor.mkdir(parents=True, exist_ok=True)
    for asset in NPM_ASSETS:
        stamp = vendor / f".{asset.package.replace('/', '_')}.version"
        if stamp.is_file() and stamp.read_text() == asset.integrity:
            continue
        if not quiet:
            print(f"fetching {asset.package}@{asset.version} from {REGISTRY}", flush=True)
        try:
            with urllib.request.urlopen(asset.tarball, timeout=120) as r:
                blob = r.read()
        except OSError as exc:
            raise RuntimeError(
                f"could not fetch {asset.tarball} ({exc}); the offline book needs it once. "
                f"Set NEUROVIS_NPM_REGISTRY to a reachable npm mirror, or NEUROVIS_ASSETS_DIR "
                f"to a folder already holding vendor/"
            ) from exc
        _check_integrity(blob, asset)
        target = vendor / asset.dest
        if target.is_dir():
            shutil.rmtree(target)
        _unpack(blob, asset, vendor)
        stamp.write_text(asset.integrity)
    for ours in ("widgets-setup.js", "neurovis.css"):  # our own files (static/)
        shutil.copyfile(Path(__file__).parent / "static" / ours, vendor / ours)
    plotly_js = vendor / PLOTLY_JS.removeprefix("vendor/")
    src = plotly_js_source()
    if not plotly_js.is_file() or plotly_js.stat().st_size != src.stat().st_size:
        plotly_js.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, plotly_js)
    return base
