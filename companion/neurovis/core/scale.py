"""The two scales every chapter runs at."""
SCALES = ("small", "paper")


def check_scale(scale: str) -> str:
    """Validate ``scale``: ``"small"`` (embedded data, CPU, minutes) or ``"paper"`` (full data)."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    return scale
