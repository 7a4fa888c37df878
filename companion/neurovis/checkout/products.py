"""A generated product catalogue with RPC's structure (Wei et al. 2019): packages, cans, bottles and
pouches with distinct shapes, body colours, printed labels (patches of real photographs from the
embedded COCO-MINI images) and logos, rendered as shaded 2.5-D solids seen from a camera elevation.

The catalogue is deliberately confusable: several classes share a shape and differ only in colour
or print, several share a colour and differ in shape, and some are white or grey (no saturation to
separate them from a tray), so a detector has to use shape, print and colour together.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

SHAPES = ("box", "can", "bottle", "pouch")
LOGOS = ("circle", "triangle", "square", "cross")

# (name, shape, body RGB, label RGB, logo, (width, height) in camera pixels at 448 px). The first
# eight (the small scale's classes) hold two low-saturation products: a white can and a grey box.
_CATALOGUE = [
    ("red box", "box", (200, 40, 40), (250, 220, 60), "circle", (118, 156)),
    ("white can", "can", (236, 236, 232), (40, 70, 190), "triangle", (92, 136)),
    ("red can", "can", (200, 40, 40), (250, 250, 250), "square", (92, 136)),
    ("grey box", "box", (150, 150, 155), (245, 245, 245), "cross", (110, 146)),
    ("blue bottle", "bottle", (40, 70, 190), (250, 220, 60), "cross", (72, 184)),
    ("white bottle", "bottle", (240, 240, 236), (200, 40, 40), "circle", (72, 184)),
    ("green pouch", "pouch", (40, 150, 60), (250, 250, 250), "triangle", (128, 148)),
    ("blue box", "box", (40, 70, 190), (250, 250, 250), "triangle", (118, 156)),
    ("yellow box", "box", (230, 200, 40), (200, 40, 40), "cross", (100, 134)),
    ("green can", "can", (40, 150, 60), (250, 220, 60), "circle", (92, 136)),
    ("brown bottle", "bottle", (120, 70, 30), (250, 250, 250), "square", (72, 184)),
    ("purple pouch", "pouch", (130, 50, 150), (250, 220, 60), "square", (128, 148)),
]
# depth of each shape as a fraction of its width (the top face seen from above)
_DEPTH = {"box": 0.45, "can": 1.0, "bottle": 1.0, "pouch": 0.18}


@dataclass(frozen=True)
class Product:
    """One product class. ``category_id`` is 1-based, as in RPC's ``instances_*2019.json``."""

    category_id: int
    name: str
    shape: str
    body: tuple
    label: tuple
    logo: str
    size: tuple  # (width, height) of the upright product in camera pixels at 448 px


def catalogue(num_classes: int = 8) -> list[Product]:
    """The first ``num_classes`` products (1 <= num_classes <= 12), category ids 1..num_classes."""
    if not 1 <= num_classes <= len(_CATALOGUE):
        raise ValueError(f"num_classes must be in 1..{len(_CATALOGUE)}, got {num_classes}")
    return [Product(i + 1, *row) for i, row in enumerate(_CATALOGUE[:num_classes])]


@lru_cache(maxsize=None)
def label_art(category_id: int, side: int = 96) -> np.ndarray:
    """The print on product ``category_id``'s label: a (side, side, 3) uint8 patch of a real
    photograph (the centre of COCO-MINI val2017 image number 3 x category_id, sorted by name), the
    same for every instance of the class."""
    from ..core import embedded_path

    folder = embedded_path("coco-mini", "val2017")
    files = sorted(folder.glob("*.jpg"))
    if not files:
        raise FileNotFoundError(f"{folder}: no .jpg images (COCO-MINI val2017 is incomplete)")
    path = files[(3 * category_id) % len(files)]
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"{path}: cannot read image")
    h, w = bgr.shape[:2]
    s = min(h, w)
    crop = bgr[(h - s) // 2 : (h + s) // 2, (w - s) // 2 : (w + s) // 2]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)[..., ::-1].copy()


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


def _outline(shape: str, w: int, h: int) -> np.ndarray:
    """(h, w) uint8 silhouette of the product's front face."""
    mask = np.zeros((h, w), np.uint8)
    if shape == "box":
        mask[:] = 1
    elif shape == "can":
        e = max(h // 10, 2)
        cv2.rectangle(mask, (0, e), (w - 1, h - 1 - e), 1, -1)
        cv2.ellipse(mask, (w // 2, e), (w // 2 - 1, e), 0, 0, 360, 1, -1)
        cv2.ellipse(mask, (w // 2, h - 1 - e), (w // 2 - 1, e), 0, 0, 360, 1, -1)
    elif shape == "bottle":
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
    elif shape == "pouch":
        pts = np.array([[w // 6, 0], [w - 1 - w // 6, 0], [w - 1, h - 1], [0, h - 1]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    return mask


def render_upright(p: Product, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The product's front face, camera level with it: (H, W, 3) uint8 sprite and (H, W) bool mask.
    Body colour with a fine print texture, a label band carrying the class's photograph print and
    logo, cylinders shaded across their width (Lambert, light from the upper left) with a specular
    stripe."""
    w, h = max(int(round(p.size[0] * scale)), 8), max(int(round(p.size[1] * scale)), 8)
    mask = _outline(p.shape, w, h)
    body = np.empty((h, w, 3), np.float32)
    body[:] = p.body
    yy, xx = np.mgrid[0:h, 0:w]
    # fine print on the body: thin stripes whose period and angle depend on the class
    period = 5 + (p.category_id % 4) * 2
    ang = np.deg2rad(30 * (p.category_id % 6))
    stripes = np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * 2 * np.pi / period * scale**-0.5)
    body *= (1 + 0.06 * stripes)[..., None]
    band0, band1 = int(h * 0.42), int(h * 0.78)
    art = cv2.resize(label_art(p.category_id), (w, band1 - band0), interpolation=cv2.INTER_AREA)
    body[band0:band1] = 0.55 * np.float32(p.label) + 0.45 * art.astype(np.float32)
    img = np.clip(body, 0, 255).astype(np.uint8)
    r = max(min(w, band1 - band0) // 4, 3)
    _logo(img, p.logo, w // 3, (band0 + band1) // 2, r, tuple(int(c) for c in p.body))
    if p.shape == "bottle":  # a dark cap
        img[: max(h // 14, 2)] = (30, 30, 30)
    if p.shape in ("can", "bottle"):  # a cylinder: Lambert shading across the width + highlight
        u = (xx + 0.5) / w * 2 - 1
        lam = 0.55 + 0.45 * np.sqrt(np.clip(1 - u**2, 0, 1)) * (1 - 0.25 * u)
        spec = 60 * np.exp(-(((u + 0.35) / 0.08) ** 2))
        img = np.clip(img * lam[..., None] + spec[..., None], 0, 255).astype(np.uint8)
    img[mask == 0] = 0
    return img, mask.astype(bool)


def render_top(p: Product, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The product's top face seen from straight above (its depth x width): a can's lid (metal
    rings), a bottle's shoulder and cap, a box's lid in its body colour with a strip of its print, a
    pouch's sealed edge."""
    w = max(int(round(p.size[0] * scale)), 8)
    d = max(int(round(w * _DEPTH[p.shape])), 4)
    img = np.zeros((d, w, 3), np.uint8)
    mask = np.zeros((d, w), np.uint8)
    c = (w // 2, d // 2)
    if p.shape in ("can", "bottle"):
        cv2.ellipse(mask, c, (w // 2 - 1, d // 2 - 1), 0, 0, 360, 1, -1)
        if p.shape == "can":
            cv2.ellipse(img, c, (w // 2 - 1, d // 2 - 1), 0, 0, 360, (185, 185, 190), -1)
            cv2.ellipse(img, c, (w // 2 - 4, d // 2 - 4), 0, 0, 360, tuple(p.body), 2)
            cv2.ellipse(img, c, (w // 3, d // 3), 0, 0, 360, (150, 150, 155), -1)
        else:
            cv2.ellipse(img, c, (w // 2 - 1, d // 2 - 1), 0, 0, 360, tuple(p.body), -1)
            cv2.ellipse(img, c, (w // 5, d // 5), 0, 0, 360, (30, 30, 30), -1)
    else:
        mask[:] = 1
        img[:] = p.body
        strip = cv2.resize(label_art(p.category_id), (w, max(d // 3, 2)))
        img[d // 3 : d // 3 + strip.shape[0]] = strip
        img = np.clip(img.astype(np.float32) * 1.12, 0, 255).astype(np.uint8)
    img[mask == 0] = 0
    return img, mask.astype(bool)


# RPC's four training cameras (Section 4.1): elevation above the horizon in degrees
VIEWS = {"top": 90.0, "45deg": 45.0, "30deg": 30.0, "horizontal": 0.0}


def render_at_elevation(
    p: Product, elevation: float, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """The product standing upright, seen by a camera ``elevation`` degrees above the horizon:
    the front face foreshortened by cos(elevation) below the top face foreshortened by
    sin(elevation) (orthographic), as RPC's four cameras see a product on the turntable."""
    if not 0 <= elevation <= 90:
        raise ValueError(f"elevation must be in [0, 90] degrees, got {elevation}")
    e = np.deg2rad(elevation)
    front, fm = render_upright(p, scale)
    top, tm = render_top(p, scale)
    fh = int(round(front.shape[0] * np.cos(e)))
    th = int(round(top.shape[0] * np.sin(e)))
    parts = []
    if th >= 2:
        parts.append(
            (
                cv2.resize(top, (top.shape[1], th), interpolation=cv2.INTER_AREA),
                cv2.resize(tm.astype(np.uint8), (top.shape[1], th), cv2.INTER_NEAREST),
            )
        )
    if fh >= 2:
        f = cv2.resize(front, (front.shape[1], fh), interpolation=cv2.INTER_AREA)
        shade = np.float32(0.75 + 0.25 * np.cos(e))  # the face turns away from the overhead light
        parts.append(
            (
                np.clip(f * shade, 0, 255).astype(np.uint8),
                cv2.resize(fm.astype(np.uint8), (front.shape[1], fh), cv2.INTER_NEAREST),
            )
        )
    if len(parts) == 2 and p.shape in ("can", "bottle"):  # the lid's lower half overlaps the body
        (ti, tmk), (fi, fmk) = parts
        cut = ti.shape[0] // 2
        H = max(cut + fi.shape[0], ti.shape[0])
        img = np.zeros((H, fi.shape[1], 3), np.uint8)
        mask = np.zeros((H, fi.shape[1]), np.uint8)
        img[cut : cut + fi.shape[0]], mask[cut : cut + fi.shape[0]] = fi, fmk
        keep = tmk.astype(bool)
        img[: ti.shape[0]][keep] = ti[keep]
        mask[: ti.shape[0]] |= tmk
    else:
        img = np.concatenate([x for x, _ in parts], 0)
        mask = np.concatenate([m for _, m in parts], 0)
    return img, mask.astype(bool)


def view(
    p: Product,
    rng: np.random.Generator,
    rotation: float | None = None,
    camera: str | float = "top",
    scale: float = 1.0,
    shade: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The product seen from ``camera`` (a key of VIEWS or an elevation in degrees), turned by
    ``rotation`` degrees in the image plane (random when None), ``scale``d and lit by ``shade``.

    Returns a tight (H, W, 3) uint8 sprite and its (H, W) bool mask (mask touches all four borders).
    """
    if isinstance(camera, str):
        if camera not in VIEWS:
            raise ValueError(f"camera must be one of {list(VIEWS)} or an elevation, got {camera!r}")
        camera = VIEWS[camera]
    img, mask = render_at_elevation(p, float(camera), scale)
    angle = float(rng.uniform(0, 360)) if rotation is None else float(rotation)
    h, w = mask.shape
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(rot[0, 0]), abs(rot[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)) + 2, int(np.ceil(h * cos + w * sin)) + 2
    rot[0, 2] += nw / 2 - w / 2
    rot[1, 2] += nh / 2 - h / 2
    img = cv2.warpAffine(img, rot, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)
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
