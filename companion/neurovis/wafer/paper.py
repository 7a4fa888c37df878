"""The paper's reported figures, keyed like the chapter's metrics, for ``results.save(paper=...)``.

Only ever shown in the "paper (reported)" column; every "ours" number is computed in the run.
"""

from __future__ import annotations

_TABLE6 = {  # class: (precision, TPR, TNR) in %, WM-811K test split (Table 6)
    "Loc": (95.3, 89.4, 99.3),
    "Center": (96.8, 99.5, 99.3),
    "Donut": (88.5, 96.7, 99.7),
    "Random": (100.0, 88.5, 100.0),
    "Scratch": (95.6, 90.0, 99.8),
    "Near-full": (75.0, 100.0, 99.8),
    "Edge-Loc": (94.8, 97.5, 98.6),
    "Edge-Ring": (99.1, 99.3, 99.4),
}

PAPER_RESULTS = {
    "acc_mffpnet": (96.71, "Tables 3-5"),
    "params_mffpnet_m": (48.09, "Section 3.2"),
    "acc_handcrafted": (94.63, "Table 4, WMFPR"),
    "acc_resnet18": (None, "not reported"),
    "acc_resnet34": (92.64, "Table 5"),
    "acc_resnet50": (95.23, "Table 5"),
    "acc_vgg16": (95.20, "Table 5"),
    "acc_mobilenet_v2": (93.20, "Table 5, MobileNet v1"),
    "acc_googlenet": (93.82, "Table 5"),
    "acc_aux_paper": (96.71, "Table 3, (1, 1.4, 1, 0.3)"),
    "acc_aux_equal": (94.56, "Table 1, (1, 1, 1, 1)"),
    "acc_aux_b_only": (92.21, "Table 1, (0, 1, 0, 0)"),
    "acc_aux_none": (None, "not reported"),
}
for _c, (_p, _t, _n) in _TABLE6.items():
    PAPER_RESULTS[f"precision_{_c}"] = (_p, "Table 6")
    PAPER_RESULTS[f"tpr_{_c}"] = (_t, "Table 6")
    PAPER_RESULTS[f"tnr_{_c}"] = (_n, "Table 6")
