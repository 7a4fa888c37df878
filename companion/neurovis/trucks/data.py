"""Data of the trucks chapter: the embedded Stanford Cars pickup / van / cab classes, "sets" of two
photos of one model (the paper's frontal + side pairs), and the paper-scale loaders: Stanford Cars
in its official devkit layout and a folder-per-model data set of frontal / side sets like the
paper's.

Embedded (small scale), ``data/embedded/trucks/`` (see its SOURCE.md): 1,093 training-split images
of the 26 pickup / van / cab classes of Stanford Cars (Krause et al. 2013), long side <= 256 px.
The upstream copy of the images is already cropped to the car's bounding box, so the box of every
embedded image is the whole image (``annotations.json`` keeps the original Stanford box too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..core import DataNotFoundError, embedded_path, require_data_root
from .registry import STANFORD_TRUCKS

IMAGE_EXTS = (".jpg", ".jpeg", ".png")

STANFORD_CARS_LAYOUT = [
    "stanford_cars/devkit/cars_meta.mat",
    "stanford_cars/devkit/cars_train_annos.mat",
    "stanford_cars/cars_test_annos_withlabels.mat",
    "stanford_cars/cars_train",
    "stanford_cars/cars_test",
]
STANFORD_CARS_HOW = (
    "Stanford Cars (Krause et al. 2013, https://ai.stanford.edu/~jkrause/cars/car_dataset.html; "
    "mirrors on Kaggle and Hugging Face): cars_train/ and cars_test/ (16,185 JPEGs), devkit/ "
    "(cars_meta.mat, cars_train_annos.mat) and cars_test_annos_withlabels.mat, laid out as "
    "torchvision.datasets.StanfordCars expects under <data_root>/stanford_cars/."
)
TRUCK_SETS_HOW = (
    "a folder per truck model, a sub-folder per photo set holding front.jpg and side.jpg (the "
    "paper's frontal + side sets, Sec. 4), under "
    "<data_root>/truck_sets/{train,test}/<model>/<set>/; the paper's own set (FAW J7, Shaanxi "
    "Delong X3000, Dongfeng Dorica D6, JAC Junling V6) is not public."
)

# The small scale's default classes: four models, two light-duty and two heavy-duty, as the paper's
# own set (Sec. 4): a light and a heavy pickup of one maker (Ford F-150 / F-450 Super Duty) and a
# light and a heavy cargo van (Ram C/V / Dodge Sprinter), so that each light model has a heavy
# look-alike.
SMALL_CLASSES = (113, 174, 106, 88)


# ----------------------------------------------------------------------------------- images
def read_image(path: str | Path) -> np.ndarray:
    """An RGB uint8 image (H, W, 3). DataNotFoundError for a missing file, ValueError naming the
    file when it is not a decodable image (corrupt or truncated)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.array(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(
            f"{path}: not a readable image (corrupt, truncated or not JPEG/PNG): {e}"
        ) from None
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise ValueError(
            f"{path}: image of {arr.shape[1]}x{arr.shape[0]} pixels is too small to use"
        )
    return arr


def to_tensor(img: np.ndarray, size: int) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float (3, size, size) in [0, 1]; the paper resizes every photo to a
    square (512 x 512, Sec. 4) without keeping the aspect ratio, and so do we."""
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()[None] / 255.0
    return F.interpolate(
        x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )[0].clamp(0, 1)


class ImageTable(torch.utils.data.Dataset):
    """Images by index: ``files`` read (and resized to ``size``) on demand, or all preloaded
    (``preload=True``, small scale). ``labels`` (N,) are 0-based class indices into ``classes``."""

    def __init__(
        self, files: list[Path], labels, classes: list[str], size: int, preload: bool = False
    ):
        if len(files) != len(labels):
            raise ValueError(f"{len(files)} files but {len(labels)} labels")
        self.files, self.labels, self.classes, self.size = (
            list(files),
            np.asarray(labels, np.int64),
            list(classes),
            size,
        )
        self._cache = (
            torch.stack([to_tensor(read_image(f), size) for f in self.files]) if preload else None
        )

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        if self._cache is not None:
            return self._cache[i]
        return to_tensor(read_image(self.files[i]), self.size)

    def raw(self, i) -> np.ndarray:
        return read_image(self.files[i])


# ----------------------------------------------------------------------------------- sets
@dataclass
class Sets:
    """Photo sets: ``pairs`` (M, 2) image indices (frontal, side) into an ImageTable, ``labels``
    (M,)."""

    pairs: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return len(self.labels)

    def per_class(self, n: int) -> "Sets":
        """The first ``n`` sets of every class (the few-shot curve of Figure 6)."""
        keep = np.concatenate(
            [np.flatnonzero(self.labels == c)[:n] for c in np.unique(self.labels)]
        )
        keep.sort()
        if any((self.labels[keep] == c).sum() < n for c in np.unique(self.labels)):
            counts = {int(c): int((self.labels == c).sum()) for c in np.unique(self.labels)}
            raise ValueError(f"asked for {n} sets per class, but some classes have fewer: {counts}")
        return Sets(self.pairs[keep], self.labels[keep])

    def split_off(self, n: int) -> tuple["Sets", "Sets"]:
        """(the first ``n`` sets of every class, the rest): a validation split taken from training
        sets, so that no validation photo is trained on."""
        first = self.per_class(n)
        taken = {tuple(p) for p in first.pairs.tolist()}
        rest = np.array([tuple(p) not in taken for p in self.pairs.tolist()])
        if any((self.labels[rest] == c).sum() == 0 for c in np.unique(self.labels)):
            raise ValueError(f"taking {n} sets per class leaves a class without training sets")
        return first, Sets(self.pairs[rest], self.labels[rest])

    def images(self) -> np.ndarray:
        """Indices of every image in these sets (both views), for single-image baselines."""
        return self.pairs.reshape(-1)

    def all_pairs(self) -> "Sets":
        """Every ordered pair (a, b), a != b, of the photos of these sets that show the same model:
        all the two-photo sets the held-out photos can form. Each photo is the frontal photo of
        equally many sets, so a single-photo model's accuracy over them is its per-photo
        accuracy."""
        photos = np.unique(self.pairs)
        lab = {int(a): int(l) for p, l in zip(self.pairs, self.labels) for a in p}
        pairs, labels = [], []
        for c in np.unique(self.labels):
            mine = [a for a in photos if lab[int(a)] == c]
            pairs += [(a, b) for a in mine for b in mine if a != b]
            labels += [c] * (len(mine) * (len(mine) - 1))
        return Sets(np.array(pairs), np.array(labels))


def make_sets(labels, n_test_sets: int, rng: np.random.Generator) -> tuple[Sets, Sets]:
    """Pair different photos of the same class into sets of two (frontal, side), split per class
    into ``n_test_sets`` test sets and the rest as training sets. No image is in two sets, so no
    test photo is ever trained on. The paper's sets are one frontal and one side photo of one truck;
    the public data have no views, so the two photos are two different photos of the same model."""
    labels = np.asarray(labels)
    tr, te = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_pairs = len(idx) // 2
        if n_pairs <= n_test_sets:
            raise ValueError(
                f"class {c} has {len(idx)} images: too few for {n_test_sets} test sets and any "
                f"training set"
            )
        pairs = idx[: 2 * n_pairs].reshape(n_pairs, 2)
        te.append(pairs[:n_test_sets])
        tr.append(pairs[n_test_sets:])
    lab = lambda ps: np.concatenate([np.full(len(p), labels[p[0, 0]]) for p in ps])
    return Sets(np.concatenate(tr), lab(tr)), Sets(np.concatenate(te), lab(te))


def split_sets(
    labels, n_test_sets: int, n_val_sets: int, rng: np.random.Generator
) -> tuple[Sets, Sets, Sets]:
    """Training, validation and test sets (``make_sets``, then ``n_val_sets`` per class of the
    training sets held out for validation): no photo is in two of them. Choices (learning rate,
    best round) are made on validation; the test sets are scored once, at the end."""
    train, test = make_sets(labels, n_test_sets, rng)
    val, train = train.split_off(n_val_sets)
    return train, val, test


class SetDataset(torch.utils.data.Dataset):
    """(frontal image, side image, label) per set."""

    def __init__(self, table: ImageTable, sets: Sets):
        self.table, self.sets = table, sets

    def __len__(self):
        return len(self.sets)

    def __getitem__(self, i):
        a, b = self.sets.pairs[i]
        return self.table[int(a)], self.table[int(b)], int(self.sets.labels[i])


class SingleDataset(torch.utils.data.Dataset):
    """(image, label) for the single-image baselines."""

    def __init__(self, table: ImageTable, indices):
        self.table, self.indices = table, np.asarray(indices)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        j = int(self.indices[i])
        return self.table[j], int(self.table.labels[j])


# ----------------------------------------------------------------------------------- embedded
def load_annotations(path: str | Path | None = None) -> dict:
    """The embedded ``annotations.json`` ({"classes": {id: name}, "images": [...]}), checked."""
    path = Path(path) if path is not None else embedded_path("trucks", "annotations.json")
    try:
        ann = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(ann, dict) or "images" not in ann or "classes" not in ann:
        raise ValueError(f"{path}: expected an object with 'classes' and 'images'")
    for i, im in enumerate(ann["images"]):
        missing = {"file", "class_id"} - set(im)
        if missing:
            raise ValueError(f"{path}: image entry {i} lacks {sorted(missing)}")
    return ann


def embedded_trucks(
    class_ids=SMALL_CLASSES, size: int = 96, folder: str | Path | None = None
) -> ImageTable:
    """The embedded photos of the Stanford Cars classes ``class_ids`` (official ids, see
    ``registry.STANFORD_TRUCKS``), preloaded at ``size`` x ``size``; labels follow ``class_ids``
    order."""
    folder = Path(folder) if folder is not None else embedded_path("trucks")
    ann = load_annotations(folder / "annotations.json")
    known = {int(k) for k in ann["classes"]}
    bad = [c for c in class_ids if int(c) not in known]
    if bad:
        raise ValueError(
            f"class ids {bad} are not in {folder / 'annotations.json'}; available: {sorted(known)}"
        )
    order = {int(c): i for i, c in enumerate(class_ids)}
    rows = [im for im in ann["images"] if int(im["class_id"]) in order]
    files = [folder / "images" / im["file"] for im in rows]
    labels = [order[int(im["class_id"])] for im in rows]
    names = [ann["classes"][str(c)] for c in class_ids]
    table = ImageTable(files, labels, names, size, preload=True)
    table.class_ids = [int(c) for c in class_ids]
    return table


def other_classes(exclude, folder: str | Path | None = None) -> list[int]:
    """Every embedded class id except ``exclude`` (the pre-training substitute's classes: never the
    test models)."""
    folder = Path(folder) if folder is not None else embedded_path("trucks")
    ann = load_annotations(folder / "annotations.json")
    ex = {int(c) for c in exclude}
    return sorted(int(c) for c in ann["classes"] if int(c) not in ex)


def duty_vector(table: ImageTable) -> np.ndarray:
    """1 for heavy-duty, 0 for light-duty, per class of ``table`` (registry rule, registry.py)."""
    ids = getattr(table, "class_ids", None)
    if ids is None:
        raise ValueError("this image table carries no Stanford class ids; give duties explicitly")
    return np.array([STANFORD_TRUCKS[c].duty == "heavy" for c in ids], dtype=np.int64)


# ----------------------------------------------------------------------------------- paper scale
def _mat_annotations(path: Path) -> list[tuple[str, int]]:
    """(fname, 1-based class) rows of a devkit ``*_annos*.mat``."""
    import scipy.io

    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such annotation file")
    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=True)
    except Exception as e:  # noqa: BLE001 - scipy raises several types for a bad file
        raise ValueError(f"{path}: not a readable MATLAB file ({e})") from None
    if "annotations" not in mat:
        raise ValueError(
            f"{path}: no 'annotations' struct (keys: {[k for k in mat if not k.startswith('__')]})"
        )
    ann = np.atleast_1d(mat["annotations"])
    names = ann.dtype.names or ()
    if "fname" not in names or "class" not in names:
        raise ValueError(f"{path}: annotations lack 'fname' / 'class' fields (have {names})")
    return [(str(a["fname"]), int(a["class"])) for a in ann]


def stanford_cars(
    data_root, split: str = "train", size: int = 512, preload: bool = False
) -> ImageTable:
    """Stanford Cars (196 classes) from its official devkit layout under ``data_root`` (the layout
    ``torchvision.datasets.StanfordCars`` uses): images read lazily, labels 0-based."""
    import scipy.io

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = (
        require_data_root(data_root, "Stanford Cars", STANFORD_CARS_LAYOUT, STANFORD_CARS_HOW)
        / "stanford_cars"
    )
    meta_path = root / "devkit" / "cars_meta.mat"
    try:
        classes = [
            str(c)
            for c in np.atleast_1d(scipy.io.loadmat(str(meta_path), squeeze_me=True)["class_names"])
        ]
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{meta_path}: cannot read 'class_names' ({e})") from None
    ann_path = root / (
        "devkit/cars_train_annos.mat" if split == "train" else "cars_test_annos_withlabels.mat"
    )
    rows = _mat_annotations(ann_path)
    folder = root / f"cars_{split}"
    files, labels = [], []
    for fname, c in rows:
        if not 1 <= c <= len(classes):
            raise ValueError(f"{ann_path}: {fname} has class {c}, outside 1..{len(classes)}")
        f = folder / fname
        if not f.is_file():
            raise DataNotFoundError(f"{f}: listed in {ann_path.name} but missing")
        files.append(f)
        labels.append(c - 1)
    return ImageTable(files, labels, classes, size, preload=preload)


def truck_sets(data_root, split: str = "train", size: int = 512) -> tuple[ImageTable, Sets]:
    """A folder-per-model data set of frontal / side photo sets, as the paper's own (Sec. 4):
    ``<data_root>/truck_sets/<split>/<model>/<set>/front.jpg`` and ``side.jpg`` (or .png).
    Returns the image table (models sorted by name) and its sets."""
    root = (
        require_data_root(data_root, "truck photo sets", [f"truck_sets/{split}"], TRUCK_SETS_HOW)
        / "truck_sets"
        / split
    )
    models = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not models:
        raise DataNotFoundError(f"{root}: no model folders (expected {TRUCK_SETS_HOW})")
    files, labels, pairs = [], [], []
    for c, model in enumerate(models):
        set_dirs = sorted(p for p in (root / model).iterdir() if p.is_dir())
        if not set_dirs:
            raise DataNotFoundError(f"{root / model}: no set folders holding front/side photos")
        for d in set_dirs:
            pair = []
            for view in ("front", "side"):
                found = [d / f"{view}{e}" for e in IMAGE_EXTS if (d / f"{view}{e}").is_file()]
                if not found:
                    raise DataNotFoundError(f"{d}: no {view}.jpg / {view}.png in this set")
                read_image(found[0])  # reject corrupt photos now, with their name
                pair.append(len(files))
                files.append(found[0])
                labels.append(c)
            pairs.append(pair)
    table = ImageTable(files, labels, models, size)
    return table, Sets(np.array(pairs), np.array([labels[p[0]] for p in pairs]))


def join_tables(a: ImageTable, b: ImageTable) -> tuple[ImageTable, int]:
    """One lazy table holding ``a`` then ``b`` (same classes); returns it and the index offset of
    ``b``."""
    if a.classes != b.classes:
        raise ValueError("the two tables have different class lists")
    t = ImageTable(a.files + b.files, np.concatenate([a.labels, b.labels]), a.classes, a.size)
    return t, len(a)


def paper_data(data_root, dataset: str, size: int, rng: np.random.Generator):
    """The paper-scale data: ``dataset="stanford_cars"`` (196 classes, official split; training sets
    are pairs of training photos, test sets pairs of test photos of one class) or ``"truck_sets"``
    (the paper's own kind of frontal / side sets, official train / test folders). Returns the joined
    image table, training sets, test sets and the duty vector (1 = heavy-duty) per class."""
    if dataset == "stanford_cars":
        tr, te = stanford_cars(data_root, "train", size), stanford_cars(data_root, "test", size)
        table, off = join_tables(tr, te)
        train = _all_pairs(tr.labels, rng)
        test = _all_pairs(te.labels, rng)
        test = Sets(test.pairs + off, test.labels)
        trucks = {s.model: s for s in STANFORD_TRUCKS.values()}
        # passenger cars (every class not in the truck registry) are light-duty (GVWR < 8,500 lb)
        heavy = np.array(
            [name in trucks and trucks[name].duty == "heavy" for name in table.classes], np.int64
        )
        return table, train, test, heavy
    if dataset == "truck_sets":
        ta, sa = truck_sets(data_root, "train", size)
        tb, sb = truck_sets(data_root, "test", size)
        table, off = join_tables(ta, tb)
        return (
            table,
            sa,
            Sets(sb.pairs + off, sb.labels),
            truck_set_duties(data_root, table.classes),
        )
    raise ValueError(f"dataset must be 'stanford_cars' or 'truck_sets', got {dataset!r}")


def _all_pairs(labels, rng) -> Sets:
    """Every photo of a class paired with another of the same class (disjoint pairs, odd one left
    out)."""
    labels = np.asarray(labels)
    pairs, labs = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = len(idx) // 2
        pairs.append(idx[: 2 * n].reshape(n, 2))
        labs.append(np.full(n, c))
    return Sets(np.concatenate(pairs), np.concatenate(labs))


def truck_set_duties(data_root, models: list[str]) -> np.ndarray:
    """Duty (1 = heavy) per model of a truck-set data set: from
    ``<data_root>/truck_sets/registry.csv`` (columns model, gvwr_kg[, axles]) when present, else the
    paper's four models and the Stanford registry; a model found in none of them is an error naming
    it."""
    from .registry import PAPER_TRUCKS, load_registry_csv

    csv_path = Path(data_root) / "truck_sets" / "registry.csv"
    known = {s.model: s.duty for s in STANFORD_TRUCKS.values()} | dict(PAPER_TRUCKS)
    if csv_path.is_file():
        known |= {m: s.duty for m, s in load_registry_csv(csv_path).items()}
    missing = [m for m in models if m not in known]
    if missing:
        raise ValueError(
            f"no duty class for models {missing}: add them to {csv_path} (model,gvwr_kg,axles)"
        )
    return np.array([known[m] == "heavy" for m in models], np.int64)
