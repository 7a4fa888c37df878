"""Chapter 10 — MSAAM: multi-scale adaptive attention for driving-scene segmentation and anomaly
detection (Liu et al. 2024), on CamVid with COCO objects pasted onto the road as anomalies."""

from .data import (
    CAMVID_CLASSES,
    CAMVID_GROUPS,
    CITYSCAPES_CLASSES,
    CITYSCAPES_GROUPS,
    SegSet,
    check_labels,
    coco_objects,
    embedded_camvid,
    embedded_coco_objects,
    load_anomaly_benchmark,
    load_camvid,
    load_cityscapes,
    paper_camvid,
    paste_anomalies,
)
from .msaam import (
    MSAAM,
    AdaptiveWeights,
    ChannelAttention,
    DeepLabV3Plus,
    PyramidScaleAttention,
    SpatialAttention,
    attention_variance,
    gate_saturation,
    msaam_loss,
)
from .hierarchy import hierarchical_representation, highlights, max_average_rectangle
from .baselines import SCORES, ClassStats, anomaly_scores, deeplab_baseline
from .metrics import anomaly_metrics, confusion_matrix, segmentation_scores
from .train import (
    TrainSettings,
    build_model,
    class_stats,
    VARIANTS,
    evaluate_anomalies,
    evaluate_attribution,
    evaluate_segmentation,
    image_confusions,
    per_image_iou,
    saturation,
    variant_class_stats,
    variant_logits,
    gflops,
    inference_time,
    predict,
    train_segmenter,
    train_kept_best,
    load_trained,
)

__all__ = [n for n in dir() if not n.startswith("_")]
