"""Chapter 05: attention and audiovisual integration (Jiang et al., Front. Neurosci. 2023).

Behaviour (repeated-measures ANOVA), fMRI GLM ROIs, EEG minimum-norm sources and the adaptive
directed transfer function (ADTF) time-varying network, rebuilt on simulations with planted
ground truth and on MNE's real sample EEG.
"""

from .rois import TABLE1, roi_table
from .paradigm import (
    PAPER_RT,
    BehaviourConfig,
    simulate_trials,
    exclude_trials,
    condition_means,
    rm_anova,
    paired_tests,
)
from .mvar import (
    KalmanConfig,
    kalman_mvar,
    kalman_mvar_numpy,
    kalman_mvar_loop,
    select_order_bic,
    stationary_var_fit,
    simulate_var,
    baccala_example,
    single_thread,
)
from .adtf import (
    ADTFConfig,
    ADTFResult,
    transfer_matrix,
    adtf,
    integrated_adtf,
    integrated_adtf_numpy,
    normalize_trials,
    innovation_sd,
    dtf_analytic,
    phase_randomize,
    adtf_with_surrogates,
    group_network,
    edge_onsets,
    tonic_edges,
    network_events,
)
from .network import (
    CONDITIONS,
    analytic_theta,
    baseline_change,
    run_statistic,
    calibrated_network,
    change_network,
    NODES,
    PlantedNetwork,
    tv_coefficients,
    simulate_sources,
    score_network,
    transitive_closure,
    gains_from_rt,
    network_analysis,
    mean_flow,
    stationary_network,
    score_static,
)
from .data import (
    load_sample_evoked,
    paper_root,
    list_subjects,
    load_behaviour,
    load_fmri_run,
    load_eeg_run,
)
from . import bench, eeg, fmri, plots, study

__all__ = [n for n in dir() if not n.startswith("_")]
