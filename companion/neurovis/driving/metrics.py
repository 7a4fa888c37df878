"""Segmentation metrics of Tables 1-4 (per-class IoU, ClassAvg, mIoU, group means) and the anomaly
metrics of Tables 5-6 (AUROC, AP, FPR95, via scikit-learn)."""

from __future__ import annotations

import numpy as np
import torch

IGNORE = 255


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = IGNORE
) -> torch.Tensor:
    """(K, K) counts, rows = ground truth, columns = prediction; ``ignore_index`` pixels skipped."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    t = target.reshape(-1).long()
    p = pred.reshape(-1).long()
    keep = t != ignore_index
    t, p = t[keep], p[keep]
    if len(t) and (t.max() >= num_classes or t.min() < 0):
        raise ValueError(
            f"target holds class {int(t.max())} outside 0..{num_classes - 1} (and {ignore_index} = "
            f"ignore)"
        )
    return torch.bincount(t * num_classes + p, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def segmentation_scores(cm, classes: list, groups: dict | None = None) -> dict:
    """Per-class IoU and accuracy (%), mIoU, ClassAvg (mean per-class accuracy, the paper's
    "ClassAcc"), pixel accuracy, and the mean IoU of each importance group. Classes absent from
    both ground truth and prediction get NaN and are left out of the means."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    gt, pr = cm.sum(1), cm.sum(0)
    union = gt + pr - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, 100 * tp / union, np.nan)
        acc = np.where(gt > 0, 100 * tp / gt, np.nan)
    out = {
        "iou": dict(zip(classes, iou.tolist())),
        "acc": dict(zip(classes, acc.tolist())),
        "mIoU": float(np.nanmean(iou)),
        "ClassAvg": float(np.nanmean(acc)),
        "pixel_acc": float(100 * tp.sum() / max(cm.sum(), 1)),
    }
    for g, names in (groups or {}).items():
        out[g] = float(np.nanmean([out["iou"][c] for c in names]))
    return out


def anomaly_metrics(scores, labels, ignore_index: int = IGNORE) -> dict:
    """AUROC, AP and FPR95 (all in %) of pixel anomaly ``scores`` (higher = more anomalous) against
    ``labels`` (1 anomaly, 0 normal, ``ignore_index`` skipped).

    FPR95 convention: the false-positive rate at the first ROC operating point (threshold lowered
    from the top) whose true-positive rate reaches 95%, i.e. the smallest FPR with TPR >= 0.95.

    One sorting pass: scikit-learn's ``roc_curve`` at every distinct threshold; AUROC is the
    trapezoid area under it (= ``roc_auc_score``) and AP the step sum sum_k (R_k - R_k-1) P_k over
    the same operating points (= ``average_precision_score``), P_k = TP_k / (TP_k + FP_k).
    """
    from sklearn.metrics import auc, roc_curve

    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.size}) and labels ({y.size}) differ in size")
    keep = y != ignore_index
    s, y = s[keep], y[keep]
    bad = set(np.unique(y).tolist()) - {0, 1}
    if bad:
        raise ValueError(f"anomaly labels must be 0, 1 or {ignore_index}; found {sorted(bad)}")
    if y.min() == y.max():
        raise ValueError("anomaly metrics need both anomalous (1) and normal (0) pixels")
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    pos, neg = float(y.sum()), float(len(y) - y.sum())
    tp, fp = tpr[1:] * pos, fpr[1:] * neg
    ap = float(np.sum(np.diff(tpr) * tp / np.maximum(tp + fp, 1e-12)))
    return {
        "AUROC": 100 * float(auc(fpr, tpr)),
        "AP": 100 * ap,
        "FPR95": 100 * float(fpr[np.searchsorted(tpr, 0.95, side="left")]),
    }
