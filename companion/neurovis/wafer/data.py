"""Wafer maps: a WM-811K-faithful generator (small scale) and the real WM-811K loader (paper scale).

A wafer map is a 2-D integer array on the die grid of one wafer, in WM-811K's coding:
``0`` = off the wafer, ``1`` = good die, ``2`` = defective die. WM-811K's maps come in many grid
sizes (from about 25x25 to over 200x200 dies, often not square); its eight labelled failure
patterns are Center, Donut, Edge-Loc, Edge-Ring, Loc, Near-full, Random and Scratch, plus ``none``.

Paper (Section 3.1): 25,519 labelled defect maps, counts 4,294 / 555 / 5,189 / 9,680 / 3,593 /
149 / 866 / 1,193 for the eight patterns in the order above, i.e. seriously imbalanced, and maps
that "contain serious noise" (Figure 9): random defective dies over the whole wafer.

The generator draws each map from a per-sample random stream (``seed``, index), so a set is
reproducible, and the background noise of a map is a threshold on a fixed uniform field: the same
map at a higher noise level has a superset of the defective dies (noise is monotone in the defect
count), which is what the chapter's robustness curve needs.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

OFF, GOOD, DEFECT = 0, 1, 2

#: The eight WM-811K failure patterns, in the order of the paper's counts (Section 3.1).
CLASSES = ("Center", "Donut", "Edge-Loc", "Edge-Ring", "Loc", "Near-full", "Random", "Scratch")
#: WM-811K's label for a map with no failure pattern (only background noise).
NONE = "none"
#: Labelled maps per pattern in WM-811K, as counted by the paper (Section 3.1).
PAPER_COUNTS = {
    "Center": 4294,
    "Donut": 555,
    "Edge-Loc": 5189,
    "Edge-Ring": 9680,
    "Loc": 3593,
    "Near-full": 149,
    "Random": 866,
    "Scratch": 1193,
}

#: Every range the generator draws from, in fractions of the wafer radius (positions, sizes) or as
#: the probability that a die of the pattern is defective (densities). ``CLASS_MODELS`` is written
#: from these numbers, and the tests check the generated maps against them. They are chosen from
#: WM-811K's class definitions so that no two classes share a region of (position, extent,
#: density) space: Center always covers the wafer centre and Loc never does; Loc never reaches
#: the rim and Edge-Loc always does; Edge-Loc spans at most 100 degrees of the rim, Edge-Ring at
#: least 270; Random's overall density lies above every localised pattern plus the heaviest noise
#: the chapter injects, and below Near-full's.
GEN = {
    "roughness": 0.08,  # amplitude of the smooth field that roughens every border
    "pattern_density": (0.7, 1.0),  # Center, Donut, Edge-Loc, Edge-Ring, Loc
    "center_radius": (0.2, 0.4),
    "center_offset": 0.08,  # per axis: sqrt(2) * 0.08 + roughness < the smallest radius
    "donut_inner": (0.3, 0.5),
    "donut_width": (0.1, 0.2),
    "edge_loc_width": (0.15, 0.3),
    "edge_loc_arc_deg": (30, 100),
    "edge_ring_width": (0.04, 0.12),
    "edge_ring_arc_deg": (270, 360),
    "loc_centre_radius": (0.35, 0.6),
    "loc_semi_axes": (0.08, 0.18),
    "near_full_density": (0.85, 1.0),
    "near_full_patches": 2,  # at most, each a good disc of radius 0.05-0.15
    "random_density": (0.45, 0.75),
    "scratch_length": (0.5, 1.6),
    "scratch_density": (0.8, 1.0),
    "background_noise": (0.0, 0.1),  # per map, every class (the training range)
}


def _r(key, fmt="{:g}"):
    lo, hi = GEN[key]
    return f"{fmt.format(lo)}-{fmt.format(hi)}"


def _pct(key):
    lo, hi = GEN[key]
    return f"{100 * lo:g}-{100 * hi:g} %"


#: How each class is modelled by the generator, written from ``GEN`` (shown in the chapter).
CLASS_MODELS = {
    "Center": f"a filled disc around the wafer centre: radius {_r('center_radius')}, centre offset "
    f"<= {GEN['center_offset']:g} per axis (so it always covers the centre), density "
    f"{_pct('pattern_density')}, ragged border",
    "Donut": f"a ring around the centre: inner radius {_r('donut_inner')}, width "
    f"{_r('donut_width')} (empty centre, never touches the rim), density "
    f"{_pct('pattern_density')}, 40 % of rings with one angular gap",
    "Edge-Loc": f"a cluster on the rim: outer band of width {_r('edge_loc_width')} over an arc of "
    f"{_r('edge_loc_arc_deg')} degrees, density {_pct('pattern_density')}",
    "Edge-Ring": f"a thin band along the rim: width {_r('edge_ring_width')} over "
    f"{_r('edge_ring_arc_deg')} degrees, density {_pct('pattern_density')}",
    "Loc": f"an elliptic blob away from centre and rim: centre at radius "
    f"{_r('loc_centre_radius')}, semi-axes {_r('loc_semi_axes')}, density "
    f"{_pct('pattern_density')}",
    "Near-full": f"almost every die defective ({_pct('near_full_density')}), up to "
    f"{GEN['near_full_patches']} good patches of radius 0.05-0.15",
    "Random": f"defects at random over the whole wafer, density {_pct('random_density')}, no "
    "structure",
    "Scratch": f"a thin (1-2 dies) curved line, {_r('scratch_length')} radii long, random position "
    f"and direction, density {_pct('scratch_density')}",
    NONE: "no pattern: background noise only",
}


def check_wafer_map(m, name: str = "wafer map") -> np.ndarray:
    """Validate one map: a 2-D integer array holding only 0 (off), 1 (good), 2 (defect).

    Returns it as ``uint8``; raises ValueError naming ``name`` and what is wrong otherwise.
    """
    a = np.asarray(m)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D die grid (rows x cols), got shape {a.shape}")
    if a.size == 0 or min(a.shape) < 2:
        raise ValueError(f"{name}: die grid too small, shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name}: expected integer die codes, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a) & (a == np.round(a))):
        raise ValueError(
            f"{name}: die codes must be the integers 0, 1, 2; found non-integer values"
        )
    bad = np.setdiff1d(np.unique(a), [OFF, GOOD, DEFECT])
    if bad.size:
        raise ValueError(
            f"{name}: die codes must be 0 (off-wafer), 1 (good) or 2 (defect); found "
            f"{bad[:5].tolist()}"
        )
    return a.astype(np.uint8)


# --------------------------------------------------------------------------- generator


@dataclass(frozen=True)
class WaferGenConfig:
    """How the generator draws maps.

    grid: (min, max) dies across the wafer (WM-811K spans roughly 25 to 200+; small scale keeps it
    small). aspect: (min, max) rows/cols ratio of the grid. noise: background defect probability of
    a good die, a float or a (min, max) range drawn per map (Figure 9's "serious noise").
    """

    grid: tuple = (26, 60)
    aspect: tuple = (0.8, 1.25)
    noise: float | tuple = GEN["background_noise"]

    def __post_init__(self):
        if not (2 < self.grid[0] <= self.grid[1]):
            raise ValueError(f"grid must be (min, max) with 2 < min <= max, got {self.grid}")
        lo, hi = (self.noise, self.noise) if np.isscalar(self.noise) else self.noise
        if not (0 <= lo <= hi <= 1):
            raise ValueError(
                f"noise must be in [0, 1] (a level or a (min, max) range), got {self.noise}"
            )


def _grid(rng, cfg: WaferGenConfig):
    """A wafer's die grid: rows, cols, the on-wafer mask and normalised polar coordinates."""
    cols = int(rng.integers(cfg.grid[0], cfg.grid[1] + 1))
    rows = int(np.clip(round(cols * rng.uniform(*cfg.aspect)), 4, None))
    r = (np.arange(rows) + 0.5 - rows / 2) / (rows / 2)
    c = (np.arange(cols) + 0.5 - cols / 2) / (cols / 2)
    yy, xx = np.meshgrid(r, c, indexing="ij")
    rho = np.hypot(yy, xx)
    on = rho <= 1.0
    return on, yy, xx, rho, np.arctan2(yy, xx)


def _ragged(rng, shape, scale: float):
    """A smooth random field used to roughen pattern borders (a few low-frequency cosines)."""
    rows, cols = shape
    y, x = np.meshgrid(np.linspace(0, 1, rows), np.linspace(0, 1, cols), indexing="ij")
    f = np.zeros(shape)
    for _ in range(3):
        ky, kx = rng.uniform(1, 4, 2)
        f += np.cos(2 * np.pi * (ky * y + kx * x) + rng.uniform(0, 2 * np.pi))
    return scale * f / 3


def _angdiff(a, b):
    return np.abs((a - b + np.pi) % (2 * np.pi) - np.pi)


def _pattern(label: str, rng, on, yy, xx, rho, theta) -> np.ndarray:
    """Defect probability per die for one class (0 where the class puts no defects); every range
    is ``GEN``'s."""
    p = np.zeros(on.shape)
    rough = _ragged(rng, on.shape, GEN["roughness"])
    dens = rng.uniform(*GEN["pattern_density"])
    if label == "Center":
        cy, cx = rng.uniform(-GEN["center_offset"], GEN["center_offset"], 2)
        r0 = rng.uniform(*GEN["center_radius"])
        p[np.hypot(yy - cy, xx - cx) + rough < r0] = dens
    elif label == "Donut":
        r_in = rng.uniform(*GEN["donut_inner"])
        w = rng.uniform(*GEN["donut_width"])
        ring = (rho + rough > r_in) & (rho + rough < r_in + w)
        if rng.random() < 0.4:  # one angular gap
            ring &= _angdiff(theta, rng.uniform(-np.pi, np.pi)) > rng.uniform(0.3, 0.9)
        p[ring] = dens
    elif label == "Edge-Loc":
        w = rng.uniform(*GEN["edge_loc_width"])
        half = np.deg2rad(rng.uniform(*GEN["edge_loc_arc_deg"])) / 2
        p[(rho + rough > 1 - w) & (_angdiff(theta, rng.uniform(-np.pi, np.pi)) < half)] = dens
    elif label == "Edge-Ring":
        w = rng.uniform(*GEN["edge_ring_width"])
        gap = (2 * np.pi - np.deg2rad(rng.uniform(*GEN["edge_ring_arc_deg"]))) / 2
        p[(rho + rough / 3 > 1 - w) & (_angdiff(theta, rng.uniform(-np.pi, np.pi)) >= gap)] = dens
    elif label == "Loc":
        rc, tc = rng.uniform(*GEN["loc_centre_radius"]), rng.uniform(-np.pi, np.pi)
        cy, cx = rc * np.sin(tc), rc * np.cos(tc)
        a, b = rng.uniform(*GEN["loc_semi_axes"], 2)
        phi = rng.uniform(0, np.pi)
        u = (yy - cy) * np.cos(phi) + (xx - cx) * np.sin(phi)
        v = -(yy - cy) * np.sin(phi) + (xx - cx) * np.cos(phi)
        # roughness scaled to the blob: its radius varies by at most 1.08x
        p[(u / a) ** 2 + (v / b) ** 2 + 2 * rough < 1] = dens
    elif label == "Near-full":
        p[:] = rng.uniform(*GEN["near_full_density"])
        for _ in range(int(rng.integers(0, GEN["near_full_patches"] + 1))):  # good patches
            cy, cx = rng.uniform(-0.7, 0.7, 2)
            p[np.hypot(yy - cy, xx - cx) < rng.uniform(0.05, 0.15)] = 0.1
    elif label == "Random":
        p[:] = rng.uniform(*GEN["random_density"])
    elif label == "Scratch":
        rows, cols = on.shape
        n = 200
        t0 = rng.uniform(-np.pi, np.pi)
        start = rng.uniform(0.0, 0.8) * np.array([np.sin(t0), np.cos(t0)])
        heading = rng.uniform(-np.pi, np.pi)
        length = rng.uniform(*GEN["scratch_length"])
        curv = rng.uniform(-1.5, 1.5)
        s = np.linspace(0, length, n)
        ang = heading + curv * s
        pts = start + np.cumsum(np.stack([np.sin(ang), np.cos(ang)], 1) * (length / n), axis=0)
        ri = np.clip(((pts[:, 0] + 1) * rows / 2).astype(int), 0, rows - 1)
        ci = np.clip(((pts[:, 1] + 1) * cols / 2).astype(int), 0, cols - 1)
        line = np.zeros(on.shape, bool)
        line[ri, ci] = True
        if rng.random() < 0.5:  # 2 dies wide
            line[np.clip(ri + 1, 0, rows - 1), ci] = True
        p[line] = rng.uniform(*GEN["scratch_density"])
    elif label != NONE:
        raise ValueError(f"unknown wafer class {label!r}; expected one of {CLASSES + (NONE,)}")
    return p * on


def generate_map(
    label: str, seed, cfg: WaferGenConfig = WaferGenConfig(), noise: float | None = None
):
    """One wafer map of class ``label`` from random stream ``seed`` (an int or a tuple of ints).

    The pattern, grid and noise field come from independent child streams of ``seed``; ``noise``
    (a level in [0, 1]) overrides the config's noise, so ``generate_map(c, s, noise=a)`` and
    ``noise=b`` with a < b give the same pattern, b's defects a superset of a's.
    Returns (map (rows, cols) uint8 in {0, 1, 2}, noise level used).
    """
    ss = np.random.SeedSequence(seed if isinstance(seed, int) else list(seed))
    g_pat, g_noise, g_level = (np.random.default_rng(s) for s in ss.spawn(3))
    on, yy, xx, rho, theta = _grid(g_pat, cfg)
    prob = _pattern(label, g_pat, on, yy, xx, rho, theta)
    defect = g_pat.random(on.shape) < prob
    if noise is None:
        noise = cfg.noise if np.isscalar(cfg.noise) else g_level.uniform(*cfg.noise)
    if not 0 <= noise <= 1:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    defect |= g_noise.random(on.shape) < noise
    m = np.where(on, np.where(defect, DEFECT, GOOD), OFF).astype(np.uint8)
    return m, float(noise)


def defect_density(m) -> float:
    """The share of on-wafer dies that are defective."""
    m = np.asarray(m)
    return float((m == DEFECT).sum() / max((m != OFF).sum(), 1))


def combined_noise(background, injected):
    """A map's own noise level after ``injected`` noise is added on top of its ``background``:
    a good die stays good with probability (1 - background)(1 - injected)."""
    return 1 - (1 - np.asarray(background, float)) * (1 - np.asarray(injected, float))


def share_in_random_range(ws: "WaferSet", random_class: str = "Random") -> float:
    """The share (%) of ``ws``'s maps *not* labelled ``random_class`` whose overall defect density
    lies inside Random's (``GEN["random_density"]``): maps a density rule would call Random."""
    lo, hi = GEN["random_density"]
    k = ws.classes.index(random_class)
    dens = np.array([defect_density(m) for m, y in zip(ws.maps, ws.labels) if y != k])
    return float(100 * np.mean((dens >= lo) & (dens <= hi)))


def scaled_counts(n: int, counts: dict = PAPER_COUNTS, min_per_class: int = 0) -> dict:
    """Split ``n`` maps over classes in the proportions of ``counts`` (WM-811K's by default), with
    at least ``min_per_class`` each (largest-remainder rounding, then the largest class pays)."""
    if n < len(counts) * max(min_per_class, 1):
        raise ValueError(
            f"n={n} too small for {len(counts)} classes with min_per_class={min_per_class}"
        )
    total = sum(counts.values())
    raw = {k: n * v / total for k, v in counts.items()}
    out = {k: max(int(np.floor(v)), min_per_class) for k, v in raw.items()}
    rest = sorted(raw, key=lambda k: raw[k] - np.floor(raw[k]), reverse=True)
    i = 0
    while sum(out.values()) < n:
        out[rest[i % len(rest)]] += 1
        i += 1
    while sum(out.values()) > n:
        big = max(out, key=out.get)
        out[big] -= 1
    return out


@dataclass
class WaferSet:
    """Maps of varying grid size with integer labels into ``classes``; ``noise`` per map."""

    maps: list
    labels: np.ndarray
    classes: tuple
    noise: np.ndarray = field(default=None)
    source: str = ""

    def __len__(self):
        return len(self.maps)

    def subset(self, idx) -> "WaferSet":
        idx = np.asarray(idx)
        return WaferSet(
            [self.maps[i] for i in idx],
            self.labels[idx],
            self.classes,
            None if self.noise is None else self.noise[idx],
            self.source,
        )

    def counts(self) -> dict:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.classes)}

    def with_noise(self, level: float, seed: int = 0) -> "WaferSet":
        """The same maps with background noise ``level`` injected (``inject_noise``)."""
        return WaferSet(
            inject_noise(self.maps, level, seed),
            self.labels,
            self.classes,
            self.noise,
            f"{self.source} + injected noise {level}",
        )


def make_wafer_set(
    n: int,
    seed: int = 0,
    cfg: WaferGenConfig = WaferGenConfig(),
    classes=CLASSES,
    counts: dict | None = None,
    min_per_class: int = 0,
    noise: float | None = None,
) -> WaferSet:
    """A generated set of ``n`` maps with WM-811K's class proportions (``scaled_counts``).

    Map ``i`` of class ``c`` is drawn from stream (seed, class index, i): sets made with the same
    seed and a different ``noise`` hold the same patterns on the same grids, only the noise differs.
    """
    counts = counts or scaled_counts(
        n,
        {c: PAPER_COUNTS.get(c, 0) for c in classes if c in PAPER_COUNTS}
        | ({NONE: max(PAPER_COUNTS.values())} if NONE in classes else {}),
        min_per_class,
    )
    maps, labels, levels = [], [], []
    for ci, c in enumerate(classes):
        for i in range(counts.get(c, 0)):
            m, lv = generate_map(c, (seed, ci, i), cfg, noise)
            maps.append(m)
            labels.append(ci)
            levels.append(lv)
    return WaferSet(
        maps,
        np.asarray(labels, dtype=np.int64),
        tuple(classes),
        np.asarray(levels),
        source=f"generated (WM-811K-faithful generator, seed {seed})",
    )


def inject_noise(maps, level: float, seed: int = 0) -> list:
    """Turn good dies of each map defective with probability ``level`` (Figure 9's noise, added).

    Map ``i`` uses a fixed uniform field from stream (seed, i), so raising ``level`` only adds
    defects: the robustness curve compares the same maps under more and more noise. Works on
    generated and real (WM-811K) maps alike.
    """
    if not 0 <= level <= 1:
        raise ValueError(f"noise level must be in [0, 1], got {level}")
    out = []
    for i, m in enumerate(maps):
        m = check_wafer_map(m, f"map {i}")
        u = np.random.default_rng([seed, i]).random(m.shape)
        out.append(np.where((m == GOOD) & (u < level), DEFECT, m).astype(np.uint8))
    return out


def split_8_1_1(labels, seed: int = 0, stratify: bool = True, val: float = 0.1, test: float = 0.1):
    """Random train/validation/test split of indices, 8:1:1 by default (Section 3.2), stratified by
    class by default so that rare classes (Near-full) appear in every part. ``val``/``test``: the
    fractions of the whole (the reference run takes a larger test share of generated maps).
    Returns three index arrays."""
    from sklearn.model_selection import train_test_split

    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ValueError(
            f"val and test fractions must be in (0, 1) with a sum < 1, got {val}, {test}"
        )
    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    strat = labels if stratify else None
    train, rest = train_test_split(idx, test_size=val + test, random_state=seed, stratify=strat)
    val_idx, test_idx = train_test_split(
        rest,
        test_size=test / (val + test),
        random_state=seed,
        stratify=labels[rest] if stratify else None,
    )
    return np.sort(train), np.sort(val_idx), np.sort(test_idx)


# ------------------------------------------------------------------------- tensors for the networks


def resize_map(m: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of a die grid to ``size`` x ``size`` (codes stay in {0, 1, 2})."""
    rows, cols = m.shape
    ri = np.minimum(((np.arange(size) + 0.5) * rows / size).astype(int), rows - 1)
    ci = np.minimum(((np.arange(size) + 0.5) * cols / size).astype(int), cols - 1)
    return m[np.ix_(ri, ci)]


def one_hot(grid):
    """(..., H, W) integer codes -> (..., 3, H, W) float one-hot: off, good, defect channels.

    The network sees a wafer map as a 3-channel image, like the paper's colour renderings
    (Figure 7: background, green good dies, yellow defects)."""
    import torch

    g = torch.as_tensor(grid).long()
    return torch.nn.functional.one_hot(g, 3).movedim(-1, -3).float()


class WaferTensorDataset:
    """Torch dataset: maps resized to ``resize`` then cropped to ``crop`` (Section 3.2: 256 -> 224).

    Training (``train=True``): random crop and random horizontal flip; evaluation: centre crop.
    Items are (3, crop, crop) float one-hot images and integer labels. Random draws use torch's
    global generator, seeded by the chapter, with ``num_workers=0`` for determinism.
    """

    def __init__(self, ws: WaferSet, crop: int, resize: int | None = None, train: bool = False):
        import torch

        self.crop = int(crop)
        self.resize = int(resize or round(crop * 256 / 224))
        if self.resize < self.crop:
            raise ValueError(f"resize ({self.resize}) must be >= crop ({self.crop})")
        self.grids = torch.from_numpy(
            np.stack(
                [
                    resize_map(check_wafer_map(m, f"map {i}"), self.resize)
                    for i, m in enumerate(ws.maps)
                ]
            )
        )
        self.labels = torch.as_tensor(ws.labels, dtype=torch.long)
        self.train = train

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        import torch

        g = self.grids[i]
        extra = self.resize - self.crop
        if self.train:
            oy, ox = torch.randint(0, extra + 1, (2,)).tolist() if extra else (0, 0)
            g = g[oy : oy + self.crop, ox : ox + self.crop]
            if torch.rand(()) < 0.5:
                g = g.flip(-1)
        else:
            o = extra // 2
            g = g[o : o + self.crop, o : o + self.crop]
        return one_hot(g), self.labels[i]


def make_loader(ds, batch_size: int, shuffle: bool, seed: int = 0):
    """A deterministic DataLoader (seeded generator, no worker processes)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        ds, batch_size=batch_size, shuffle=shuffle, generator=gen, num_workers=0
    )


# --------------------------------------------------------------------------- WM-811K (LSWMD.pkl)

LSWMD_COLUMNS = ("waferMap", "dieSize", "lotName", "waferIndex", "trianTestLabel", "failureType")
LSWMD_HOW_TO_GET = (
    "WM-811K (MIR lab, Wu et al. 2015): download LSWMD.pkl (about 2 GB) from the MIR "
    "Corpora page http://mirlab.org/dataSet/public/ or the Kaggle mirror "
    "'qingyi/wm811k-wafer-map', and place it at <data_root>/LSWMD.pkl"
)


class _LegacyPandasUnpickler(pickle.Unpickler):
    """Unpickler for LSWMD.pkl, written by pandas 0.19-era code.

    Modern pandas moved ``pandas.indexes`` to ``pandas.core.indexes`` and removed Int64Index and
    Float64Index; ``pd.read_pickle`` then fails with "No module named 'pandas.indexes'". This
    compatibility shim renames those classes. Whether today's BlockManager still reads the old
    block layout (pandas' "0.14.1" state) is NOT tested: no pandas 0.19 is available here to write
    such a pickle, and the real file cannot be downloaded here. Where it fails, ``read_lswmd``
    raises a ValueError that names the layout it expected.
    """

    _RENAMED = {
        ("pandas.core.indexes.numeric", n): ("pandas.core.indexes.base", "Index")
        for n in ("Int64Index", "UInt64Index", "Float64Index")
    }

    def find_class(self, module, name):
        if module == "pandas.indexes" or module.startswith("pandas.indexes."):
            module = "pandas.core.indexes" + module[len("pandas.indexes") :]
        if module == "pandas.core.indexes" and name == "base":
            module = "pandas.core.indexes.base"
        module, name = self._RENAMED.get((module, name), (module, name))
        return super().find_class(module, name)


#: The registry entry (``data/registry.yaml``) whose ``sha256`` is the published LSWMD.pkl's.
LSWMD_REGISTRY_KEY = "wm811k"


def lswmd_sha256() -> str | None:
    """The sha256 of the published LSWMD.pkl as recorded in ``data/registry.yaml``; None where
    none is recorded (none is published) or there is no repository (a pip install)."""
    from neurovis.core.data import DataNotFoundError, registry

    try:
        entry = registry()["datasets"].get(LSWMD_REGISTRY_KEY) or {}
    except DataNotFoundError:
        return None
    return entry.get("sha256") or None


def check_lswmd(path, trust: bool = False) -> str:
    """Gate before unpickling ``path``: unpickling runs whatever code a file holds, so the file
    must match the sha256 that ``data/registry.yaml`` records for the published LSWMD.pkl, or the
    caller says ``trust=True`` (a warning then names the file and its sha256). Otherwise a
    DataIntegrityError names the file, the expected and the found sha256. Returns the found sha256.
    """
    import warnings

    from neurovis.core.data import DataIntegrityError, sha256

    path = Path(path)
    found, expected = sha256(path), lswmd_sha256()
    if expected is not None and found == expected:
        return found
    where = f"data/registry.yaml, {LSWMD_REGISTRY_KEY}: sha256"
    if expected is None:
        why = (
            f"no sha256 of the published LSWMD.pkl is known (neither the MIR lab nor the Kaggle "
            f"mirror publishes one; {where} is null), so the file cannot be checked"
        )
    else:
        why = f"its sha256 {found} differs from the published LSWMD.pkl's {expected} ({where})"
    if trust:
        warnings.warn(
            f"{path}: unpickling an unverified file (trust=True): {why}; its sha256 is {found}",
            stacklevel=3,
        )
        return found
    advice = (
        "Download it again from the source, or pass trust=True if you know where this file comes "
        "from"
        if expected is not None
        else f"If you downloaded it yourself from the MIR lab or the Kaggle mirror, pass "
        f"trust=True (or record its sha256 {found} in {where} to check it from then on)"
    )
    raise DataIntegrityError(
        f"{path}: refusing to unpickle it: {why}; unpickling runs any code a file holds. {advice}."
    )


def read_lswmd(path, trust: bool = False):
    """Read ``LSWMD.pkl`` into a pandas DataFrame, with the compatibility shim for old pickles.

    First ``check_lswmd(path, trust)``: the file must match the published sha256 recorded in
    ``data/registry.yaml``, or ``trust=True``. Then tries ``pandas.read_pickle``, then the legacy
    unpickler (latin-1 strings, as the file was written by Python 2-era tools). Checks the WM-811K
    column layout.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file ({LSWMD_HOW_TO_GET})")
    check_lswmd(path, trust)
    try:
        df = pd.read_pickle(path)
    except (ModuleNotFoundError, ImportError, AttributeError, TypeError, pickle.UnpicklingError):
        try:
            with open(path, "rb") as f:
                df = _LegacyPandasUnpickler(io.BufferedReader(f), encoding="latin1").load()
        except Exception as e:  # the old block layout, or not a pickle of a DataFrame at all
            raise ValueError(
                f"{path}: could not read it as WM-811K's LSWMD.pkl: {type(e).__name__}: {e}. "
                "Expected a pandas DataFrame pickled by pandas 0.19-era code (Python 2, latin-1 "
                "strings, modules pandas.indexes.*, the '0.14.1' block layout) with columns "
                f"{list(LSWMD_COLUMNS)}. The compatibility shim renames the old modules; it has "
                "not been tested on the old block layout (see data/README.md). Reading it with "
                "pandas < 1.0 and saving it again with df.to_pickle should give a file this loader "
                "reads."
            ) from e
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{path}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in ("waferMap", "failureType") if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path}: not the WM-811K layout; missing columns {missing} "
            f"(expected {list(LSWMD_COLUMNS)}, found {list(df.columns)})"
        )
    return df


def _label(v) -> str:
    """WM-811K stores labels as nested arrays: [['Center']], or an empty array when unlabelled."""
    a = np.asarray(v, dtype=object).ravel()
    return str(a[0]) if a.size else ""


def load_lswmd(path, classes=CLASSES, trust: bool = False) -> WaferSet:
    """The labelled maps of WM-811K whose failure type is in ``classes`` (the paper's 8 patterns
    by default; add ``"none"`` for the defect-free class), validated, as a WaferSet. ``trust``:
    see ``check_lswmd``."""
    df = read_lswmd(path, trust)
    labels = df["failureType"].map(_label)
    keep = labels.isin(classes).to_numpy()
    if not keep.any():
        raise ValueError(f"{path}: no maps labelled with any of {list(classes)}")
    index = {c: i for i, c in enumerate(classes)}
    maps = [
        check_wafer_map(m, f"{path} row {r}") for r, m in zip(df.index[keep], df["waferMap"][keep])
    ]
    y = np.array([index[c] for c in labels[keep]], dtype=np.int64)
    return WaferSet(maps, y, tuple(classes), None, source=f"WM-811K ({Path(path).name}, real)")


def load_wm811k(data_root, classes=CLASSES, trust: bool = False) -> WaferSet:
    """WM-811K from ``data_root`` (``scale="paper"``); a clear DataNotFoundError when absent.
    ``trust``: see ``check_lswmd``."""
    from neurovis.core import require_data_root

    root = require_data_root(
        data_root, "WM-811K", expected=["LSWMD.pkl"], how_to_get=LSWMD_HOW_TO_GET
    )
    return load_lswmd(root / "LSWMD.pkl", classes, trust)


def chapter_data(
    scale: str,
    data_root=None,
    n_maps: int = 2000,
    seed: int = 0,
    min_per_class: int = 30,
    cfg: WaferGenConfig = WaferGenConfig(),
    trust: bool = False,
    test_fraction: float = 0.1,
):
    """The chapter's maps and their 8:1:1 split (Section 3.2).

    ``scale="small"``: ``n_maps`` generated maps with WM-811K's class proportions (at least
    ``min_per_class`` each, so that every class reaches the test split); ``scale="reference"``
    the same generator, with ``test_fraction`` of the maps held out for testing (validation stays
    0.1). ``scale="paper"``: the 25,519 labelled defect maps of WM-811K from ``data_root``
    (``trust``: see ``check_lswmd``), split 8:1:1. Returns (WaferSet, (train, val, test)).
    """
    from neurovis.core import check_scale

    if check_scale(scale) == "paper":
        ws = load_wm811k(data_root, trust=trust)
    else:
        ws = make_wafer_set(n_maps, seed=seed, cfg=cfg, min_per_class=min_per_class)
        return ws, split_8_1_1(ws.labels, seed=seed, test=test_fraction)
    return ws, split_8_1_1(ws.labels, seed=seed)
