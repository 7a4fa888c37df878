"""Command line:
``python -m neurovis run|build|browse|pages|list|check|data|bench|resync|rehash|format``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .core.scale import SCALES


def _device_arg(value: str) -> str:
    base, _, index = value.lower().partition(":")
    if base not in ("auto", "cpu", "cuda", "mps") or (
        index and not (base == "cuda" and index.isdigit())
    ):
        raise argparse.ArgumentTypeError(
            f"invalid device {value!r}: choose auto, cpu, cuda, cuda:N or mps"
        )
    return value.lower()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m neurovis", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute chapters with papermill")
    r.add_argument("chapters", nargs="*", help="chapter slugs (default: all)")
    r.add_argument(
        "--scale",
        default="small",
        choices=list(SCALES),
        help="small: embedded data, minutes, the CI regression test (book/chapters); reference: "
        "same data, converged, 5 seeds, the chapter's evidence (book/runs/reference, up to "
        "45-90 min per chapter on 2 cores); paper: the paper's data from --data-root",
    )
    r.add_argument(
        "--data-root",
        default=None,
        help="folder holding the full data sets for --scale paper (layout: data/README.md); "
        "relative paths are taken from the current folder",
    )
    r.add_argument(
        "--device",
        default="auto",
        type=_device_arg,
        help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps; an absent device is refused at "
        "once",
    )
    r.add_argument(
        "--out",
        default=None,
        help="output folder (default: book/chapters for small, book/runs/reference for reference, "
        "_build/paper_runs for paper); results go beside the notebooks outside the defaults",
    )
    r.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="chapters run at once, one thread each (default: the number of CPU cores)",
    )
    r.add_argument(
        "--skip-fresh", action="store_true", help="skip chapters executed after their last edit"
    )
    r.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    b = sub.add_parser("build", help="jupyter-book build of the executed chapters")
    b.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    w = sub.add_parser(
        "browse", help="open every page of the built book in headless Chromium and check it"
    )
    w.add_argument("--html", default=None, help="built site (default: _build/html)")
    w.add_argument("--shots", default=None, help="screenshots folder (default: _build/screenshots)")
    sub.add_parser("pages", help="regenerate the book's generated pages (performance, data)")
    sub.add_parser("list", help="list the chapters")
    sub.add_parser("check", help="each executed chapter matches its source and holds no error")
    d = sub.add_parser("data", help="verify embedded data against data/registry.yaml")
    d.add_argument(
        "--update", action="store_true", help="rewrite the registry's checksums from disk"
    )
    rs = sub.add_parser(
        "resync",
        help="copy formatting-only source changes into the executed "
        "notebooks (same syntax trees and words), refusing any other change",
    )
    rs.add_argument("chapters", nargs="*", help="chapter slugs (default: all)")
    rs.add_argument("--dry-run", action="store_true", help="report, write nothing")
    fm = sub.add_parser(
        "format",
        help="ruff format, keeping chapter cells' trailing ';', then rewrap prose and split long "
        "strings to 100 characters (files whose syntax tree would change are left alone)",
    )
    fm.add_argument("paths", nargs="*", help="files or folders (default: companion notebooks)")
    rh = sub.add_parser(
        "rehash",
        help="migrate the code hashes of book/results/*.json recorded "
        "as file bytes to syntax-tree hashes (only where the code is unchanged)",
    )
    rh.add_argument("chapters", nargs="*", help="chapter slugs (default: all)")
    rh.add_argument("--dry-run", action="store_true", help="report, write nothing")
    be = sub.add_parser("bench", help="a chapter's benchmark (e.g. `bench restoration`)")
    be.add_argument("topic")
    be.add_argument("rest", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)

    from . import CHAPTERS
    from .core.data import repo_root
    from . import runner

    if args.cmd == "run":
        jobs = (
            args.jobs
            if args.jobs is not None
            else max(1, min(os.cpu_count() or 1, len(args.chapters) or 99))
        )
        runs = runner.run(
            args.chapters or None,
            args.scale,
            args.data_root,
            args.device,
            args.out,
            skip_fresh=args.skip_fresh,
            timeout=args.timeout,
            jobs=jobs,
        )
        return 1 if any(r.status == "failed" for r in runs) else 0
    if args.cmd == "build":
        return runner.build(strict=not args.no_strict)
    if args.cmd == "browse":
        from .site import browser

        root = repo_root()
        reports = browser.check_site(
            args.html or root / "_build" / "html",
            root=root,
            shots=args.shots or root / "_build" / "screenshots",
        )
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
            print(
                f"{len(bad)} of {len(checked)} embedded data sets do not match "
                f"data/registry.yaml: {', '.join(bad)}"
            )
            return 1
        print(f"all {len(checked)} embedded data sets match data/registry.yaml")
        return 0
    if args.cmd == "resync":
        from .resync import resync

        reports = resync(args.chapters or None, write=not args.dry_run)
        for rep in reports:
            print(rep)
        return 1 if any(rep.status == "refused" for rep in reports) else 0
    if args.cmd == "format":
        from .tidy import tidy

        left = tidy(args.paths or None, root=repo_root())
        print("\n".join(left) if left else "formatted: every line within 100 characters")
        return 1 if left else 0
    if args.cmd == "rehash":
        from .core import results

        lines = results.rehash_records(chapters=args.chapters or None, write=not args.dry_run)
        print("\n".join(lines))
        return 0
    if args.cmd == "bench":
        try:
            mod = importlib.import_module(f"neurovis.{args.topic}.bench")
        except ModuleNotFoundError as e:
            if e.name in (f"neurovis.{args.topic}", f"neurovis.{args.topic}.bench"):
                print(
                    f"no benchmark for topic {args.topic!r} (no module "
                    f"neurovis.{args.topic}.bench)",
                    file=sys.stderr,
                )
                return 2
            print(
                f"the benchmark neurovis.{args.topic}.bench failed to import: {e!r}",
                file=sys.stderr,
            )
            return 1
        except ImportError as e:
            print(
                f"the benchmark neurovis.{args.topic}.bench failed to import: {e!r}",
                file=sys.stderr,
            )
            return 1
        return mod.main(args.rest) or 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
