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

RPC_HOW = (
    "RPC (Wei et al. 2019, https://rpc-dataset.github.io/), e.g. from Kaggle "
    "'diyer22/retail-product-checkout-dataset'; unpack so that data_root holds "
    "instances_{train,val,test}2019.json and the folders train2019/, val2019/, test2019/."
)


def tray(size: int, rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
    """An empty checkout tray seen from above: a light board with soft shading (and sensor noise of
    std ``noise``; the generator adds it after downscaling, where it is cheaper)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    g = 222 + 14 * np.sin(2 * np.pi * (xx * rng.uniform(0.3, 0.8) + rng.uniform())) * yy
    img = np.repeat(g[..., None], 3, axis=2) + np.array([0, 2, -4])
    if noise > 0:
        img = img + rng.normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass
class Scene:
    """One rendered camera image with its instances (category ids, [x, y, w, h] boxes, amodal
    masks)."""

    image: np.ndarray
    category_ids: list
    boxes: list
    masks: list = field(repr=False)
    visible: list


def render_scene(
    products: list[Product],
    size: int,
    rng: np.random.Generator,
    level: str | None = None,
    camera: str = "top",
    count: int | None = None,
    max_hidden: float | None = None,
) -> Scene:
    """A tray image of ``size`` x ``size`` camera pixels.

    ``level=None``: one product (uniform class), seen from ``camera``, at a random place: RPC's
    single-product training images. ``level`` in LEVELS: a checkout image, products seen from above,
    random rotations, count and overlap from CLUTTER (later products may hide up to ``max_hidden``
    of earlier ones). Boxes are tight around each product's full (amodal) mask, as RPC annotates.
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
        sprite, m = view(
            p,
            rng,
            camera=camera,
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
        img[full] = sprite[m]
        owner[full] = len(cats)
        cats.append(p.category_id)
        boxes.append([x, y, w, h])
        masks.append(full)
        areas.append(int(m.sum()))
    visible = [float((owner == i).sum() / a) for i, a in enumerate(areas)]
    return Scene(img, cats, boxes, masks, visible)


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


def copy_paste(
    train_set: CheckoutSet,
    n_images: int,
    seed: int = 0,
    count=(2, 8),
    max_hidden: float = 0.4,
    fg_threshold: float = 40.0,
) -> CheckoutSet:
    """Synthesised checkout trays made only from the single-product training images (the remedy of
    RPC's authors, Wei et al. 2019, not of this paper): each product is cut out of its training
    image (the convex hull of the pixels unlike the empty tray inside its box), pasted at a random
    place, flipped at random, up to ``max_hidden`` of earlier products covered. The empty tray is
    the per-pixel median of the training images (products sit at random places, so the median is the
    background).
    """
    from skimage.morphology import convex_hull_image

    if not isinstance(train_set.images, np.ndarray):
        raise ValueError(
            "copy_paste needs an in-memory training set (generated, or load it into memory first)"
        )
    rng = np.random.default_rng([seed, 7])
    background = np.median(train_set.images[: min(len(train_set), 200)], axis=0).astype(np.float32)
    S = train_set.img_size
    cuts = []
    for i in range(len(train_set)):
        t = train_set.target(i)
        x0, y0, x1, y1 = np.round(t["boxes"][0]).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, S), min(y1, S)
        crop = train_set.images[i, y0:y1, x0:x1].astype(np.float32)
        m = np.abs(crop - background[y0:y1, x0:x1]).max(-1) > fg_threshold
        if m.sum() >= 8:
            m = convex_hull_image(m)  # products are (nearly) convex: close white label bands
            cuts.append((crop, m, int(t["labels"][0])))
    imgs, images, anns = [], [], []
    for k in range(n_images):
        img = background.copy()
        owner = np.full((S, S), -1, np.int32)
        areas, n = [], int(rng.integers(count[0], count[1] + 1))
        for _ in range(n):
            crop, m, c = cuts[int(rng.integers(len(cuts)))]
            if rng.random() < 0.5:
                crop, m = crop[:, ::-1], m[:, ::-1]
            if rng.random() < 0.5:
                crop, m = crop[::-1], m[::-1]
            h, w = m.shape
            for _try in range(30):
                y, x = int(rng.integers(0, S - h + 1)), int(rng.integers(0, S - w + 1))
                under = owner[y : y + h, x : x + w][m]
                if all(
                    (owner == j).sum() - (under == j).sum() >= (1 - max_hidden) * areas[j]
                    for j in np.unique(under[under >= 0])
                ):
                    break
            else:
                continue
            img[y : y + h, x : x + w][m] = crop[m]
            owner[y : y + h, x : x + w][m] = len(areas)
            areas.append(int(m.sum()))
            f = train_set.factor
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": k + 1,
                    "category_id": c,
                    "bbox": [x * f, y * f, w * f, h * f],
                    "area": float(w * h * f * f),
                    "iscrowd": 0,
                }
            )
        imgs.append(np.clip(img, 0, 255).astype(np.uint8))
        images.append(
            {
                "id": k + 1,
                "file_name": f"copy_paste_{k + 1:05d}.png",
                "width": S * train_set.factor,
                "height": S * train_set.factor,
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
    return CheckoutSet(np.stack(imgs), coco, train_set.factor, S, "copy-paste trays")
