"""Chapter 11 — MS-GSRC image restoration (Ning et al. 2023): denoising, inpainting and compressed
sensing with a multi-scale group sparse residual constraint and low-rank group codes."""

from .operators import Identity, Mask, BlockCS, add_gaussian_noise
from .grouping import block_matching, Groups
from .msgsrc import (
    MSGSRCConfig,
    msgsrc,
    soft_threshold,
    singular_value_threshold,
    pca_dictionary,
    low_rank_codes,
    group_sparse_codes,
    restore_groups,
    psnr,
)
from .baselines import DENOISERS, bm3d_denoise, interpolate_missing, bcs_spl
from .data import embedded_images, load_grey, folder_images, PAPER_TABLE1, SET12_NAMES
from .evaluate import ssim, run_denoising, run_inpainting, run_compressed_sensing

__all__ = [n for n in dir() if not n.startswith("_")]
