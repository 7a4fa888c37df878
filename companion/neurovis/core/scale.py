"""The three scales every chapter runs at (BOOK_DESIGN.md, "Scales").

- ``small``: embedded data, CPU-sized, minutes; the regression test nbval re-executes (one seed
  unless the chapter affords more: not evidence);
- ``reference``: the same data, sized so that the paper's mechanism exists and training converges,
  5 seeds, a validation split for every choice; the chapter's conclusions come from it;
- ``paper``: the paper's data set from a data root, the paper's sizes.
"""

SCALES = ("small", "reference", "paper")
REFERENCE_SEEDS = (0, 1, 2, 3, 4)


def check_scale(scale: str) -> str:
    """Validate ``scale``: one of ``SCALES``."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    return scale


def seeds_for(scale: str, seed: int = 0, small: int = 1) -> list[int]:
    """The seeds a run at ``scale`` uses, starting at ``seed``: ``small`` of them at small scale
    (1 by default), 5 at reference scale, 1 at paper scale."""
    check_scale(scale)
    n = {"small": small, "reference": len(REFERENCE_SEEDS), "paper": 1}[scale]
    if n < 1:
        raise ValueError(f"need at least one seed, got {n}")
    return [seed + i for i in range(n)]
