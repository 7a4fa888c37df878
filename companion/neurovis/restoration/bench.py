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
    p.add_argument("--images", nargs="*", default=None, help="Set12 ids (default: all 12, 256x256 centre crops)")
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    set_threads()
    seed_everything(0)
    dev = choose_device(args.device)
    print(environment_report(dev))
    images = {k: v.to(dev) for k, v in embedded_images(args.images).items()}
    rows = run_denoising(images, args.sigmas, baselines=("BM3D",))
    metrics, lines = {}, ["| σ | method | mean PSNR (dB) | mean SSIM | median s / image |", "|---|---|---|---|---|"]
    for sigma in args.sigmas:
        for method in ("MS-GSRC", "BM3D"):
            sel = [r for r in rows if r["sigma"] == sigma and r["method"] == method]
            mp, ms = statistics.mean(r["psnr"] for r in sel), statistics.mean(r["ssim"] for r in sel)
            sec = statistics.median(r["seconds"] for r in sel)
            key = method.lower().replace("-", "")
            metrics[f"set12_s{int(sigma)}_psnr_{key}"] = mp
            metrics[f"set12_s{int(sigma)}_ssim_{key}"] = ms
            metrics[f"set12_s{int(sigma)}_seconds_{key}"] = sec
            lines.append(f"| {sigma:g} | {method} | {mp:.2f} | {ms:.4f} | {sec:.1f} |")
    path = results.save_benchmark("11_restoration", metrics, device=dev,
                                  data=f"Set12 ({len(images)} images, 256x256 centre crops), embedded real")
    prov = results.load_benchmark("11_restoration")["provenance"]
    md = ["## Chapter 11 — MS-GSRC vs BM3D on Set12 (`python -m neurovis bench restoration`)", "",
          f"{len(images)} Set12 images (256×256 centre crops), one noise draw each; {prov['machine']}, device "
          f"{prov['device']}, {torch.get_num_threads()} thread(s), {prov['date']}, commit {prov['commit']}.", ""] + lines
    out = path.with_suffix(".md")
    out.write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"saved {path} and {out}")
    return 0
