"""Checkout data: the generated RPC-like set, COCO-format export and validation, the RPC loader
(``instances_{train,val,test}2019.json``) and the paper's preprocessing (images downscaled, boxes
rescaled, Section 3.1).

Coordinates: annotations live in *camera* pixels (the resolution the images were taken at, as in
RPC's JSON); the detector sees images downscaled by ``factor`` and its boxes are multiplied back by
``factor`` before they are scored against the camera-resolution ground truth, as in the paper.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..core import require_data_root
from .products import VIEWS, Product, catalogue, view

LEVELS = ("easy", "medium", "hard")
# clutter levels: (min, max) products per tray image and the largest fraction of any product that
# later products may hide (easy: none touch)
CLUTTER = {"easy": ((2, 3), 0.0), "medium": ((4, 5), 0.15), "hard": ((6, 8), 0.4)}
# chance that a customer's hand reaches into the tray image (RPC's "obscured by obstacles (such as
# hands)", Section 1); a hand may hide up to HAND_HIDES of any product
HANDS = {"easy": 0.3, "medium": 0.5, "hard": 0.7}
HAND_HIDES = 0.5
# checkout poses seen by the overhead camera: lying on the back (the label seen almost square-on,
# elevation 0-25 degrees) or standing (the top seen from above, 65-90 degrees)
P_LYING = 0.7
SKIN = ((224, 172, 140), (198, 134, 96), (141, 85, 36), (250, 214, 170), (120, 72, 40))

RPC_HOW = (
    "RPC (Wei et al. 2019, https://rpc-dataset.github.io/), e.g. from Kaggle "
    "'diyer22/retail-product-checkout-dataset'; unpack so that data_root holds "
    "instances_{train,val,test}2019.json and the folders train2019/, val2019/, test2019/."
)

TEXTURES = ("wood", "fabric", "speckle", "plain")


def _smooth_noise(size: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """(size, size) float field of unit-ish amplitude, smooth on the scale size / cells."""
    g = rng.normal(0, 1, (cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC)


def tray(size: int, rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
    """An empty checkout tray seen from above: a surface of random low-saturation colour (light to
    dark), with a wood, fabric, speckle or plain texture and an uneven light (and sensor noise of
    std ``noise``; the generator adds it after downscaling, where it is cheaper)."""
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    hsv = np.array(
        [[[rng.uniform(0, 180), rng.uniform(0, 0.22) * 255, rng.uniform(0.38, 0.92) * 255]]],
        np.float32,
    )
    base = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == "wood":
        a = rng.uniform(0, np.pi)
        u = xx * np.cos(a) + yy * np.sin(a)
        t = np.sin(2 * np.pi * (rng.uniform(8, 20) * u + 1.5 * _smooth_noise(size, rng, 4)))
        tex = 0.10 * t + 0.04 * _smooth_noise(size, rng, 40)
    elif kind == "fabric":
        p = rng.uniform(5, 11)
        px = np.arange(size, dtype=np.float32)
        tex = 0.07 * np.sin(2 * np.pi * px / p)[None, :] * np.sin(2 * np.pi * px / p)[:, None]
        tex = tex + 0.03 * _smooth_noise(size, rng, 60)
    elif kind == "speckle":
        tex = 0.09 * _smooth_noise(size, rng, 90) + 0.05 * _smooth_noise(size, rng, 10)
    else:
        tex = 0.03 * _smooth_noise(size, rng, 6)
    a = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0.05, 0.22) * ((xx - 0.5) * np.cos(a) + (yy - 0.5) * np.sin(a))
    img = base[None, None] * ((1 + tex) * light)[..., None]
    if noise > 0:
        img = img + rng.normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _cast_shadow(img: np.ndarray, full: np.ndarray, size: int, rng: np.random.Generator):
    """Darken ``img`` under the product mask ``full`` shifted away from the light, softly."""
    off = max(int(round(size * rng.uniform(0.006, 0.016))), 1)
    m = np.roll(np.roll(full.astype(np.float32), off, 0), off, 1)
    k = 2 * max(size // 90, 1) + 1
    m = cv2.GaussianBlur(m, (k, k), 0)
    img[:] = np.clip(img * (1 - 0.45 * m)[..., None], 0, 255).astype(np.uint8)


def hand(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A customer's hand reaching in from a random edge: (size, size, 3) uint8 image and bool mask
    (forearm, palm, four fingers and a thumb; skin tone and shading random)."""
    mask = np.zeros((size, size), np.uint8)
    edge = int(rng.integers(4))
    t = rng.uniform(0.2, 0.8) * size
    start = [(t, -0.1 * size), (size * 1.1, t), (t, size * 1.1), (-0.1 * size, t)][edge]
    inward = np.array([(0, 1), (-1, 0), (0, -1), (1, 0)][edge], float)
    ang = rng.uniform(-0.5, 0.5)
    c, s = np.cos(ang), np.sin(ang)
    d = np.array([c * inward[0] - s * inward[1], s * inward[0] + c * inward[1]])
    reach = rng.uniform(0.3, 0.5) * size
    palm = np.array(start) + d * reach
    r = size * rng.uniform(0.065, 0.085)
    arm = max(int(1.5 * r), 2)
    cv2.line(mask, tuple(np.int32(start)), tuple(np.int32(palm)), 1, arm)
    ca = np.degrees(np.arctan2(d[1], d[0]))
    cv2.ellipse(mask, tuple(np.int32(palm)), (int(1.1 * r), int(0.95 * r)), ca, 0, 360, 1, -1)
    side = np.array([-d[1], d[0]])
    for k, off in enumerate((-0.75, -0.25, 0.25, 0.75)):
        base = palm + d * 0.8 * r + side * off * r
        tip = base + d * r * rng.uniform(1.1, 1.5) * (0.85 if k in (0, 3) else 1.0)
        cv2.line(mask, tuple(np.int32(base)), tuple(np.int32(tip)), 1, max(int(0.38 * r), 2))
    thumb = palm + side * 1.0 * r * rng.choice([-1, 1])
    cv2.line(
        mask, tuple(np.int32(palm)), tuple(np.int32(thumb + d * 0.6 * r)), 1, max(int(0.42 * r), 2)
    )
    tone = np.array(SKIN[int(rng.integers(len(SKIN)))], np.float32) * rng.uniform(0.85, 1.1)
    shade = 1 + 0.12 * _smooth_noise(size, rng, 8)
    img = np.clip(tone[None, None] * shade[..., None], 0, 255).astype(np.uint8)
    return img, mask.astype(bool)


@dataclass
class Scene:
    """One rendered camera image with its instances (category ids, [x, y, w, h] boxes, amodal
    masks, visible fractions) and whether a hand is in it."""

    image: np.ndarray
    category_ids: list
    boxes: list
    masks: list = field(repr=False)
    visible: list
    hand: bool = False


def render_scene(
    products: list[Product],
    size: int,
    rng: np.random.Generator,
    level: str | None = None,
    camera: str = "top",
    count: int | None = None,
    max_hidden: float | None = None,
    hands: bool = True,
) -> Scene:
    """A tray image of ``size`` x ``size`` camera pixels on a random textured tray (``tray``), every
    product casting a soft shadow.

    ``level=None``: one product (uniform class) standing on the tray, seen by RPC's camera
    ``camera`` (a key of VIEWS) from any side: RPC's single-product training images. ``level`` in
    LEVELS: a checkout image seen from above, products lying (P_LYING) or standing, random
    rotations, count and overlap from CLUTTER (later products may hide up to ``max_hidden`` of
    earlier ones), and with chance HANDS[level] a hand reaching in (``hands=False``: never). Boxes
    are tight around each product's full (amodal) mask, as RPC annotates; hands are not annotated.
    Product sizes are given for a 448-px camera and scale with ``size``.
    """
    if level is None:
        n, hidden = 1, 0.0
    elif level in CLUTTER:
        (lo, hi), hidden = CLUTTER[level]
        n = int(rng.integers(lo, hi + 1))
    else:
        raise ValueError(f"level must be None or one of {LEVELS}, got {level!r}")
    n = count if count is not None else n
    hidden = max_hidden if max_hidden is not None else hidden
    img = tray(size, rng)
    owner = np.full((size, size), -1, np.int32)
    cats, boxes, masks, areas = [], [], [], []
    for _ in range(n):
        p = products[int(rng.integers(len(products)))]
        if level is None:
            elevation = VIEWS[camera]
        else:
            lying = rng.random() < P_LYING
            elevation = rng.uniform(0, 25) if lying else rng.uniform(65, 90)
        sprite, m = view(
            p,
            rng,
            camera=float(elevation),
            scale=float(rng.uniform(0.88, 1.12)) * size / 448,
            shade=float(rng.uniform(0.8, 1.1)),
        )
        h, w = m.shape
        if h >= size or w >= size:
            raise ValueError(f"product {p.name!r} ({w}x{h} px) does not fit a {size}-px image")
        for _try in range(60):
            y, x = int(rng.integers(0, size - h)), int(rng.integers(0, size - w))
            under = owner[y : y + h, x : x + w][m]
            ok = True
            for j in np.unique(under[under >= 0]):
                still = (owner == j).sum() - (under == j).sum()
                if still < (1 - hidden) * areas[j] - 1e-9 or (hidden == 0 and (under == j).any()):
                    ok = False
                    break
            if ok:
                break
        else:
            continue  # no room left on the tray for this product
        full = np.zeros((size, size), bool)
        full[y : y + h, x : x + w] = m
        _cast_shadow(img, full, size, rng)
        img[full] = sprite[m]
        owner[full] = len(cats)
        cats.append(p.category_id)
        boxes.append([x, y, w, h])
        masks.append(full)
        areas.append(int(m.sum()))
    with_hand = False
    if level is not None and hands and cats and rng.random() < HANDS[level]:
        for _try in range(10):
            himg, hm = hand(size, rng)
            lost = [((owner == i) & hm).sum() / a for i, a in enumerate(areas)]
            if max(lost) <= HAND_HIDES:
                _cast_shadow(img, hm, size, rng)
                img[hm] = himg[hm]
                owner[hm] = -2
                with_hand = True
                break
    visible = [float((owner == i).sum() / a) for i, a in enumerate(areas)]
    return Scene(img, cats, boxes, masks, visible, with_hand)


@dataclass
class CheckoutSet:
    """Images for the detector plus their COCO ground truth (camera pixels).

    images: (N, S, S, 3) uint8 array at network resolution, or a list of image files (RPC) that
    ``image(i)`` reads and downscales on access. coco: COCO dict (``images`` carry ``level`` in
    val/test, as RPC's). factor: camera pixels per network pixel (the paper's 4). cache_dir (image
    files only): where each downscaled image is kept as a lossless PNG after its first decode
    (Section 3.1's downscaling done once, not per sample and epoch); ``fill_cache`` fills it up
    front.
    """

    images: object
    coco: dict
    factor: float
    img_size: int
    name: str = ""
    cache_dir: str | Path | None = None

    def __post_init__(self):
        self.ids = [im["id"] for im in self.coco["images"]]
        self._anns = {i: [] for i in self.ids}
        for a in self.coco["annotations"]:
            self._anns[a["image_id"]].append(a)

    def __len__(self):
        return len(self.ids)

    @property
    def levels(self) -> list:
        return [im.get("level", "single") for im in self.coco["images"]]

    @property
    def num_classes(self) -> int:
        return len(self.coco["categories"])

    def factor_of(self, i: int) -> float:
        """Camera pixels per network pixel for image ``i`` (RPC's image sizes vary slightly)."""
        im = self.coco["images"][i]
        if isinstance(self.images, np.ndarray):
            return self.factor
        return max(im["width"], im["height"]) / self.img_size

    def image(self, i: int) -> np.ndarray:
        """(S', S', 3) uint8 network-resolution image ``i`` (S' = img_size along the longer
        side)."""
        if isinstance(self.images, np.ndarray):
            return self.images[i]
        cached = self._cache_path(i)
        if cached is not None and cached.is_file():
            bgr = cv2.imread(str(cached), cv2.IMREAD_COLOR)
            if bgr is not None:
                return bgr[..., ::-1]
        bgr = self._decode(i)
        if cached is not None:
            _write_atomic(cached, bgr)
        return bgr[..., ::-1]

    def _decode(self, i: int) -> np.ndarray:
        """Image file ``i`` decoded and downscaled (INTER_AREA) to img_size, BGR."""
        path = self.images[i]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"{path}: cannot read image (listed in {self.name})")
        h, w = bgr.shape[:2]
        s = self.img_size / max(h, w)
        return cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)

    def _cache_path(self, i: int) -> Path | None:
        """Cache file of image ``i``: <cache_dir>/<img_size>/<folder>/<file stem>.png, so splits
        and sizes never collide."""
        if self.cache_dir is None or isinstance(self.images, np.ndarray):
            return None
        src = Path(self.images[i])
        return Path(self.cache_dir) / str(self.img_size) / src.parent.name / (src.stem + ".png")

    def fill_cache(self, threads: int = 1) -> int:
        """Decode, downscale and cache every image not cached yet (``threads`` > 1: a thread pool;
        OpenCV releases the GIL while decoding). Returns how many images were written."""
        if self.cache_dir is None or isinstance(self.images, np.ndarray):
            raise ValueError(
                f"{self.name}: fill_cache needs image files and a cache_dir "
                "(load_rpc(..., cache_dir=...))"
            )
        todo = [i for i in range(len(self)) if not self._cache_path(i).is_file()]

        def one(i):
            _write_atomic(self._cache_path(i), self._decode(i))

        if threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(one, todo))
        else:
            for i in todo:
                one(i)
        return len(todo)

    def target(self, i: int) -> dict:
        """Ground truth of image ``i`` at network resolution: boxes (n, 4) x0 y0 x1 y1, labels
        (n,)."""
        anns = self._anns[self.ids[i]]
        b = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4) / self.factor_of(i)
        b[:, 2:] += b[:, :2]
        return {
            "boxes": b,
            "labels": np.array([a["category_id"] for a in anns], np.int64),
            "image_id": self.ids[i],
        }

    def counts(self) -> np.ndarray:
        """(N, K) ground-truth count table: products of each class in each image (RPC's checkout
        list)."""
        K = self.num_classes
        out = np.zeros((len(self), K), np.int64)
        for r, i in enumerate(self.ids):
            for a in self._anns[i]:
                out[r, a["category_id"] - 1] += 1
        return out

    def subset(self, level: str | None = None, first: int | None = None) -> "CheckoutSet":
        """The images of one clutter level (all for None), or only the ``first`` ones; same ids."""
        keep = [r for r, lv in enumerate(self.levels) if level is None or lv == level][:first]
        ids = {self.ids[r] for r in keep}
        coco = {
            **self.coco,
            "images": [self.coco["images"][r] for r in keep],
            "annotations": [a for a in self.coco["annotations"] if a["image_id"] in ids],
        }
        imgs = (
            self.images[keep]
            if isinstance(self.images, np.ndarray)
            else [self.images[r] for r in keep]
        )
        return CheckoutSet(
            imgs,
            coco,
            self.factor,
            self.img_size,
            f"{self.name}[{level or ''}:{first or ''}]",
            self.cache_dir,
        )


def _write_atomic(path: Path, bgr: np.ndarray) -> None:
    """PNG-encode ``bgr`` into a temporary file next to ``path``, then rename it into place: a
    reader (another loader worker) sees the whole file or none."""
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise ValueError(f"{path}: cannot PNG-encode a {bgr.shape} image")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.tobytes())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _categories(products):
    return [{"id": p.category_id, "name": p.name, "supercategory": p.shape} for p in products]


def generate(
    split: str,
    n_images: int,
    num_classes: int = 8,
    img_size: int = 112,
    factor: int = 4,
    levels=LEVELS,
    seed: int = 0,
) -> CheckoutSet:
    """A generated RPC-like split. ``split="train"``: single-product images, cycling through RPC's
    four camera views; ``"val"``/``"test"``: checkout images, ``n_images`` per clutter level.
    Rendered at ``img_size * factor`` camera pixels, then downscaled by ``factor`` (Section 3.1).
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    rng = np.random.default_rng([seed, {"train": 0, "val": 1, "test": 2}[split]])
    products = catalogue(num_classes)
    size = img_size * factor
    jobs = (
        [(None, cam) for _, cam in zip(range(n_images), _cycle(list(VIEWS)))]
        if split == "train"
        else [(lv, "top") for lv in levels for _ in range(n_images)]
    )
    imgs, images, anns = [], [], []
    for k, (level, cam) in enumerate(jobs):
        sc = render_scene(products, size, rng, level=level, camera=cam)
        small = downscale(sc.image, factor).astype(np.float32) + rng.normal(
            0, 2.0, (img_size, img_size, 3)
        )
        imgs.append(np.clip(small, 0, 255).astype(np.uint8))
        entry = {
            "id": k + 1,
            "file_name": f"{split}_{k + 1:05d}.png",
            "width": size,
            "height": size,
        }
        if level is not None:
            entry["level"] = level
            entry["hand"] = sc.hand
        else:
            entry["camera"] = cam
        images.append(entry)
        for c, b in zip(sc.category_ids, sc.boxes):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": k + 1,
                    "category_id": int(c),
                    "bbox": [float(v) for v in b],
                    "area": float(b[2] * b[3]),
                    "iscrowd": 0,
                }
            )
    coco = {
        "info": {"description": f"generated RPC-like checkout set, split {split}, seed {seed}"},
        "images": images,
        "annotations": anns,
        "categories": _categories(products),
    }
    validate_coco(coco, f"generated {split}")
    return CheckoutSet(np.stack(imgs), coco, float(factor), img_size, f"generated {split}")


def _cycle(items):
    while True:
        yield from items


def downscale(image: np.ndarray, factor: float) -> np.ndarray:
    """The paper's preprocessing (Section 3.1): shrink the camera image by ``factor`` (area
    averaging)."""
    h, w = image.shape[:2]
    return cv2.resize(image, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA)


def validate_coco(
    coco: dict, source: str = "COCO JSON", tolerance: float = 1.0, clip: bool = False
) -> dict:
    """Check a COCO instances dict; raise ValueError naming ``source`` and the offending entry.

    Required: ``images`` (unique ``id``, positive ``width``/``height``), ``categories`` (unique
    ``id``), ``annotations`` (unique ``id``, an existing ``image_id`` and ``category_id``, a finite
    [x, y, w, h] ``bbox`` with w, h > 0 inside its image up to ``tolerance`` pixels).

    ``clip=True`` (real annotations, e.g. RPC's): a box reaching past its image is clipped to it
    instead (its ``area`` scaled alike) and one warning lists how many were clipped; boxes left
    empty by clipping are dropped with a warning. Malformed entries still raise. Returns the dict
    (a new one with the clipped annotations when any were).
    """
    if not isinstance(coco, dict):
        raise ValueError(
            f"{source}: expected a JSON object with images/annotations/categories, got "
            f"{type(coco).__name__}"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise ValueError(f"{source}: missing or non-list '{key}'")
    sizes = {}
    for im in coco["images"]:
        if "id" not in im:
            raise ValueError(f"{source}: an image entry has no 'id': {im}")
        if im["id"] in sizes:
            raise ValueError(f"{source}: duplicate image id {im['id']}")
        w, h = im.get("width"), im.get("height")
        if not (isinstance(w, (int, float)) and isinstance(h, (int, float)) and w > 0 and h > 0):
            raise ValueError(
                f"{source}: image {im['id']} needs positive 'width' and 'height', got {w}, {h}"
            )
        sizes[im["id"]] = (w, h)
    cats = set()
    for c in coco["categories"]:
        if "id" not in c or c["id"] in cats:
            raise ValueError(f"{source}: category without id or with a duplicate id: {c}")
        cats.add(c["id"])
    seen = set()
    for a in coco["annotations"]:
        if "id" not in a:
            raise ValueError(f"{source}: an annotation has no 'id': {a}")
        aid = a["id"]
        if aid in seen:
            raise ValueError(f"{source}: duplicate annotation id {aid}")
        seen.add(aid)
        if a.get("image_id") not in sizes:
            raise ValueError(
                f"{source}: annotation {aid} refers to image_id {a.get('image_id')}, which is not "
                f"in 'images'"
            )
        if a.get("category_id") not in cats:
            raise ValueError(
                f"{source}: annotation {aid} has category_id {a.get('category_id')}, not in "
                f"'categories'"
            )
        b = a.get("bbox")
        if not (
            isinstance(b, (list, tuple))
            and len(b) == 4
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in b)
        ):
            raise ValueError(
                f"{source}: annotation {aid}: bbox must be 4 finite numbers [x, y, w, h], got {b}"
            )
        x, y, w, h = b
        if w <= 0 or h <= 0:
            raise ValueError(f"{source}: annotation {aid}: zero-area box {b} (w and h must be > 0)")
        W, H = sizes[a["image_id"]]
        if clip:
            continue
        if x < -tolerance or y < -tolerance or x + w > W + tolerance or y + h > H + tolerance:
            raise ValueError(
                f"{source}: annotation {aid}: box {b} lies outside its {W}x{H} image "
                f"{a['image_id']}"
            )
    return _clip_boxes(coco, sizes, source) if clip else coco


def _clip_boxes(coco: dict, sizes: dict, source: str) -> dict:
    """Boxes of a validated ``coco`` clipped to their images (see validate_coco)."""
    clipped, dropped, anns = [], [], []
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        W, H = sizes[a["image_id"]]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
        if (x0, y0, x1, y1) == (x, y, x + w, y + h):
            anns.append(a)
        elif x1 <= x0 or y1 <= y0:
            dropped.append(a["id"])
        else:
            clipped.append(a["id"])
            box = [x0, y0, x1 - x0, y1 - y0]
            a = {**a, "bbox": box}
            if isinstance(a.get("area"), (int, float)):
                a["area"] = a["area"] * box[2] * box[3] / (w * h)
            anns.append(a)

    def few(ids):
        return ", ".join(map(str, ids[:5])) + (", ..." if len(ids) > 5 else "")

    if clipped:
        warnings.warn(
            f"{source}: {len(clipped)} box(es) reaching past their image clipped to it "
            f"(annotation ids {few(clipped)})",
            stacklevel=3,
        )
    if dropped:
        warnings.warn(
            f"{source}: {len(dropped)} box(es) entirely outside their image dropped "
            f"(annotation ids {few(dropped)})",
            stacklevel=3,
        )
    return {**coco, "annotations": anns} if clipped or dropped else coco


def load_coco_json(path, clip: bool = False) -> dict:
    """Read and validate a COCO instances file (e.g. RPC's ``instances_val2019.json``);
    ``clip``: boxes reaching past their image are clipped with a warning (see validate_coco)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such COCO annotation file")
    try:
        coco = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    return validate_coco(coco, str(path), clip=clip)


def load_rpc(
    data_root,
    split: str,
    img_size: int = 448,
    max_images: int | None = None,
    levels=None,
    cache_dir=None,
    clip: bool = True,
) -> CheckoutSet:
    """RPC's ``split`` ("train", "val", "test") from ``data_root`` (see RPC_HOW), read lazily and
    downscaled so the longer side is ``img_size``; ground truth stays in camera pixels and
    ``factor`` = camera size / ``img_size`` (the paper shrinks ~1,800-px images to ~450, factor 4).
    ``levels`` keeps only those clutter levels (val/test); ``max_images`` the first ones (in id
    order). ``cache_dir``: keep each downscaled image there after its first read (lossless PNG;
    ``fill_cache`` fills it up front). ``clip``: boxes reaching a little past their image (RPC has
    a few) are clipped with one warning rather than rejecting the split.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    root = require_data_root(
        data_root, "RPC", [f"instances_{split}2019.json", f"{split}2019"], RPC_HOW
    )
    coco = load_coco_json(root / f"instances_{split}2019.json", clip=clip)
    images = sorted(coco["images"], key=lambda im: im["id"])
    if levels is not None:
        images = [im for im in images if im.get("level") in levels]
    if max_images is not None:
        images = images[:max_images]
    ids = {im["id"] for im in images}
    factor = max(max(im["width"], im["height"]) for im in images) / img_size if images else 1.0
    sub = {
        **coco,
        "images": images,
        "annotations": [a for a in coco["annotations"] if a["image_id"] in ids],
    }
    files = [root / f"{split}2019" / im["file_name"] for im in images]
    return CheckoutSet(files, sub, float(factor), img_size, f"RPC {split}", cache_dir)


def cut_out(image: np.ndarray, box, iterations: int = 3) -> np.ndarray | None:
    """The product's pixels inside its box ``box`` (x0 y0 x1 y1, network pixels) of a single-product
    training image, by GrabCut (``cv2.grabCut``, initialised by the box, as one would cut RPC's
    photos, which come with boxes only). Returns the (h, w) bool mask of the box crop, or None when
    GrabCut keeps fewer than 8 pixels."""
    H, W = image.shape[:2]
    x0, y0, x1, y1 = np.round(box).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    mask = np.zeros((H, W), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    rect = (max(x0 - 1, 0), max(y0 - 1, 0), min(x1 + 1, W) - max(x0 - 1, 0), min(y1 + 1, H) -
            max(y0 - 1, 0))  # fmt: skip
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(image[..., ::-1]), mask, rect, bgd, fgd, iterations,
                cv2.GC_INIT_WITH_RECT)  # fmt: skip
    m = np.isin(mask[y0:y1, x0:x1], (cv2.GC_FGD, cv2.GC_PR_FGD))
    return m if m.sum() >= 8 else None


def copy_paste(
    train_set: CheckoutSet,
    seed: int = 0,
    count=(2, 6),
    max_hidden: float = 0.25,
) -> CheckoutSet:
    """Synthesised checkout trays made only from the single-product training images (the remedy of
    RPC's authors, Wei et al. 2019, not of this paper), *matched* to the training set: every
    training product appears exactly once, so the trays hold the same product instances as the
    single-product set (only their arrangement differs).

    The training images are shuffled and cut into groups of ``count`` (uniform, a priori: not the
    test levels' counts); the first image of a group is the tray (its product stays where it is),
    the others' products are cut out (``cut_out``, GrabCut from the box) and pasted at random
    places, hiding at most ``max_hidden`` of any product already there (fixed a priori, below the
    hard level's 0.4). A product that finds no room is pasted on the next tray instead.
    """
    if not isinstance(train_set.images, np.ndarray):
        raise ValueError(
            "copy_paste needs an in-memory training set (generated, or load it into memory first)"
        )
    if not 1 <= count[0] <= count[1]:
        raise ValueError(f"count must be (min, max) with 1 <= min <= max, got {count}")
    rng = np.random.default_rng([seed, 7])
    S, f = train_set.img_size, train_set.factor
    cuts = {}
    for i in range(len(train_set)):
        t = train_set.target(i)
        m = cut_out(train_set.images[i], t["boxes"][0])
        if m is not None:
            x0, y0 = np.maximum(np.round(t["boxes"][0][:2]).astype(int), 0)
            crop = train_set.images[i, y0 : y0 + m.shape[0], x0 : x0 + m.shape[1]]
            cuts[i] = (crop, m, int(t["labels"][0]))
    order = list(rng.permutation(len(train_set)))
    imgs, images, anns = [], [], []
    while order:
        n = int(rng.integers(count[0], count[1] + 1))
        base, rest = order[0], order[1:n]
        order = order[n:]
        img = train_set.images[base].copy()
        owner = np.full((S, S), -1, np.int32)
        k = len(images) + 1
        tb = train_set.target(base)
        x0, y0, x1, y1 = tb["boxes"][0]
        anns.append(_ann(len(anns) + 1, k, int(tb["labels"][0]), [x0, y0, x1 - x0, y1 - y0], f))
        areas = [float((x1 - x0) * (y1 - y0))]
        bx = np.round(tb["boxes"][0]).astype(int)
        owner[max(bx[1], 0) : bx[3], max(bx[0], 0) : bx[2]] = 0
        left = []
        for j in rest:
            if j not in cuts:
                continue
            crop, m, c = cuts[j]
            h, w = m.shape
            if h >= S or w >= S:
                continue
            for _try in range(30):
                y, x = int(rng.integers(0, S - h + 1)), int(rng.integers(0, S - w + 1))
                under = owner[y : y + h, x : x + w][m]
                if all(
                    (owner == o).sum() - (under == o).sum() >= (1 - max_hidden) * areas[o]
                    for o in np.unique(under[under >= 0])
                ):
                    break
            else:
                left.append(j)
                continue
            img[y : y + h, x : x + w][m] = crop[m]
            owner[y : y + h, x : x + w][m] = len(areas)
            areas.append(float(m.sum()))
            ys, xs = np.nonzero(m)
            bb = [x + xs.min(), y + ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            anns.append(_ann(len(anns) + 1, k, c, bb, f))
        order = left + order  # no room: they start the next tray
        imgs.append(img)
        images.append(
            {
                "id": k,
                "file_name": f"copy_paste_{k:05d}.png",
                "width": S * f,
                "height": S * f,
                "level": "synthesised",
            }
        )
    coco = {
        "info": {"description": f"copy-paste trays from {train_set.name}, seed {seed}"},
        "images": images,
        "annotations": anns,
        "categories": train_set.coco["categories"],
    }
    validate_coco(coco, "copy-paste trays")
    return CheckoutSet(np.stack(imgs), coco, f, S, "copy-paste trays")


def _ann(aid: int, image_id: int, category_id: int, box, factor: float) -> dict:
    """A COCO annotation in camera pixels from a network-pixel [x, y, w, h] box."""
    b = [float(v) * factor for v in box]
    return {
        "id": aid,
        "image_id": image_id,
        "category_id": int(category_id),
        "bbox": b,
        "area": b[2] * b[3],
        "iscrowd": 0,
    }
