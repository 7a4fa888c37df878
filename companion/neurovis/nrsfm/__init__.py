"""Chapter 02: MCM-RR, 3D shape from 2D sequences with elastic-net shape bases and ALM/ADMM
(Chen et al., Frontiers in Neuroscience 2023), and its baseline CRA (Zhou et al. 2015)."""
from .bases import (BasisConfig, ShapeBases, elastic_net_codes, elastic_net_objective,
                    learn_shape_bases)
from .baselines import (CONTROL, METHODS, PAPER_TABLE1, PAPER_TABLE3, Experiment, Hyper,
                        paper_decrease_text, paper_tables, run_experiment)
from .data import (PAPER_CATEGORIES, Benchmark, Sequence, load_akhter, load_embedded, load_paper_categories,
                   load_zhou_shapes)
from .mcmrr import (ALMConfig, Reconstruction, frame_errors, normalized_error, prox_spectral_norm,
                    prox_spectral_norm_2x3, project_l1_ball, project_l1_ball_2, polar_2x3,
                    compose_per_basis, refine, reconstruct, reconstruct_frame_by_frame,
                    similarity_weights, solve_alm, sync_rotation, update_M, update_Z, xi, xi_decrease)

__all__ = [
    "CONTROL", "paper_decrease_text", "project_l1_ball_2", "polar_2x3", "compose_per_basis",
    "refine", "elastic_net_codes",
    "BasisConfig", "ShapeBases", "elastic_net_objective", "learn_shape_bases", "METHODS", "PAPER_TABLE1",
    "PAPER_TABLE3", "Experiment", "Hyper", "paper_tables", "run_experiment", "PAPER_CATEGORIES", "Benchmark",
    "Sequence", "load_akhter", "load_embedded", "load_paper_categories", "load_zhou_shapes", "ALMConfig",
    "Reconstruction", "frame_errors", "normalized_error", "prox_spectral_norm", "prox_spectral_norm_2x3",
    "project_l1_ball", "reconstruct", "reconstruct_frame_by_frame", "similarity_weights", "solve_alm",
    "sync_rotation", "update_M", "update_Z", "xi", "xi_decrease",
]
