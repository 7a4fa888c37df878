"""Chapter 06 — truck model recognition with the improved MMAL-Net (Sun et al. 2023) and the
overload check built on it: frontal, side and part branches (APPM on the side view), the
weigh-station rules."""

from .registry import (
    STANFORD_TRUCKS,
    PAPER_TRUCKS,
    HEAVY_DUTY_GVWR_KG,
    VehicleSpec,
    duty_of,
    load_registry_csv,
)
from .data import (
    SMALL_CLASSES,
    ImageTable,
    Sets,
    embedded_trucks,
    make_sets,
    split_sets,
    other_classes,
    read_image,
    stanford_cars,
    truck_sets,
    duty_vector,
    load_annotations,
)
from .appm import (
    APPMConfig,
    activation_map,
    window_scores,
    select_windows,
    propose_parts,
    crop_and_resize,
    aolm,
    random_parts,
)
from .model import NetConfig, ResNetClassifier, ImprovedMMAL, improved_mmal_loss
from .baselines import PlainResNet, MMALNet, mmal_loss
from .train import (
    METHODS,
    LABELS,
    TWO_VIEW,
    TrainSettings,
    Trained,
    fit_method,
    pretrain_backbone,
    plateaued,
    photo_items,
    lr_at,
    predict,
    predict_proba,
    accuracy,
    light_as_heavy,
    heavy_as_light,
)
from .overload import (
    StationRecord,
    Verdict,
    StreamTruth,
    overload_verdict,
    simulate_stream,
    run_stream,
    score_stream,
    verdict_table,
)

__all__ = [n for n in dir() if not n.startswith("_")]
