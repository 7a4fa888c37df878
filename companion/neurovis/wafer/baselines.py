"""Baselines of the paper's comparisons.

- Table 5: torchvision classification networks (ResNet-18/34/50, VGG-16, MobileNet, GoogLeNet),
  trained from scratch the same way as MFFP-Net (no pretrained weights are reachable here).
- Table 4's lineage: WMFPR (Wu et al. 2015), hand-crafted density, Radon and geometry features of
  the wafer map with a support-vector classifier (scikit-learn).
"""

from __future__ import annotations

import numpy as np

from .data import DEFECT, OFF, check_wafer_map

#: The networks of Table 5 (MobileNet: torchvision has v2/v3, not the v1 the paper cites).
TABLE5_BASELINES = ("resnet18", "resnet34", "resnet50", "vgg16", "mobilenet_v2", "googlenet")


def make_baseline(name: str, num_classes: int, width: float = 1.0):
    """A classifier ``name`` with random weights and ``num_classes`` outputs: torchvision's at
    ``width=1``; ``resnet18`` at ``width < 1`` is timm's ResNet-18 (the same BasicBlock layout,
    2-2-2-2 blocks, 7x7 stem and max pool) with every channel count times ``width`` (64-128-256-512
    -> 16-32-64-128 at 0.25), to match a narrowed MFFP-Net's compute on a CPU."""
    import torchvision

    if name not in TABLE5_BASELINES:
        raise ValueError(f"unknown baseline {name!r}; expected one of {TABLE5_BASELINES}")
    if width != 1.0:
        if name != "resnet18":
            raise ValueError(f"only resnet18 can be narrowed (width={width}), not {name!r}")
        if not 0 < width < 1:
            raise ValueError(f"width must be in (0, 1], got {width}")
        from timm.models.resnet import BasicBlock, ResNet

        ch = tuple(max(8, int(round(c * width))) for c in (64, 128, 256, 512))
        return ResNet(
            BasicBlock, (2, 2, 2, 2), num_classes=num_classes, channels=ch, stem_width=ch[0]
        )
    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    return getattr(torchvision.models, name)(weights=None, num_classes=num_classes, **kwargs)


# --------------------------------------------------------------------------- WMFPR-style features


def _polar(shape):
    rows, cols = shape
    r = (np.arange(rows) + 0.5 - rows / 2) / (rows / 2)
    c = (np.arange(cols) + 0.5 - cols / 2) / (cols / 2)
    yy, xx = np.meshgrid(r, c, indexing="ij")
    return np.hypot(yy, xx), np.arctan2(yy, xx)


def density_features(m: np.ndarray) -> np.ndarray:
    """13 regional defect densities (Wu et al. 2015): the centre disc, 4 sectors of the middle
    ring and 8 sectors of the outer ring, each the fraction of on-wafer dies that are defective."""
    rho, theta = _polar(m.shape)
    on = m != OFF
    d = m == DEFECT
    rho = rho / max(rho[on].max(), 1e-9)
    sector = (theta + np.pi) / (2 * np.pi)
    regions = [rho <= 1 / 3]
    regions += [(rho > 1 / 3) & (rho <= 2 / 3) & (np.floor(sector * 4) % 4 == k) for k in range(4)]
    regions += [(rho > 2 / 3) & (np.floor(sector * 8) % 8 == k) for k in range(8)]
    return np.array([d[r & on].mean() if (r & on).any() else 0.0 for r in regions])


def radon_features(m: np.ndarray, n_points: int = 20, angles: int = 18) -> np.ndarray:
    """Radon features (Wu et al. 2015): the mean and the standard deviation over angles of the
    Radon transform of the defect indicator, each interpolated to ``n_points`` (2 x 20 values)."""
    from skimage.transform import radon

    d = (m == DEFECT).astype(float)
    sino = radon(d, theta=np.linspace(0, 180, angles, endpoint=False), circle=False)
    out = []
    for prof in (sino.mean(axis=1), sino.std(axis=1)):
        x = np.linspace(0, 1, len(prof))
        out.append(np.interp(np.linspace(0, 1, n_points), x, prof) / max(d.shape))
    return np.concatenate(out)


def geometry_features(m: np.ndarray) -> np.ndarray:
    """Geometry of the most salient defect region (Wu et al. 2015): after a 3x3 median filter,
    the largest connected region's area, perimeter, major and minor axis lengths (all relative to
    the wafer), eccentricity and solidity; zeros when no region survives the filter."""
    from scipy.ndimage import median_filter
    from skimage.measure import label, regionprops

    d = median_filter((m == DEFECT).astype(np.uint8), size=3)
    props = regionprops(label(d))
    if not props:
        return np.zeros(6)
    p = max(props, key=lambda r: r.area)
    on = float((m != OFF).sum())
    radius = np.sqrt(on / np.pi)
    return np.array(
        [
            p.area / on,
            p.perimeter / (2 * np.pi * radius),
            p.axis_major_length / (2 * radius),
            p.axis_minor_length / (2 * radius),
            p.eccentricity,
            p.solidity,
        ]
    )


def wmfpr_features(maps) -> np.ndarray:
    """(N, 59) WMFPR feature matrix: 13 density + 40 Radon + 6 geometry features per map."""
    rows = []
    for i, m in enumerate(maps):
        m = check_wafer_map(m, f"map {i}")
        rows.append(np.concatenate([density_features(m), radon_features(m), geometry_features(m)]))
    return np.stack(rows)


def wmfpr_classifier(C: float = 10.0):
    """The WMFPR-style classifier: standardised features, RBF support-vector machine."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(C=C, gamma="scale"))
