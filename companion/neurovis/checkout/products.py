"""A generated product catalogue with RPC's structure (Wei et al. 2019): packages, cans, bottles and
pouches with distinct shapes, body colours, label bands and logos, rendered as sprites with a mask.

The catalogue is deliberately confusable: several classes share a shape and differ only in colour
or logo, several share a colour and differ in shape, so a detector has to use both.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SHAPES = ("box", "can", "bottle", "pouch")
LOGOS = ("circle", "triangle", "square", "cross")

# (name, shape, body RGB, label RGB, logo, (width, height) in camera pixels)
_CATALOGUE = [
    ("red box", "box", (200, 40, 40), (250, 220, 60), "circle", (118, 156)),
    ("blue box", "box", (40, 70, 190), (250, 250, 250), "triangle", (118, 156)),
    ("red can", "can", (200, 40, 40), (250, 250, 250), "square", (92, 136)),
    ("green can", "can", (40, 150, 60), (250, 220, 60), "circle", (92, 136)),
    ("blue bottle", "bottle", (40, 70, 190), (250, 220, 60), "cross", (72, 184)),
    ("orange bottle", "bottle", (235, 130, 30), (40, 40, 40), "circle", (72, 184)),
    ("green pouch", "pouch", (40, 150, 60), (250, 250, 250), "triangle", (128, 148)),
    ("purple pouch", "pouch", (130, 50, 150), (250, 220, 60), "square", (128, 148)),
    ("yellow box", "box", (230, 200, 40), (200, 40, 40), "cross", (100, 134)),
    ("white can", "can", (235, 235, 235), (40, 70, 190), "triangle", (92, 136)),
    ("brown bottle", "bottle", (120, 70, 30), (250, 250, 250), "square", (72, 184)),
    ("teal pouch", "pouch", (30, 150, 150), (200, 40, 40), "cross", (128, 148)),
]


@dataclass(frozen=True)
class Product:
    """One product class. ``category_id`` is 1-based, as in RPC's ``instances_*2019.json``."""

    category_id: int
    name: str
    shape: str
    body: tuple
    label: tuple
    logo: str
    size: tuple  # (width, height) of the upright product in camera pixels


def catalogue(num_classes: int = 8) -> list[Product]:
    """The first ``num_classes`` products (1 <= num_classes <= 12), category ids 1..num_classes."""
    if not 1 <= num_classes <= len(_CATALOGUE):
        raise ValueError(f"num_classes must be in 1..{len(_CATALOGUE)}, got {num_classes}")
    return [Product(i + 1, *row) for i, row in enumerate(_CATALOGUE[:num_classes])]


def _logo(img, logo: str, cx: int, cy: int, r: int, colour):
    if logo == "circle":
        cv2.circle(img, (cx, cy), r, colour, -1)
    elif logo == "square":
        cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), colour, -1)
    elif logo == "triangle":
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
        cv2.fillPoly(img, [pts], colour)
    elif logo == "cross":
        t = max(r // 3, 2)
        cv2.rectangle(img, (cx - r, cy - t), (cx + r, cy + t), colour, -1)
        cv2.rectangle(img, (cx - t, cy - r), (cx + t, cy + r), colour, -1)
    else:
        raise ValueError(f"unknown logo {logo!r}; expected one of {LOGOS}")


def render_upright(p: Product, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The product standing upright: (H, W, 3) uint8 sprite and its (H, W) bool mask."""
    w, h = max(int(round(p.size[0] * scale)), 8), max(int(round(p.size[1] * scale)), 8)
    mask = np.zeros((h, w), np.uint8)
    if p.shape == "box":
        mask[:] = 1
    elif p.shape == "can":
        e = max(h // 10, 2)
        cv2.rectangle(mask, (0, e), (w - 1, h - 1 - e), 1, -1)
        cv2.ellipse(mask, (w // 2, e), (w // 2 - 1, e), 0, 0, 360, 1, -1)
        cv2.ellipse(mask, (w // 2, h - 1 - e), (w // 2 - 1, e), 0, 0, 360, 1, -1)
    elif p.shape == "bottle":
        neck_w, neck_h = max(w // 3, 3), h // 4
        cv2.rectangle(mask, (0, neck_h + neck_h // 2), (w - 1, h - 1), 1, -1)
        sh = np.array(
            [
                [0, neck_h + neck_h // 2],
                [(w - neck_w) // 2, neck_h],
                [(w + neck_w) // 2, neck_h],
                [w - 1, neck_h + neck_h // 2],
            ],
            np.int32,
        )
        cv2.fillPoly(mask, [sh], 1)
        cv2.rectangle(mask, ((w - neck_w) // 2, 0), ((w + neck_w) // 2, neck_h), 1, -1)
    elif p.shape == "pouch":
        pts = np.array([[w // 6, 0], [w - 1 - w // 6, 0], [w - 1, h - 1], [0, h - 1]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
    else:
        raise ValueError(f"unknown shape {p.shape!r}; expected one of {SHAPES}")
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = p.body
    band0, band1 = int(h * 0.45), int(h * 0.75)
    img[band0:band1] = p.label
    _logo(img, p.logo, w // 2, (band0 + band1) // 2, max(min(w, band1 - band0) // 3, 3), p.body)
    if p.shape == "bottle":  # a dark cap
        img[: max(h // 14, 2)] = (30, 30, 30)
    img[mask == 0] = 0
    return img, mask.astype(bool)


# RPC's four training cameras (top, 45 deg, 30 deg, horizontal), as a foreshortening of the
# product's long axis: a stand-in for the change of viewpoint, not a 3-D rendering.
VIEWS = {"top": 1.0, "45deg": 0.85, "30deg": 0.7, "horizontal": 0.55}


def view(
    p: Product,
    rng: np.random.Generator,
    rotation: float | None = None,
    camera: str = "top",
    scale: float = 1.0,
    shade: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The product seen from ``camera`` (a key of VIEWS), turned by ``rotation`` degrees in the
    image plane (random when None), ``scale``d and lit by ``shade``.

    Returns a tight (H, W, 3) uint8 sprite and its (H, W) bool mask (mask touches all four borders).
    """
    if camera not in VIEWS:
        raise ValueError(f"camera must be one of {list(VIEWS)}, got {camera!r}")
    img, mask = render_upright(p, scale)
    fy = VIEWS[camera]
    if fy < 0.999:
        h2 = max(int(round(img.shape[0] * fy)), 6)
        img = cv2.resize(img, (img.shape[1], h2), interpolation=cv2.INTER_NEAREST)
        mask = cv2.resize(
            mask.astype(np.uint8), (mask.shape[1], h2), interpolation=cv2.INTER_NEAREST
        ).astype(bool)
    angle = float(rng.uniform(0, 360)) if rotation is None else float(rotation)
    h, w = mask.shape
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(rot[0, 0]), abs(rot[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)) + 2, int(np.ceil(h * cos + w * sin)) + 2
    rot[0, 2] += nw / 2 - w / 2
    rot[1, 2] += nh / 2 - h / 2
    img = cv2.warpAffine(img, rot, (nw, nh), flags=cv2.INTER_NEAREST, borderValue=0)
    mask = cv2.warpAffine(
        mask.astype(np.uint8), rot, (nw, nh), flags=cv2.INTER_NEAREST, borderValue=0
    ).astype(bool)
    ys, xs = np.nonzero(mask)
    img, mask = (
        img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1],
        mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1],
    )
    img = np.clip(img.astype(np.float32) * shade, 0, 255).astype(np.uint8)
    img[~mask] = 0
    return img, mask
