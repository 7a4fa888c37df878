"""``python -m neurovis bench restoration``: MS-GSRC vs BM3D over Set12 (quality and speed).

Runs outside the 3-minute chapter budget; writes book/results/11_restoration.bench.json and
prints a markdown table for book/performance.md.
"""

from __future__ import annotations

import argparse
import statistics

import torch


def main(argv=None) -> int:
    from ..core import choose_device, environment_report, results, seed_everything, set_threads
    from .data import embedded_images
    from .evaluate import run_denoising

    p = argparse.ArgumentParser(prog="python -m neurovis bench restoration")
    p.add_argument("--sigmas", type=float, nargs="+", default=[25.0, 50.0])
    p.add_argument(
        "--images",
        nargs="*",
        default=None,
        help="Set12 names (default: the 10 outside the tuning set, 256x256 crops)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--tune",
        nargs="*",
        default=None,
        metavar="PART",
        help="run the tuning search instead (parts: denoise15 denoise25 denoise50 "
        "wavelet inpaint80 cs20 ...; default: all) and merge it into 11_restoration.tuning.json",
    )
    args = p.parse_args(argv)
    set_threads()
    seed_everything(0)
    dev = choose_device(args.device)
    print(environment_report(dev))
    if args.tune is not None:
        parts = args.tune or ["denoise25", "denoise15", "denoise50", "wavelet", "inpaint80", "cs20"]
        return _tune(parts, dev)
    from .tuning import DENOISE_EVAL

    images = {k: v.to(dev) for k, v in embedded_images(args.images or DENOISE_EVAL).items()}
    rows = run_denoising(images, args.sigmas, baselines=("BM3D",))
    metrics, lines = (
        {},
        ["| σ | method | mean PSNR (dB) | mean SSIM | median s / image |", "|---|---|---|---|---|"],
    )
    for sigma in args.sigmas:
        for method in ("MS-GSRC", "BM3D"):
            sel = [r for r in rows if r["sigma"] == sigma and r["method"] == method]
            mp, ms = (
                statistics.mean(r["psnr"] for r in sel),
                statistics.mean(r["ssim"] for r in sel),
            )
            sec = statistics.median(r["seconds"] for r in sel)
            key = method.lower().replace("-", "")
            metrics[f"set12_s{int(sigma)}_psnr_{key}"] = mp
            metrics[f"set12_s{int(sigma)}_ssim_{key}"] = ms
            metrics[f"set12_s{int(sigma)}_seconds_{key}"] = sec
            lines.append(f"| {sigma:g} | {method} | {mp:.2f} | {ms:.4f} | {sec:.1f} |")
        metrics[f"set12_s{int(sigma)}_time_ratio"] = (
            metrics[f"set12_s{int(sigma)}_seconds_msgsrc"]
            / metrics[f"set12_s{int(sigma)}_seconds_bm3d"]
        )
    big = _timed_481x321(dev)
    metrics |= big
    lines.append(
        f"| 25 (481×321 Man crop) | MS-GSRC / BM3D | {big['man481_psnr_msgsrc']:.2f} / "
        f"{big['man481_psnr_bm3d']:.2f} | | {big['man481_seconds_msgsrc']:.1f} / "
        f"{big['man481_seconds_bm3d']:.1f} |"
    )
    path = results.save_benchmark(
        "11_restoration",
        metrics,
        device=dev,
        data=f"Set12 ({len(images)} images, 256x256 centre crops), embedded real",
    )
    prov = results.load_benchmark("11_restoration")["provenance"]
    md = [
        "## Chapter 11 — MS-GSRC vs BM3D on Set12 (`python -m neurovis bench restoration`)",
        "",
        f"{len(images)} Set12 images (256×256 centre crops), one noise draw each; "
        f"{prov['machine']}, device {prov['device']}, {torch.get_num_threads()} thread(s), "
        f"{prov['date']}, commit {prov['commit']}.",
        "",
    ] + lines
    out = path.with_suffix(".md")
    out.write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"saved {path} and {out}")
    return 0


def _timed_481x321(dev, sigma: float = 25.0) -> dict:
    """MS-GSRC and BM3D on one 481×321 image (the BSD68 size): a centre crop of Set12's Man."""
    import time

    from .baselines import bm3d_denoise
    from .data import embedded_images
    from .msgsrc import MSGSRCConfig, msgsrc, psnr
    from .operators import Identity, add_gaussian_noise

    man = embedded_images(["Man"], size=None)["Man"]
    top, left = (man.shape[0] - 321) // 2, (man.shape[1] - 481) // 2
    x = man[top : top + 321, left : left + 481].contiguous().to(dev)
    y = add_gaussian_noise(x, sigma, torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    ours = msgsrc(y, Identity(x.shape, dev), MSGSRCConfig.denoising(sigma)).image
    t1 = time.perf_counter()
    theirs = bm3d_denoise(y, sigma)
    t2 = time.perf_counter()
    return {
        "man481_psnr_msgsrc": psnr(ours, x),
        "man481_psnr_bm3d": psnr(theirs, x),
        "man481_seconds_msgsrc": t1 - t0,
        "man481_seconds_bm3d": t2 - t1,
        "man481_time_ratio": (t1 - t0) / (t2 - t1),
    }


def _tune(parts, dev) -> int:
    """Run the named tuning parts on the tuning set, merging each into the tuning file."""
    import time

    from . import tuning

    record = {
        k: v
        for k, v in (tuning.load_tuning() or {}).items()
        if k not in ("chapter", "kind", "tuning_images", "provenance")
    }
    for part in parts:
        t0 = time.perf_counter()
        if part.startswith("denoise"):
            sigma = float(part[len("denoise") :])
            grid = dict(tuning.DENOISE_GRID)
            kw = {}
            if sigma != 25:  # the speed knobs are chosen at σ = 25; α, β at every σ
                grid = {k: grid[k] for k in ("alpha", "beta")}
            elif part in record:  # a rerun from the same start reuses the trials already computed
                kw = {"start": record[part]["start"], "known": record[part]["trials"]}
            out = tuning.tune_denoising(sigma, grid=grid, **kw)
        elif part == "wavelet":
            out = tuning.tune_wavelet_levels([15, 25, 50])
        elif part.startswith(("inpaint", "cs")):  # one tuning scene (Boat), 80 iterations a decay
            task, level = (
                ("inpainting", int(part[len("inpaint") :]))
                if part.startswith("inpaint")
                else ("compressed sensing", int(part[len("cs") :]))
            )
            boat = {"Boat": tuning.tuning_images()["Boat"]}
            out = tuning.tune_inverse(
                task, level / 100, images=boat, known=record.get(part, {}).get("trials")
            )
        else:
            raise SystemExit(f"unknown tuning part {part!r}")
        out["seconds"] = round(time.perf_counter() - t0, 1)
        record[part] = out
        path = tuning.save_tuning(record, device=dev)
        score = out.get("psnr", float("nan"))
        print(
            f"{part}: chosen {out.get('chosen')} (tuning-set PSNR {score:.3f}) "
            f"in {out['seconds']:.0f} s -> {path}",
            flush=True,
        )
    return 0
