"""Chapter 09 — product detection for smart vending checkout (Xu et al. 2023): torchvision's
Faster R-CNN configured as the paper, a generated RPC-like checkout set, COCO AP and RPC's checkout
metrics (cAcc, ACD, mCCD, mCIoU)."""

from .products import Product, catalogue, render_upright, render_at_elevation, view, VIEWS
from .data import (
    LEVELS,
    CLUTTER,
    RPC_HOW,
    CheckoutSet,
    Scene,
    render_scene,
    generate,
    downscale,
    validate_coco,
    load_coco_json,
    load_rpc,
    copy_paste,
    cut_out,
    tray,
    hand,
    HANDS,
)
from .detector import (
    DetectorConfig,
    MiniResNet,
    CrossBoundaryRPN,
    RoIMaxPool,
    build_detector,
    cross_boundary,
    detection_loss,
    make_loader,
    train_detector,
    predict,
    to_coco_detections,
    receptive_field,
    anchor_summary,
    receptive_fields,
)
from .metrics import COCO_STATS, coco_evaluate, count_table, checkout_metrics, choose_threshold
from .baselines import ColourBlobDetector
from .evaluate import (
    ap_by_level,
    val_evaluator,
    checkout_by_level,
    threshold_on_validation,
    images_per_second,
    baseline_images_per_second,
    level_ids,
    checkout_correct,
    class_agnostic_ap,
    rpn_recall,
)

from .experiment import (
    BENCHMARK_SEED,
    Budget,
    Trained,
    benchmark,
    chapter_data,
    copy_paste_batch,
    detector_config,
    level_items,
    measure,
    measure_baseline,
    measure_detector,
    train_kept_best,
    training_set,
)

__all__ = [n for n in dir() if not n.startswith("_")]
