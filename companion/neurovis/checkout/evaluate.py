"""The chapter's evaluation protocol in a few calls: COCO AP per clutter level, the per-epoch
validation curve (Table 1), checkout metrics at a validation-chosen threshold, and inference
speed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..core import timing
from .detector import predict, to_coco_detections
from .metrics import checkout_metrics, choose_threshold, coco_evaluate, count_table


def level_ids(data, level: str | None) -> list:
    """Image ids of one clutter level (all images for None)."""
    return [i for i, lv in zip(data.ids, data.levels) if level is None or lv == level]


def ap_by_level(data, dets: list[dict], levels=("easy", "medium", "hard")) -> pd.DataFrame:
    """COCO statistics (rows: all levels together, then each level; columns: COCO_STATS)."""
    rows = {"all": coco_evaluate(data.coco, dets)}
    for lv in levels:
        rows[lv] = coco_evaluate(data.coco, dets, level_ids(data, lv))
    return pd.DataFrame(rows).T


def val_evaluator(val_set, device):
    """``evaluate`` callback for ``fit``: validation AP, AP50, AP75 after every epoch (Table 1)."""

    def evaluate(model):
        r = coco_evaluate(
            val_set.coco, to_coco_detections(val_set, predict(model, val_set, device))
        )
        return {"val_ap": r["ap"], "val_ap50": r["ap50"], "val_ap75": r["ap75"]}

    return evaluate


def checkout_by_level(
    data, dets: list[dict], threshold: float, levels=("easy", "medium", "hard")
) -> pd.DataFrame:
    """RPC checkout metrics (cAcc, ACD, mCCD, mCIoU) at ``threshold``, per level and overall."""
    G = data.counts()
    rows = {}
    for lv in (None, *levels):
        ids = level_ids(data, lv)
        sel = [r for r, i in enumerate(data.ids) if i in set(ids)]
        rows["all" if lv is None else lv] = checkout_metrics(
            count_table(dets, ids, data.num_classes, threshold), G[sel]
        )
    return pd.DataFrame(rows).T


def threshold_on_validation(val_set, val_dets: list[dict]):
    """The score threshold that maximises validation cAcc, and the cAcc-vs-threshold curve."""
    return choose_threshold(val_dets, val_set.ids, val_set.counts())


def images_per_second(
    model, data, device, batch_size: int = 1, n_images: int = 16, repeats: int = 3
) -> float:
    """Inference throughput of ``model`` on the first ``n_images`` of ``data`` (median of
    ``repeats``)."""
    model.eval().to(device)
    imgs = [
        torch.from_numpy(np.ascontiguousarray(data.image(i)))
        .permute(2, 0, 1)
        .float()
        .div(255)
        .to(device)
        for i in range(min(n_images, len(data)))
    ]

    @torch.no_grad()
    def run():
        for k in range(0, len(imgs), batch_size):
            model(imgs[k : k + batch_size])

    t = timing.measure(run, warmup=1, repeats=repeats)
    return len(imgs) / t.median


def baseline_images_per_second(baseline, data, n_images: int = 16, repeats: int = 3) -> float:
    """Throughput of a baseline with ``predict(data)`` on the first ``n_images`` of ``data``."""
    sub = data.subset(first=n_images)
    t = timing.measure(baseline.predict, sub, warmup=1, repeats=repeats)
    return len(sub) / t.median


def checkout_correct(data, dets: list[dict], threshold: float) -> np.ndarray:
    """(N,) float: 1 where the bill of image i is exactly right at ``threshold`` (the per-image
    terms of cAcc, so that a claim on cAcc can be bootstrapped over test trays)."""
    P = count_table(dets, data.ids, data.num_classes, threshold)
    return (np.abs(P - data.counts()).sum(1) == 0).astype(float)


def class_agnostic_ap(data, dets: list[dict], levels=("easy", "medium", "hard")) -> pd.DataFrame:
    """``ap_by_level`` with every class merged into one "product": localisation alone. The gap to
    the class-aware AP is what naming the products costs."""
    coco = {
        **data.coco,
        "annotations": [{**a, "category_id": 1} for a in data.coco["annotations"]],
        "categories": [{"id": 1, "name": "product", "supercategory": "product"}],
    }
    one = [{**d, "category_id": 1} for d in dets]
    rows = {"all": coco_evaluate(coco, one)}
    for lv in levels:
        rows[lv] = coco_evaluate(coco, one, level_ids(data, lv))
    return pd.DataFrame(rows).T


@torch.no_grad()
def rpn_recall(
    model, data, device, iou: float = 0.5, levels=("easy", "medium", "hard"), batch_size: int = 8
) -> pd.Series:
    """Recall of the region proposal network (Section 3.3.1): the fraction of ground-truth products
    covered by at least one of the RPN's test-time proposals with IoU >= ``iou``, per clutter level
    and over all images. It separates "the proposals miss the product" from "the head misnames or
    rejects it"."""
    from torchvision.ops import box_iou

    from .detector import make_loader

    model.eval().to(device)
    hits: dict = {}
    r = 0
    for imgs, tgts in make_loader(data, batch_size, 0, shuffle=False):
        images, _ = model.transform([im.to(device) for im in imgs])
        feats = model.backbone(images.tensors)
        if isinstance(feats, torch.Tensor):
            feats = {"0": feats}
        props, _ = model.rpn(images, feats)
        for p, t, im, size in zip(props, tgts, imgs, images.image_sizes):
            sy, sx = im.shape[-2] / size[0], im.shape[-1] / size[1]
            p = p.cpu() * torch.tensor([sx, sy, sx, sy])
            g = t["boxes"]
            ok = (
                (box_iou(g, p).max(1).values >= iou).numpy()
                if len(p) and len(g)
                else np.zeros(len(g), bool)
            )
            hits.setdefault(data.levels[r], []).extend(ok.tolist())
            r += 1
    allv = [v for lv in hits for v in hits[lv]]
    out = {"all": float(np.mean(allv)) if allv else float("nan")}
    out |= {lv: float(np.mean(hits[lv])) if hits.get(lv) else float("nan") for lv in levels}
    return pd.Series(out, name=f"RPN recall@{iou}")
