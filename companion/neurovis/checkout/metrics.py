"""Evaluation: COCO AP/AR through pycocotools (the paper's Table 1) and RPC's checkout metrics
(Wei et al. 2019, Section 4.2): checkout accuracy cAcc, average counting distance ACD, mean category
counting distance mCCD and mean category IoU mCIoU, from per-image count tables.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

COCO_STATS = (
    "ap",
    "ap50",
    "ap75",
    "ap_small",
    "ap_medium",
    "ap_large",
    "ar1",
    "ar10",
    "ar100",
    "ar_small",
    "ar_medium",
    "ar_large",
)


def coco_evaluate(gt: dict, detections: list[dict], image_ids=None) -> dict:
    """pycocotools' bbox evaluation of ``detections`` (COCO result entries) against COCO dict
    ``gt``.

    Returns the 12 summary numbers under COCO_STATS names (-1 where a size range holds no ground
    truth, pycocotools' convention). ``image_ids`` restricts the evaluation to those images.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco_gt = COCO()
    gt = {
        **gt,
        "annotations": [
            {
                **a,
                "area": a.get("area", a["bbox"][2] * a["bbox"][3]),
                "iscrowd": a.get("iscrowd", 0),
            }
            for a in gt["annotations"]
        ],
    }
    coco_gt.dataset = gt
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
        ids = sorted(coco_gt.getImgIds()) if image_ids is None else sorted(image_ids)
        keep = set(ids)
        dets = [d for d in detections if d["image_id"] in keep]
        if not dets:
            return {k: 0.0 for k in COCO_STATS}
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(v) for k, v in zip(COCO_STATS, ev.stats)}


def count_table(
    detections: list[dict], image_ids: list, num_classes: int, threshold: float
) -> np.ndarray:
    """(N, K) predicted checkout list: detections with score >= ``threshold`` counted per image and
    class (category ids 1..K), rows in the order of ``image_ids``."""
    row = {i: r for r, i in enumerate(image_ids)}
    out = np.zeros((len(image_ids), num_classes), np.int64)
    for d in detections:
        if d["score"] >= threshold and d["image_id"] in row:
            c = int(d["category_id"])
            if not 1 <= c <= num_classes:
                raise ValueError(f"detection category_id {c} outside 1..{num_classes}")
            out[row[d["image_id"]], c - 1] += 1
    return out


def checkout_metrics(pred: np.ndarray, gt: np.ndarray) -> dict:
    """RPC's checkout metrics from (N, K) predicted and ground-truth count tables P and G:

    - cAcc  = (1/N) sum_i [ sum_k |P_ik - G_ik| = 0 ]                (the whole bill right)
    - ACD = (1/N) sum_i sum_k |P_ik - G_ik| (products miscounted per image)
    - mCCD  = (1/K') sum_k  sum_i |P_ik - G_ik| / sum_i G_ik          (per class, relative)
    - mCIoU = (1/K') sum_k  sum_i min(P_ik, G_ik) / sum_i max(P_ik, G_ik)
    K' counts the classes present in the ground truth (mCCD) or in either table (mCIoU), so a class
    absent from a small test set does not divide by zero.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(f"count tables must both be (N, K), got {pred.shape} and {gt.shape}")
    if (pred < 0).any() or (gt < 0).any():
        raise ValueError("counts must be non-negative")
    diff = np.abs(pred - gt)
    per_image = diff.sum(1)
    present = gt.sum(0) > 0
    ccd = diff.sum(0)[present] / gt.sum(0)[present]
    mx = np.maximum(pred, gt).sum(0)
    ciou = np.minimum(pred, gt).sum(0)[mx > 0] / mx[mx > 0]
    return {
        "cacc": float((per_image == 0).mean()),
        "acd": float(per_image.mean()),
        "mccd": float(ccd.mean()) if ccd.size else 0.0,
        "mciou": float(ciou.mean()) if ciou.size else 1.0,
    }


def choose_threshold(
    detections: list[dict],
    image_ids: list,
    gt_counts: np.ndarray,
    grid=np.round(np.arange(0.05, 0.96, 0.05), 2),
) -> tuple[float, np.ndarray]:
    """The score threshold maximising cAcc on *validation* images (ties: lower ACD, then lower
    threshold). Returns (threshold, cAcc at each grid value)."""
    K = gt_counts.shape[1]
    scores = []
    for t in grid:
        m = checkout_metrics(count_table(detections, image_ids, K, t), gt_counts)
        scores.append((m["cacc"], -m["acd"]))
    best = max(range(len(grid)), key=lambda j: (scores[j][0], scores[j][1], -grid[j]))
    return float(grid[best]), np.array([s[0] for s in scores])
