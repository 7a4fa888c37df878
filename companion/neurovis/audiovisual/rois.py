"""The paper's regions of interest (Table 1): MNI coordinates (mm) and sizes (mm)."""

from __future__ import annotations

__all__ = ["TABLE1", "roi_table"]

# Table 1 of the paper. rV1 is printed as (9, 96, -3): y = +96 mm lies in front of the head, a sign
# slip for the occipital pole; we use (9, -96, -3), the mirror of lV1 (-9, -96, -9) (see
# Deviations).
TABLE1 = {
    "LVF": {
        "TPJ": ((45, -54, 30), 6),
        "STG": ((63, -39, 18), 6),
        "A1": ((45, -21, 12), 10),
        "V1": ((9, -96, -3), 10),
    },
    "RVF": {
        "TPJ": ((45, -54, 33), 6),
        "STG": ((-64, -46, 18), 6),
        "A1": ((-40, -26, 14), 10),
        "V1": ((-9, -96, -9), 10),
    },
}
SIDE = {
    "LVF": {"TPJ": "r", "STG": "r", "A1": "r", "V1": "r"},
    "RVF": {"TPJ": "r", "STG": "l", "A1": "l", "V1": "l"},
}


def roi_table():
    """Table 1 as a DataFrame: field, ROI, x, y, z (mm, MNI), size (mm)."""
    import pandas as pd

    rows = [
        {"cue field": f, "ROI": SIDE[f][r] + r, "x": c[0], "y": c[1], "z": c[2], "size (mm)": s}
        for f, rois in TABLE1.items()
        for r, (c, s) in rois.items()
    ]
    return pd.DataFrame(rows)
