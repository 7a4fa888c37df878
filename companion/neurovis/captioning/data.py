"""Caption data: the generated scene set, the vocabulary (the paper's preprocessing, Section 4), the
COCO captions JSON and Karpathy-split loaders for real data, and image preprocessing (256 -> 224
crop).

Preprocessing (Section 4): lower-case, punctuation removed, words seen fewer than 5 times ->
``<unk>``, at most 15 words, ``<start>`` / ``<end>`` around each sentence, zero padding.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.data import embedded_path, require_data_root

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(sentence: str) -> list[str]:
    """Lower-case and split into words, dropping punctuation (Section 4)."""
    if not isinstance(sentence, str):
        raise TypeError(f"a caption must be a string, got {type(sentence).__name__}: {sentence!r}")
    return _WORD.findall(sentence.lower())


@dataclass
class Vocabulary:
    """Word <-> id map. Ids 0..3 are ``<pad>``, ``<start>``, ``<end>``, ``<unk>``."""

    words: list[str]
    max_len: int = 15

    def __post_init__(self):
        if self.words[:4] != [PAD, START, END, UNK]:
            raise ValueError(
                f"the first four words must be {[PAD, START, END, UNK]}, got {self.words[:4]}"
            )
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, sentences, min_count: int = 5, max_len: int = 15) -> "Vocabulary":
        """Vocabulary of every word seen at least ``min_count`` times in ``sentences`` (strings or
        token lists); the rest become ``<unk>`` (the paper: fewer than 5 occurrences)."""
        if min_count < 1 or max_len < 1:
            raise ValueError(f"min_count and max_len must be >= 1, got {min_count}, {max_len}")
        counts = Counter(w for s in sentences for w in (tokenize(s) if isinstance(s, str) else s))
        kept = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls([PAD, START, END, UNK] + kept, max_len)

    def __len__(self):
        return len(self.words)

    def encode(self, sentence) -> list[int]:
        """``<start>`` + the first ``max_len`` word ids + ``<end>``, padded with 0 to
        ``max_len + 2``."""
        toks = tokenize(sentence) if isinstance(sentence, str) else list(sentence)
        ids = [self.index.get(w, self.index[UNK]) for w in toks[: self.max_len]]
        ids = [self.index[START]] + ids + [self.index[END]]
        return ids + [0] * (self.max_len + 2 - len(ids))

    def decode(self, ids) -> str:
        """Words up to the first ``<end>`` (or ``<pad>``), without ``<start>``."""
        out = []
        for i in ids.tolist() if hasattr(ids, "tolist") else ids:
            i = int(i)
            if i in (0, self.index[END]):
                break
            if i == self.index[START]:
                continue
            out.append(self.words[i])
        return " ".join(out)

    def encode_refs(self, refs: list[list[str]], per_image: int) -> torch.Tensor:
        """(N, per_image, max_len + 2) ids; images with fewer references repeat theirs
        cyclically."""
        out = torch.zeros(len(refs), per_image, self.max_len + 2, dtype=torch.long)
        for i, rs in enumerate(refs):
            if not rs:
                raise ValueError(f"image {i} has no reference caption")
            for j in range(per_image):
                out[i, j] = torch.tensor(self.encode(rs[j % len(rs)]))
        return out


# --------------------------------------------------------------------------------------------------
# Generated scenes
# --------------------------------------------------------------------------------------------------
COLOURS = {
    "red": (0.85, 0.15, 0.15),
    "green": (0.15, 0.65, 0.2),
    "blue": (0.15, 0.3, 0.9),
    "yellow": (0.95, 0.85, 0.1),
    "purple": (0.6, 0.2, 0.75),
}
SHAPES = ("circle", "square", "triangle", "diamond")
SIZES = ("small", "large")
TEXTURES = ("plain", "striped")
# varied phrasing: the words a person might use for the same attribute
_SYN = {
    "circle": ["circle", "circle", "ball", "disc"],
    "square": ["square", "square", "box", "block"],
    "triangle": ["triangle"],
    "diamond": ["diamond", "diamond", "rhombus"],
    "small": ["small", "small", "little", "tiny"],
    "large": ["large", "big", "big", "huge"],
    "striped": ["striped", "striped", "stripy"],
}
_REL = {
    "left": ["to the left of", "left of", "on the left of"],
    "right": ["to the right of", "right of", "on the right of"],
    "above": ["above", "over", "on top of"],
    "below": ["below", "under", "beneath"],
}
_NUM = {2: "two", 3: "three"}


@dataclass
class Scene:
    """Ground truth of one generated image: objects as dicts (shape, colour, size, texture,
    cell)."""

    objects: list[dict]
    background: str


def _render(scene: Scene, size: int, rng: np.random.Generator) -> np.ndarray:
    """(3, size, size) float32 image in [0, 1] of ``scene`` on a 3x3 grid of cells."""
    bg = {"light": (0.92, 0.92, 0.9), "grey": (0.72, 0.72, 0.72)}[scene.background]
    img = np.ones((size, size, 3), np.float32) * np.array(bg, np.float32)
    img += rng.normal(0, 0.03, img.shape).astype(np.float32)
    cell = size / 3
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    for o in scene.objects:
        r, c = divmod(o["cell"], 3)
        cy = (r + 0.5) * cell + rng.uniform(-0.08, 0.08) * cell
        cx = (c + 0.5) * cell + rng.uniform(-0.08, 0.08) * cell
        rad = cell * (0.44 if o["size"] == "large" else 0.28)
        dy, dx = yy - cy, xx - cx
        if o["shape"] == "circle":
            m = dy**2 + dx**2 <= rad**2
        elif o["shape"] == "square":
            m = (np.abs(dy) <= rad * 0.85) & (np.abs(dx) <= rad * 0.85)
        elif o["shape"] == "diamond":
            m = np.abs(dy) + np.abs(dx) <= rad * 1.1
        else:  # triangle pointing up
            m = (dy <= rad * 0.8) & (dy >= -rad) & (np.abs(dx) <= (dy + rad) * 0.6)
        col = np.array(COLOURS[o["colour"]], np.float32) * rng.uniform(0.9, 1.05)
        if o["texture"] == "striped":
            stripe = (((xx + yy) / max(2.0, cell / 5)) % 2 < 1)[..., None]
            col = np.where(stripe, col, 0.98 * np.ones(3, np.float32))
        img = np.where(m[..., None], col, img)
    return np.clip(img, 0, 1).transpose(2, 0, 1).copy()


def _phrase(o: dict, rng: np.random.Generator, det: str = "a") -> str:
    words = []
    if rng.random() < 0.75:
        words.append(rng.choice(_SYN[o["size"]]))
    words.append(o["colour"])
    if o["texture"] == "striped" and rng.random() < 0.85:
        words.append(rng.choice(_SYN["striped"]))
    words.append(rng.choice(_SYN[o["shape"]]))
    return f"{det} " + " ".join(words)


def relation(a: dict, b: dict) -> str:
    """Where ``a`` is relative to ``b``: 'left' | 'right' | 'above' | 'below' (dominant axis of the
    cells)."""
    ra, ca = divmod(a["cell"], 3)
    rb, cb = divmod(b["cell"], 3)
    if abs(ca - cb) >= abs(ra - rb):
        return "left" if ca < cb else "right"
    return "above" if ra < rb else "below"


def salient(objects: list[dict]) -> list[dict]:
    """Objects in the order a person would name them: large before small, then top-left first."""
    return sorted(objects, key=lambda o: (o["size"] != "large", o["cell"]))


def describe(scene: Scene, rng: np.random.Generator, n: int = 5) -> list[str]:
    """``n`` different human-like captions of ``scene``. The content is fixed by the image (the two
    most salient objects and their relation, or all objects), the phrasing varies: several
    templates, synonyms, optional size words, an optional background remark."""
    objs = salient(scene.objects)
    a, b = objs[0], objs[1]
    out = []
    for k in range(n):
        rel = rng.choice(_REL[relation(a, b)])
        inv = rng.choice(_REL[relation(b, a)])
        t = (k + rng.integers(0, 7)) % 7
        if t == 0:
            s = f"{_phrase(a, rng)} {rel} {_phrase(b, rng)}"
        elif t == 1:
            s = f"{_phrase(a, rng)} is {rel} {_phrase(b, rng)}"
        elif t == 2:
            s = f"there is {_phrase(a, rng)} {rel} {_phrase(b, rng)}"
        elif t == 3:
            s = f"{_NUM[len(objs)]} shapes with {_phrase(a, rng)} {rel} {_phrase(b, rng)}"
        elif t == 4:
            s = f"{_phrase(a, rng)} and " + " and ".join(_phrase(o, rng) for o in objs[1:])
        elif t == 5:
            s = f"{_phrase(b, rng)} sits {inv} {_phrase(a, rng)}"
        else:
            s = f"{_phrase(b, rng)} with {_phrase(a, rng)} {rel} it"
        if rng.random() < 0.15:
            s += f" on a {scene.background} background"
        out.append(s)
    return out


def random_scene(rng: np.random.Generator) -> Scene:
    k = int(rng.integers(2, 4))
    cells = rng.choice(9, k, replace=False)
    objs = [
        {
            "shape": str(rng.choice(SHAPES)),
            "colour": str(rng.choice(list(COLOURS))),
            "size": str(rng.choice(SIZES)),
            "texture": str(rng.choice(TEXTURES, p=[0.65, 0.35])),
            "cell": int(c),
        }
        for c in cells
    ]
    return Scene(objs, str(rng.choice(["light", "grey"], p=[0.7, 0.3])))


@dataclass
class CaptionSet:
    """Images with their reference captions. ``images``: (N, 3, H, W) float tensor in [0, 1] (or a
    Dataset yielding such images at paper scale); ``refs``: per image, a list of caption strings."""

    images: object
    refs: list[list[str]]
    scenes: list[Scene] | None = None
    ids: list = field(default_factory=list)
    source: str = ""

    def __len__(self):
        return len(self.refs)


def generate_scenes(
    n: int, size: int = 48, seed: int = 0, captions_per_image: int = 5
) -> CaptionSet:
    """``n`` generated scenes (2-3 objects of 4 shapes x 5 colours x 2 sizes x 2 textures on a 3x3
    grid) with ``captions_per_image`` varied reference captions each."""
    if n < 1 or size < 24:
        raise ValueError(f"need n >= 1 and size >= 24, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    scenes = [random_scene(rng) for _ in range(n)]
    images = torch.from_numpy(np.stack([_render(s, size, rng) for s in scenes]))
    refs = [describe(s, rng, captions_per_image) for s in scenes]
    return CaptionSet(images, refs, scenes, list(range(n)), f"generated scenes (seed {seed})")


# --------------------------------------------------------------------------------------------------
# Real data: COCO captions JSON and Karpathy splits
# --------------------------------------------------------------------------------------------------
def _load_json(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such caption file")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e


def load_coco_captions(json_path) -> dict[int, dict]:
    """A COCO ``captions_*.json`` as {image_id: {"file_name", "captions": [...]}} (pycocotools'
    index).

    Rejects files without ``images``/``annotations``, annotations without a string ``caption`` or
    with an ``image_id`` that is not among the images, naming the file and the entry."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    data = _load_json(json_path)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("images"), list)
        or not isinstance(data.get("annotations"), list)
    ):
        raise ValueError(
            f"{json_path}: expected a COCO captions file with 'images' and 'annotations' lists"
        )
    img_ids = set()
    for k, im in enumerate(data["images"]):
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise ValueError(
                f"{json_path}: images[{k}] needs 'id' and 'file_name', got {im!r:.120}"
            )
        img_ids.add(im["id"])
    for k, a in enumerate(data["annotations"]):
        if not isinstance(a, dict) or not isinstance(a.get("caption"), str) or "image_id" not in a:
            raise ValueError(
                f"{json_path}: annotations[{k}] needs a string 'caption' and an 'image_id', got "
                f"{a!r:.120}"
            )
        if a["image_id"] not in img_ids:
            raise ValueError(
                f"{json_path}: annotations[{k}] refers to image_id {a['image_id']}, not in 'images'"
            )
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return {
        i: {
            "file_name": coco.imgs[i]["file_name"],
            "captions": [a["caption"] for a in coco.imgToAnns[i]],
        }
        for i in sorted(coco.imgs)
        if coco.imgToAnns[i]
    }


def load_karpathy_split(json_path, split: str | tuple = "train") -> list[dict]:
    """Entries of a Karpathy split file (``dataset_coco.json`` / ``dataset_flickr30k.json``) in the
    ``split`` (``train`` | ``val`` | ``test`` | ``restval``): [{"path": filepath/filename,
    "captions"}]."""
    data = _load_json(json_path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{json_path}: expected a Karpathy split file with an 'images' list")
    splits = (split,) if isinstance(split, str) else tuple(split)
    out = []
    for k, im in enumerate(data["images"]):
        if (
            not isinstance(im, dict)
            or "filename" not in im
            or "split" not in im
            or not isinstance(im.get("sentences"), list)
        ):
            raise ValueError(
                f"{json_path}: images[{k}] needs 'filename', 'split' and a 'sentences' list"
            )
        if im["split"] not in splits:
            continue
        caps = []
        for s in im["sentences"]:
            if "raw" in s and isinstance(s["raw"], str):
                caps.append(s["raw"])
            elif isinstance(s.get("tokens"), list):
                caps.append(" ".join(s["tokens"]))
            else:
                raise ValueError(
                    f"{json_path}: images[{k}] has a sentence with neither 'raw' nor 'tokens'"
                )
        path = f"{im['filepath']}/{im['filename']}" if im.get("filepath") else im["filename"]
        out.append({"path": path, "captions": caps})
    return out


class ImageFiles(torch.utils.data.Dataset):
    """Images from files with the paper's preprocessing: resize to ``resize`` (256), centre crop to
    ``crop`` (224), pixels in [0, 1] (Section 4)."""

    def __init__(self, paths: list, resize: int = 256, crop: int = 224):
        from torchvision import transforms as T

        self.paths = [Path(p) for p in paths]
        self.tf = T.Compose([T.Resize((resize, resize)), T.CenterCrop(crop), T.ToTensor()])

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image

        p = self.paths[i]
        try:
            with Image.open(p) as im:
                return self.tf(im.convert("RGB"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{p}: image listed in the caption file is missing") from None


def load_images(paths, resize: int, crop: int) -> torch.Tensor:
    ds = ImageFiles(paths, resize, crop)
    return torch.stack([ds[i] for i in range(len(ds))])


def coco_mini(split: str = "val2017", size: int = 48) -> CaptionSet:
    """The embedded COCO-MINI images of ``split`` (train2017 | val2017) with their 5 captions,
    resized to ``size`` (the small captioners' input size)."""
    caps = load_coco_captions(embedded_path("coco-mini", "annotations", f"captions_{split}.json"))
    paths = [embedded_path("coco-mini", split, v["file_name"]) for v in caps.values()]
    return CaptionSet(
        load_images(paths, size, size),
        [v["captions"] for v in caps.values()],
        None,
        list(caps),
        f"COCO-MINI {split} (embedded, real)",
    )


KARPATHY_HOW = (
    "Karpathy's splits (dataset_coco.json, dataset_flickr30k.json from "
    "cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip); MS COCO 2014 train2014/ "
    "and val2014/ images from cocodataset.org; Flickr30k images (flickr30k-images/) from "
    "shannon.cs.illinois.edu/DenotationGraph/ after accepting its terms"
)
PAPER_LAYOUT = {
    "flickr30k": ["dataset_flickr30k.json", "flickr30k-images"],
    "coco": ["dataset_coco.json", "train2014", "val2014"],
}


def paper_sets(
    data_root, dataset: str = "flickr30k", add_coco_train: int = 40775
) -> dict[str, list[dict]]:
    """The paper's splits (Section 4): Flickr30k Karpathy train/val/test (29k/1k/1k) plus
    ``add_coco_train`` COCO training images, or COCO Karpathy train(+restval)/val/test.

    Returns {"train"|"val"|"test": [{"path": absolute image path, "captions": [...]}]}."""
    if dataset not in PAPER_LAYOUT:
        raise ValueError(f"dataset must be one of {list(PAPER_LAYOUT)}, got {dataset!r}")
    expected = PAPER_LAYOUT[dataset] + (
        PAPER_LAYOUT["coco"] if dataset == "flickr30k" and add_coco_train else []
    )
    root = require_data_root(
        data_root, f"{dataset} captions (Karpathy split)", expected, KARPATHY_HOW
    )
    if dataset == "flickr30k":
        js, img_dir = root / "dataset_flickr30k.json", root / "flickr30k-images"
        sets = {s: load_karpathy_split(js, s) for s in ("train", "val", "test")}
        for s in sets.values():
            for e in s:
                e["path"] = str(img_dir / Path(e["path"]).name)
        if add_coco_train:
            extra = load_karpathy_split(root / "dataset_coco.json", ("train", "restval"))[
                :add_coco_train
            ]
            sets["train"] += [
                {"path": str(root / e["path"]), "captions": e["captions"]} for e in extra
            ]
        return sets
    js = root / "dataset_coco.json"
    sets = {
        "train": load_karpathy_split(js, ("train", "restval")),
        "val": load_karpathy_split(js, "val"),
        "test": load_karpathy_split(js, "test"),
    }
    for s in sets.values():
        for e in s:
            e["path"] = str(root / e["path"])
    return sets
