"""Chapter 08: endoscopic smoke classification with the improved PoolFormer (Wang et al. 2023).

Rooms: ``data`` (real frames, rendered smoke Eq. 1-2, real smoky clips, Hamlyn loader),
``model`` (tokenizer, RepConvNeXt mixer and its single-path re-parameterisation, the classifier),
``baselines`` (timm PoolFormer-S12, MobileNetV3, EfficientNet, ViT), ``train`` (training with the
core loop, Eq. 3-4 metrics, frame rate), ``desmoke`` (dark-channel dehazer, targeted pipeline),
``plots``.
"""

from .data import (
    CLEAR_FRAMES,
    SMOKY_FRAMES,
    TEST_CLEAR_FRAMES,
    SmokeParams,
    SmokeSet,
    add_smoke,
    composite,
    haze_score,
    load_lap_frames,
    load_smoky_clips,
    paper_split,
    read_video,
    render_smoke,
    small_split,
    to_model_input,
)
from .desmoke import dehaze_dcp, saved_fraction, targeted_pipeline
from .model import RepConvNeXtMixer, SmokeFormer, SmokeFormerConfig, count_convs, relative_max_error
from .train import (
    Run,
    TrainSettings,
    acc_sens,
    build_model,
    evaluate,
    fit_model,
    fps,
    measure_fps,
    predict_proba,
    summarize,
)

__all__ = [
    "CLEAR_FRAMES",
    "SMOKY_FRAMES",
    "TEST_CLEAR_FRAMES",
    "SmokeParams",
    "SmokeSet",
    "add_smoke",
    "composite",
    "haze_score",
    "load_lap_frames",
    "load_smoky_clips",
    "paper_split",
    "read_video",
    "render_smoke",
    "small_split",
    "to_model_input",
    "dehaze_dcp",
    "saved_fraction",
    "targeted_pipeline",
    "RepConvNeXtMixer",
    "SmokeFormer",
    "SmokeFormerConfig",
    "count_convs",
    "relative_max_error",
    "Run",
    "TrainSettings",
    "acc_sens",
    "build_model",
    "evaluate",
    "fit_model",
    "fps",
    "measure_fps",
    "predict_proba",
    "summarize",
]
