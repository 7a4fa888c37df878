"""Chapter 03: MFFP-Net wafer-map defect recognition (Chen et al., Frontiers in Neuroscience 2023).

A WM-811K-faithful wafer-map generator and the real WM-811K (LSWMD.pkl) loader; MFFP-Net with its
MFF modules and deep supervision; the Table 4-5 baselines; the paper's per-class metrics.
"""

from .data import (
    CLASSES,
    CLASS_MODELS,
    NONE,
    PAPER_COUNTS,
    WaferGenConfig,
    WaferSet,
    WaferTensorDataset,
    check_lswmd,
    check_wafer_map,
    generate_map,
    load_lswmd,
    load_wm811k,
    make_loader,
    make_wafer_set,
    scaled_counts,
    split_8_1_1,
    chapter_data,
    inject_noise,
)
from .mffpnet import (
    MFF,
    PAPER_AUX_WEIGHTS,
    MFFPNet,
    MFFPNetConfig,
    count_parameters,
    deep_supervision_loss,
)
from .paper import PAPER_RESULTS
from .baselines import TABLE5_BASELINES, make_baseline, wmfpr_classifier, wmfpr_features
from .train import (
    TrainSettings,
    accuracy,
    noise_sweep,
    per_class_metrics,
    predict,
    predict_proba,
    summary_metrics,
    train_classifier,
)

__all__ = [
    "CLASSES",
    "CLASS_MODELS",
    "NONE",
    "PAPER_COUNTS",
    "WaferGenConfig",
    "WaferSet",
    "WaferTensorDataset",
    "check_lswmd",
    "check_wafer_map",
    "generate_map",
    "load_lswmd",
    "load_wm811k",
    "make_loader",
    "make_wafer_set",
    "scaled_counts",
    "split_8_1_1",
    "MFF",
    "PAPER_AUX_WEIGHTS",
    "MFFPNet",
    "MFFPNetConfig",
    "count_parameters",
    "deep_supervision_loss",
    "TABLE5_BASELINES",
    "make_baseline",
    "wmfpr_classifier",
    "wmfpr_features",
    "TrainSettings",
    "accuracy",
    "noise_sweep",
    "per_class_metrics",
    "predict",
    "predict_proba",
    "summary_metrics",
    "train_classifier",
    "chapter_data",
    "inject_noise",
    "PAPER_RESULTS",
]
