"""Command line: ``python -m neurovis run|build|browse|pages|list|check|data|bench``."""
from __future__ import annotations

import argparse
import importlib
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m neurovis", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute chapters with papermill")
    r.add_argument("chapters", nargs="*", help="chapter slugs (default: all)")
    r.add_argument("--scale", default="small", choices=["small", "paper"])
    r.add_argument("--data-root", default=None)
    r.add_argument("--device", default="auto", help="auto|cpu|cuda|mps")
    r.add_argument("--out", default=None, help="output folder (default: book/chapters for small)")
    r.add_argument("--skip-fresh", action="store_true", help="skip chapters executed after their last edit")
    r.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    b = sub.add_parser("build", help="jupyter-book build of the executed chapters")
    b.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    w = sub.add_parser("browse", help="open every page of the built book in headless Chromium and check it")
    w.add_argument("--html", default=None, help="built site (default: _build/html)")
    w.add_argument("--shots", default=None, help="screenshots folder (default: _build/screenshots)")
    sub.add_parser("pages", help="regenerate the book's generated pages (performance, data)")
    sub.add_parser("list", help="list the chapters")
    sub.add_parser("check", help="each executed chapter matches its source and holds no error")
    d = sub.add_parser("data", help="verify embedded data against data/registry.yaml")
    d.add_argument("--update", action="store_true", help="rewrite the registry's checksums from disk")
    be = sub.add_parser("bench", help="a chapter's benchmark (e.g. `bench restoration`)")
    be.add_argument("topic")
    be.add_argument("rest", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)

    from . import CHAPTERS
    from .core.data import repo_root
    from . import runner

    if args.cmd == "run":
        runs = runner.run(args.chapters or None, args.scale, args.data_root, args.device, args.out,
                          skip_fresh=args.skip_fresh, timeout=args.timeout)
        return 1 if any(r.status == "failed" for r in runs) else 0
    if args.cmd == "build":
        return runner.build(strict=not args.no_strict)
    if args.cmd == "browse":
        from .site import browser
        root = repo_root()
        reports = browser.check_site(args.html or root / "_build" / "html", root=root,
                                     shots=args.shots or root / "_build" / "screenshots")
        text, bad = browser.summarise(reports)
        print(text)
        return 1 if bad else 0
    if args.cmd == "pages":
        from .site import pages
        for path in pages.write_pages():
            print(f"wrote {path}")
        return 0
    if args.cmd == "list":
        for ch in runner.list_chapters(repo_root()):
            print(f"{ch:<18} {CHAPTERS.get(ch, '')}")
        return 0
    if args.cmd == "check":
        from .site.pages import stale_pages
        problems = runner.check_fresh() + stale_pages()
        for pr in problems:
            print(pr)
        print("book chapters are fresh" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    if args.cmd == "data":
        from .core import data
        if args.update:
            print(data.update_registry_checksums())
            return 0
        checked = data.verify_all_embedded()
        bad = [n for n, r in checked.items() if isinstance(r, Exception)]
        for n, r in checked.items():
            print(f"{n}: BAD: {r}" if n in bad else f"{n}: {r} files ok")
        if bad:
            print(f"{len(bad)} of {len(checked)} embedded data sets do not match "
                  f"data/registry.yaml: {', '.join(bad)}")
            return 1
        print(f"all {len(checked)} embedded data sets match data/registry.yaml")
        return 0
    if args.cmd == "bench":
        try:
            mod = importlib.import_module(f"neurovis.{args.topic}.bench")
        except ModuleNotFoundError as e:
            print(f"no benchmark for topic {args.topic!r} ({e})", file=sys.stderr)
            return 2
        return mod.main(args.rest) or 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
