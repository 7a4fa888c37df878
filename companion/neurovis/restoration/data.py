"""Test images: the embedded classic sets and the paper-scale sets under ``data_root``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.data import embedded_path, require_data_root

SET12_NAMES = {
    "01": "Cameraman",
    "02": "House",
    "03": "Peppers",
    "04": "Starfish",
    "05": "Monarch",
    "06": "Airplane",
    "07": "Parrot",
    "08": "Lena",
    "09": "Barbara",
    "10": "Boat",
    "11": "Man",
    "12": "Couple",
}

# The paper's Table 1 images and where an embedded copy exists (None: not public).
PAPER_TABLE1 = {
    "Airplane": "Set12/06.png",
    "Flower": "Set14/flowers.bmp",
    "Foreman": "Set14/foreman.bmp",
    "J.Bean": None,
    "Lake": None,
    "Leaves": "GSR-CS/Leaves256.tif",
    "Lena": "Set11/lena256.tif",
    "Lin": None,
    "Monarch": "Set12/05.png",
    "Starfish": "Set12/04.png",
    "Pentagon": None,
    "Peppers": "Set12/03.png",
}

_EXT = {".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg"}


def load_grey(path: str | Path) -> torch.Tensor:
    """A test image as a float32 (H, W) tensor in [0, 255]; colour images give their luminance
    (ITU-R BT.601 Y, as the paper restores the luminance channel)."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image")
    try:
        img = Image.open(path)
        img.load()
    except Exception as e:  # PIL raises several types for broken files
        raise ValueError(f"{path}: not a readable image ({e})") from e
    if img.mode not in ("L", "I;16", "I"):
        img = (
            img.convert("RGB").convert("YCbCr").getchannel(0)
            if img.mode != "P"
            else img.convert("L")
        )
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(
            f"{path}: expected a 2-D grey image after conversion, got shape {arr.shape}"
        )
    if arr.max() > 255:
        arr = arr / arr.max() * 255.0
    return torch.from_numpy(arr.copy())


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape
    if h < size or w < size:
        raise ValueError(f"image {tuple(x.shape)} is smaller than the crop {size}")
    top, left = (h - size) // 2, (w - size) // 2
    return x[top : top + size, left : left + size]


def embedded_images(
    names: list[str] | None = None, size: int | None = 256
) -> dict[str, torch.Tensor]:
    """Embedded test images keyed by readable name. ``names`` picks Set12 ids ("04"), readable Set12
    names ("Starfish") or paths inside data/embedded/restoration ("GSR-CS/Leaves256.tif");
    default: all of Set12. ``size`` centre-crops (512-px images) to size×size."""
    base = embedded_path("restoration")
    names = names or sorted(SET12_NAMES)
    by_name = {v: k for k, v in SET12_NAMES.items()}
    out = {}
    for n in names:
        if n in SET12_NAMES:
            key, rel = SET12_NAMES[n], f"Set12/{n}.png"
        elif n in by_name:
            key, rel = n, f"Set12/{by_name[n]}.png"
        elif n in PAPER_TABLE1 and PAPER_TABLE1[n]:
            key, rel = n, PAPER_TABLE1[n]
        else:
            key, rel = Path(n).stem, n
        img = load_grey(base / rel)
        out[key] = center_crop(img, size) if size and min(img.shape) > size else img
    return out


BSD68_HOW = (
    "BSD68 (Roth & Black's 68 test images of the Berkeley Segmentation Dataset, Martin et al. "
    "2001), e.g. the `testsets/BSD68` folder of the DnCNN repository (github.com/cszn/DnCNN); put "
    "the PNGs in <data_root>/BSD68/"
)


def folder_images(data_root, folder: str, how_to_get: str) -> dict[str, torch.Tensor]:
    """Every image of ``<data_root>/<folder>`` (paper scale), e.g. folder="BSD68"."""
    root = require_data_root(data_root, folder, [folder], how_to_get)
    files = sorted(p for p in (Path(root) / folder).iterdir() if p.suffix.lower() in _EXT)
    if not files:
        raise FileNotFoundError(
            f"{Path(root) / folder}: no images ({', '.join(sorted(_EXT))}) found"
        )
    return {p.stem: load_grey(p) for p in files}
