"""One-call seeding with deterministic settings."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int = 0, deterministic: bool = True) -> np.random.Generator:
    """Seed python, numpy and torch (CPU and CUDA); return a numpy Generator for the chapter.

    With ``deterministic=True`` torch uses deterministic algorithms where they exist (warning, not
    failing, where they do not) and cuDNN autotuning is off, so two runs give the same numbers.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return np.random.default_rng(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)
