"""Chapter 01: facial depression recognition with HMHN (Li et al., Front. Neurosci. 2023).

The public names the chapter uses; see data.py (faces, cues, AVEC loaders), hmhn.py (the
method), baselines.py (ablations, the paper's numbers), train.py, analysis.py, plots.py.
"""

from .data import (
    BDI_BANDS,
    CUE_REGIONS,
    REGION_NAMES,
    AVEC_HOW_TO_GET,
    BenchmarkConfig,
    FaceNotFoundError,
    FaceVideos,
    align_face,
    align_subjects,
    avec_expected_layout,
    avec_faces,
    bdi_band,
    index_avec,
    avec_partitions,
    load_orl,
    make_benchmark,
    region_masks,
    render_cues,
)
from .hmhn import (
    HMHN,
    KERNEL_SETTINGS,
    HMHNConfig,
    attention_fusion,
    count_parameters,
    grid,
    grid_attention_weights,
    partition_loss,
    ungrid,
)
from .baselines import (
    PAPER_ABLATION,
    PAPER_KERNELS,
    PAPER_SOTA,
    ablation_configs,
    kernel_parameter_counts,
    ridge_on_pixels,
    resnet18_baseline,
    single_head,
)
from .train import (
    TrainSettings,
    evaluate_videos,
    mae,
    make_loader,
    predict,
    rmse,
    train_hmhn,
    video_scores,
)
from . import analysis, plots

__all__ = [n for n in dir() if not n.startswith("_")]
