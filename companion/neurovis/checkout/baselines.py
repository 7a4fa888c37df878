"""Baseline: the classical vision pipeline a vending machine could use without a detector network.
Separate products from the (known, light) tray by colour, cut the foreground into connected blobs,
and name each blob by its colour histogram's nearest neighbours among the single-product training
images (scikit-image for the blobs, scikit-learn for the k-NN). It works when products lie apart and
fails, as one expects, when they touch or overlap: the case the paper's detector is for.
"""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2hsv
from skimage.measure import label, regionprops
from scipy.ndimage import binary_opening
from sklearn.neighbors import KNeighborsClassifier


def foreground(image: np.ndarray, sat: float = 0.25, dark: float = 0.6) -> np.ndarray:
    """(H, W) bool: pixels unlike the light, unsaturated tray (saturated or dark)."""
    hsv = rgb2hsv(image)
    fg = (hsv[..., 1] > sat) | (hsv[..., 2] < dark)
    return binary_opening(fg, structure=np.ones((3, 3), bool))


def colour_histogram(image: np.ndarray, mask: np.ndarray, bins=(12, 3, 3)) -> np.ndarray:
    """Normalised hue x saturation x value histogram of the masked pixels (the blob's
    descriptor)."""
    hsv = rgb2hsv(image)[mask]
    h, _ = np.histogramdd(hsv, bins=bins, range=((0, 1), (0, 1), (0, 1)))
    h = h.ravel()
    return h / max(h.sum(), 1)


class ColourBlobDetector:
    """Blobs of foreground colour, classified by k-NN on colour histograms (scikit-learn)."""

    def __init__(self, k: int = 5, min_area: int = 40, sat: float = 0.25, dark: float = 0.6):
        self.k, self.min_area, self.sat, self.dark = k, min_area, sat, dark
        self.knn = None

    def _blobs(self, image):
        fg = foreground(image, self.sat, self.dark)
        for r in regionprops(label(fg)):
            if r.area >= self.min_area:
                y0, x0, y1, x1 = r.bbox
                m = np.zeros(fg.shape, bool)
                m[r.coords[:, 0], r.coords[:, 1]] = True
                yield np.array([x0, y0, x1, y1], np.float32), m

    def fit(self, train_set) -> "ColourBlobDetector":
        """Histograms of the largest blob of every single-product training image, with its class."""
        X, y = [], []
        for i in range(len(train_set)):
            img, lab = train_set.image(i), int(train_set.target(i)["labels"][0])
            blobs = list(self._blobs(img))
            if blobs:
                _, m = max(blobs, key=lambda bm: bm[1].sum())
                X.append(colour_histogram(img, m))
                y.append(lab)
        if not X:
            raise ValueError(
                "ColourBlobDetector.fit: no foreground blob found in the training images"
            )
        self.knn = KNeighborsClassifier(self.k).fit(np.stack(X), np.array(y))
        return self

    def predict(self, data) -> list[dict]:
        """Per image: {boxes (n, 4) at network resolution, scores (k-NN vote share), labels}."""
        if self.knn is None:
            raise RuntimeError("call fit(train_set) first")
        out = []
        for i in range(len(data)):
            img = data.image(i)
            blobs = list(self._blobs(img))
            if not blobs:
                out.append(
                    {
                        "boxes": np.zeros((0, 4), np.float32),
                        "scores": np.zeros(0),
                        "labels": np.zeros(0, int),
                    }
                )
                continue
            H = np.stack([colour_histogram(img, m) for _, m in blobs])
            proba = self.knn.predict_proba(H)
            out.append(
                {
                    "boxes": np.stack([b for b, _ in blobs]),
                    "scores": proba.max(1),
                    "labels": self.knn.classes_[proba.argmax(1)],
                }
            )
        return out
