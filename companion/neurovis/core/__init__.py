"""Shared core of the book: devices, seeding, scales, data location, results, timing, training,
plotting. Everything here is used by at least two chapters."""

from .device import choose_device, set_threads, single_thread, environment_report
from .seeding import seed_everything
from .scale import check_scale, SCALES
from .data import (
    DataNotFoundError,
    DataIntegrityError,
    repo_root,
    embedded_path,
    require_data_root,
    verify_embedded,
)
from . import results, timing, plotting

__all__ = [
    "choose_device",
    "set_threads",
    "single_thread",
    "environment_report",
    "seed_everything",
    "check_scale",
    "SCALES",
    "DataNotFoundError",
    "DataIntegrityError",
    "repo_root",
    "embedded_path",
    "require_data_root",
    "verify_embedded",
    "results",
    "timing",
    "plotting",
    "fit",
    "TrainConfig",
]


def __getattr__(name):  # the training loop imports torch: load it only when asked for
    if name in ("fit", "TrainConfig"):
        from . import training

        return getattr(training, name)
    raise AttributeError(f"module 'neurovis.core' has no attribute {name!r}")
