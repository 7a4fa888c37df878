"""Chapter 05 (audiovisual ADTF): specifications of the Kalman MVAAR, the ADTF and its statistics,
the fMRI GLM, the EEG forward/inverse round trip, the behaviour analysis and the loaders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurovis import audiovisual as av
import importlib

A = importlib.import_module("neurovis.audiovisual.adtf")
M = importlib.import_module("neurovis.audiovisual.mvar")
from neurovis.core import DataNotFoundError  # noqa: E402

SF = 100.0


@pytest.fixture(scope="module")
def baccala_data():
    W, _ = M.baccala_example()
    X = M.simulate_var(np.broadcast_to(W, (400, *W.shape)), 40, np.random.default_rng(0))
    return W, X


# ---------------------------------------------------------------- Kalman MVAAR (Eq. 4)
def test_kalman_recovers_stationary_var_coefficients(baccala_data):
    W, X = baccala_data
    Wk = M.kalman_mvar(X, M.KalmanConfig(p=3, uc=0.005))
    assert Wk.shape == (400, 3, 5, 5)
    assert np.abs(Wk[200:].mean(0) - W).max() < 0.08


def test_kalman_tracks_a_switching_var():
    rng = np.random.default_rng(1)
    W = np.zeros((300, 1, 2, 2))
    W[:, 0, 0, 0] = W[:, 0, 1, 1] = 0.5
    W[150:, 0, 1, 0] = 0.6  # x0 -> x1 switches on at sample 150
    X = M.simulate_var(W, 60, rng)
    Wk = M.kalman_mvar(X, M.KalmanConfig(p=1, uc=0.05))
    assert abs(Wk[120:145, 0, 1, 0].mean()) < 0.12
    assert abs(Wk[250:, 0, 1, 0].mean() - 0.6) < 0.12
    assert abs(Wk[250:, 0, 0, 1].mean()) < 0.12


def test_batched_kalman_equals_the_per_sample_loop(baccala_data):
    _, X = baccala_data
    cfg = M.KalmanConfig(p=3, uc=0.02)
    Xs = X[:8, :120]
    assert np.abs(M.kalman_mvar(Xs, cfg) - M.kalman_mvar_loop(Xs, cfg)).max() < 1e-9
    batch = M.kalman_mvar(np.stack([Xs, Xs[::-1]]), cfg)
    assert np.abs(batch[1] - M.kalman_mvar(Xs[::-1], cfg)).max() < 1e-9


def test_schwarz_criterion_picks_the_true_order(baccala_data):
    _, X = baccala_data
    p, bics = M.select_order_bic(X, 6)
    assert p == 3 and len(bics) == 6


def test_bad_inputs_are_rejected_with_clear_errors(baccala_data):
    _, X = baccala_data
    bad = X[:4].copy()
    bad[0, 5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        M.kalman_mvar(bad)
    with pytest.raises(ValueError, match="too short"):
        M.kalman_mvar(X[:4, :4], M.KalmanConfig(p=3))
    with pytest.raises(ValueError, match="trials, samples, channels"):
        M.kalman_mvar(X[0, :, 0])
    with pytest.raises(ValueError, match="order p"):
        M.KalmanConfig(p=0)


# ---------------------------------------------------------------- ADTF (Eq. 5-8)
def test_transfer_matrix_inverts_the_ar_polynomial(baccala_data):
    W, _ = baccala_data
    f = np.array([1.0, 7.5, 20.0, 40.0])
    H = A.transfer_matrix(W, f, SF)
    Lam = np.eye(5) - sum(
        W[j] * np.exp(-2j * np.pi * f[:, None, None] * (j + 1) / SF) for j in range(3)
    )
    assert np.allclose(H @ Lam, np.eye(5), atol=1e-10)


def test_transfer_matrix_matches_statsmodels_moving_average_representation(baccala_data):
    from statsmodels.tsa.vector_ar.var_model import VARProcess

    W, _ = baccala_data
    # independent: impulse responses
    psi = VARProcess(W, None, np.eye(5)).ma_rep(maxn=400)
    f = np.array([3.0, 13.0, 31.0])
    H_ma = np.einsum("kij,fk->fij", psi, np.exp(-2j * np.pi * f[:, None] * np.arange(401) / SF))
    assert np.allclose(A.transfer_matrix(W, f, SF), H_ma, atol=1e-6)


def test_normalised_adtf_rows_sum_to_one_and_follow_the_structure(baccala_data):
    W, _ = baccala_data
    g = A.dtf_analytic(W, np.arange(1, 50.0), SF)
    assert np.allclose(g.sum(-1), 1.0)
    assert np.all(g[:, 0, 1:] < 1e-12)  # nothing flows into x1
    assert g[:, 1, 0].mean() > 0.2  # x1 -> x2


def test_kalman_dtf_agrees_with_the_analytic_and_least_squares_dtf(baccala_data):
    W, X = baccala_data
    f = np.arange(1, 50.0)
    truth = A.dtf_analytic(W, f, SF)
    Wk = M.kalman_mvar(X, M.KalmanConfig(p=3, uc=0.005))[200:].mean(0)
    Wls, _ = M.stationary_var_fit(X, 3)
    assert np.abs(A.dtf_analytic(Wk, f, SF) - truth).mean() < 0.02
    assert np.abs(A.dtf_analytic(Wls, f, SF) - truth).mean() < 0.02


def test_integrated_adtf_is_the_band_sum_over_width(baccala_data):
    W, _ = baccala_data
    f = np.arange(2.0, 11.0)
    th = A.integrated_adtf(W[None], f, SF)[0]
    assert np.allclose(th, A.adtf(W[None], f, SF)[0].sum(0) / 8.0)
    with pytest.raises(ValueError, match="two integration frequencies"):
        A.integrated_adtf(W[None], np.array([5.0]), SF)


def test_surrogates_keep_the_amplitude_spectrum_and_break_coupling(baccala_data):
    _, X = baccala_data
    sur = A.phase_randomize(X[:10], 3, np.random.default_rng(0))
    assert sur.shape == (3, 10, 400, 5)
    assert np.allclose(
        np.abs(np.fft.rfft(sur, axis=2)), np.abs(np.fft.rfft(X[:10], axis=1))[None], atol=1e-8
    )
    c_orig = np.corrcoef(X[:10, 2:, 1].ravel(), X[:10, :-2, 0].ravel())[0, 1]
    c_sur = np.corrcoef(sur[0, :, 2:, 1].ravel(), sur[0, :, :-2, 0].ravel())[0, 1]
    assert abs(c_orig) > 0.5 and abs(c_sur) < 0.15


def test_edge_onsets_and_network_order_on_a_hand_made_case():
    times = np.arange(10) * 0.01
    sig = np.zeros((10, 2, 2), bool)
    sig[3:, 1, 0] = True  # 0 -> 1 from 30 ms
    sig[5:6, 0, 1] = True  # a one-sample blip: too short
    on = A.edge_onsets(sig, times, min_duration=0.02)
    assert on[1, 0] == pytest.approx(0.03) and np.isnan(on[0, 1])
    assert A.network_events(on, ["a", "b"]) == [(pytest.approx(0.03), "a→b")]
    tonic = np.zeros((10, 2, 2), bool)
    tonic[:6, 0, 1] = True  # significant from the first sample: present before the stimulus
    times2 = times - 0.02
    assert (
        np.isnan(A.edge_onsets(tonic, times2, 0.02)[0, 1])
        and A.tonic_edges(tonic, times2, 0.02)[0, 1]
    )


def test_group_test_needs_subjects_and_finds_a_consistent_edge():
    S, T, n = 12, 5, 3
    theta = np.full((S, T, n, n), 0.1) + np.random.default_rng(0).normal(0, 0.01, (S, T, n, n))
    theta[:, :, 2, 0] += 0.3
    res = A.ADTFResult(theta, np.full_like(theta, 0.2), np.arange(T) * 0.01)
    sig, _ = A.group_network(res)
    assert sig[:, 2, 0].all() and sig.sum() == T
    with pytest.raises(ValueError, match="subjects"):
        A.group_network(A.ADTFResult(theta[:3], theta[:3], res.times))


# ---------------------------------------------------------------- planted network and scoring
def test_planted_network_is_stable_and_reversal_swaps_onsets():
    times = np.arange(300) / 250 - 0.2
    net, rev = av.PlantedNetwork.paper_order(), av.PlantedNetwork.reversed_order()
    W = av.tv_coefficients(net, times, 250.0, gain=1.4)
    assert W.shape == (300, 2, 4, 4)
    assert all(M.is_stable(W[t]) for t in range(0, 300, 25))
    assert rev.onsets[("STG", "TPJ")] < rev.onsets[("V1", "STG")]
    assert np.array_equal(net.truth_matrix(), rev.truth_matrix())


def test_score_network_counts_indirect_paths_apart():
    net = av.PlantedNetwork.paper_order()
    on = np.full((4, 4), np.nan)
    V1, A1, STG, TPJ = range(4)
    on[STG, V1], on[STG, A1], on[TPJ, STG], on[STG, TPJ] = 0.26, 0.30, 0.56, 0.62
    on[TPJ, V1] = 0.60  # indirect V1 -> STG -> TPJ
    on[V1, TPJ] = 0.40  # false
    s = av.score_network(net, on)
    assert (
        s["recall"] == 1.0
        and s["false_edges"] == 1
        and s["indirect_edges"] == 1
        and s["order_correct"]
    )
    assert s["onset_error_ms"] == pytest.approx((10 + 0 + 10 + 20) / 4)
    on[TPJ, STG] = 0.2
    assert not av.score_network(net, on)["order_correct"]


def test_adtf_pipeline_recovers_a_planted_edge_on_sources():
    rng = np.random.default_rng(3)
    times = np.arange(200) / 250 - 0.2
    net = av.PlantedNetwork(onsets={("V1", "STG"): 0.2}, strength=0.2)
    X = np.stack([av.simulate_sources(net, times, 250.0, 30, rng) for _ in range(8)])
    cfg = av.ADTFConfig(n_surrogates=5, window=(0.0, 0.55))
    fit = av.network_analysis(X, times, 250.0, rng, cfg, order=2)
    s = av.score_network(net, fit["onsets"], early=("V1→STG",), late=("V1→STG",))
    assert s["recall"] == 1.0 and s["false_edges"] == 0
    assert abs(fit["onsets"][2, 0] - 0.2) < 0.1


# ---------------------------------------------------------------- normalisation and analytic theta
@pytest.fixture(scope="module")
def planted_trials():
    times = np.arange(-50, 251) / 250.0
    net = av.PlantedNetwork.paper_order()
    X = av.simulate_sources(net, times, 250.0, 300, np.random.default_rng(7))
    return net, times, X


def test_normalisation_keeps_the_analytic_transfer_of_a_time_varying_mvar(planted_trials):
    net, times, X = planted_trials
    freqs = av.ADTFConfig().freqs
    truth = av.analytic_theta(net, times, 250.0, freqs)
    gained = X * np.array([3.0, 0.5, 2.0, 10.0])  # arbitrary ROI gains (inverse units)
    theta = av.integrated_adtf(
        M.kalman_mvar(A.normalize_trials(gained, times), M.KalmanConfig(p=2)), freqs, 250.0
    )
    V1, A1, STG = 0, 1, 2
    plateau = (times > 0.40) & (times < 0.55)  # V1/A1 -> STG on, loop still off
    before = (times > -0.1) & (times < 0.2)
    for src in (V1, A1):
        assert truth[plateau, STG, src].mean() > 0.35
        assert abs(theta[plateau, STG, src].mean() - truth[plateau, STG, src].mean()) < 0.05
        assert theta[before, STG, src].mean() < 0.05
    # the former per-sample standardisation attenuates the same edge far below the truth
    old = (X - X.mean(0)) / X.std(0)
    theta_old = av.integrated_adtf(M.kalman_mvar(old, M.KalmanConfig(p=2)), freqs, 250.0)
    assert truth[plateau, STG, V1].mean() - theta_old[plateau, STG, V1].mean() > 0.15


def test_normalisation_is_blind_to_each_rois_gain(planted_trials):
    _, times, X = planted_trials
    a = A.normalize_trials(X[:40], times)
    b = A.normalize_trials(X[:40] * np.array([0.1, 5.0, 1.0, 30.0]), times)
    assert np.allclose(a, b, atol=1e-9)
    assert np.allclose(a.mean(axis=0), 0.0, atol=1e-12)  # the ensemble mean is removed


def test_torch_adtf_equals_the_numpy_reference(baccala_data):
    W, X = baccala_data
    Wk = M.kalman_mvar(X[:10, :80], M.KalmanConfig(p=3))
    f = np.arange(1.0, 31.0)
    assert np.allclose(A.integrated_adtf(Wk, f, SF), A.integrated_adtf_numpy(Wk, f, SF), atol=1e-10)


def test_vectorised_numpy_kalman_equals_the_torch_filter(baccala_data):
    _, X = baccala_data
    cfg = M.KalmanConfig(p=3, uc=0.02)
    batch = np.stack([X[:8, :120], X[8:16, :120]])
    assert np.abs(M.kalman_mvar_numpy(batch, cfg) - M.kalman_mvar(batch, cfg)).max() < 1e-8


def test_stationary_dtf_agrees_with_spectral_connectivity(baccala_data):
    """Cross-check against an independent DTF (Eden-Kramer lab's spectral_connectivity: multitaper
    spectra, Wilson factorisation; pinned in requirements.txt)."""
    import spectral_connectivity as sc

    W, X = baccala_data
    m = sc.Multitaper(X.transpose(1, 0, 2), sampling_frequency=SF, time_halfbandwidth_product=4)
    c = sc.Connectivity.from_multitaper(m)
    dtf = np.squeeze(c.directed_transfer_function())  # (F, n, n), [target, source]
    f = c.frequencies
    keep = (f > 2) & (f < 45)
    ours = A.dtf_analytic(W, f[keep], SF)  # the analytic DTF of the true VAR
    assert np.abs(ours - dtf[keep]).mean() < 0.03  # measured: 0.009 (nonparametric)


# ---------------------------------------------------------------- null-calibrated statistics
def test_null_threshold_is_the_exact_max_statistic_quantile():
    B = importlib.import_module("neurovis.audiovisual.bench")
    stats = np.arange(1.0, 51.0)  # 50 null replicates
    assert B.threshold_from_null(stats, 0.05) == 49.0  # ceil(51 * 0.95) = 49th smallest
    assert B.leave_one_out_fwer(stats, 0.05) == pytest.approx(2 / 50)
    with pytest.raises(ValueError, match="null replicates"):
        B.threshold_from_null(stats[:10], 0.05)


def test_the_calibration_record_round_trips_through_the_shared_tuning_store(tmp_path, monkeypatch):
    B = importlib.import_module("neurovis.audiovisual.bench")
    monkeypatch.setenv("NEUROVIS_RESULTS_DIR", str(tmp_path))
    rec = {"threshold": 0.08, "n_replicates": 50, "replicates": [{"seed": 10_000}]}
    path = B.save_tuning(rec, duration_s=12.5)
    back = B.load_tuning()
    assert path == tmp_path / "05_audiovisual.tuning.json" and back["threshold"] == 0.08
    assert back["kind"] == "tuning" and back["provenance"]["code_scope"] == "package"
    assert back["provenance"]["duration_s"] == 12.5


def test_run_statistic_and_calibrated_network_on_a_hand_made_case():
    times = np.arange(-10, 40) * 0.01
    S, n = 6, 3
    theta = np.full((S, len(times), n, n), 0.2)
    theta[:, :, 1, 0] += 0.3  # tonic: present before the stimulus
    theta[:, times >= 0.15, 2, 0] += 0.1  # appears at 150 ms
    theta[:, (times >= 0.2) & (times < 0.22), 0, 2] += 0.5  # a 20 ms blip: too short
    g = av.baseline_change(theta, times).mean(0)
    assert av.run_statistic(g, times, 0.04) == pytest.approx(0.1)
    out = av.calibrated_network(theta, times, threshold=0.05)
    assert out["onsets"][2, 0] == pytest.approx(0.15)
    assert np.isnan(out["onsets"][1, 0]) and np.isnan(out["onsets"][0, 2])
    assert np.isnan(av.calibrated_network(theta, times, threshold=0.1 + 1e-9)["onsets"][2, 0])


def test_the_eight_condition_plants_and_the_null_plant():
    assert len(av.CONDITIONS) == 8 and len(set(av.CONDITIONS)) == 8
    short, long_ = av.PlantedNetwork.condition("short"), av.PlantedNetwork.condition("long")
    assert short.onsets[("V1", "STG")] < short.onsets[("A1", "STG")] < short.onsets[("STG", "TPJ")]
    assert long_.onsets[("A1", "STG")] < long_.onsets[("V1", "STG")] < long_.onsets[("STG", "TPJ")]
    null = av.PlantedNetwork.null()
    assert not null.truth_matrix().any()
    on = np.full((4, 4), np.nan)
    on[3, 0] = 0.3
    s = av.score_network(null, on)
    assert np.isnan(s["recall"]) and s["false_edges"] == 1
    with pytest.raises(ValueError, match="soa"):
        av.PlantedNetwork.condition("medium")


# ---------------------------------------------------------------- behaviour (Section 3.1)
def test_exclusion_rules_on_a_hand_made_table():
    t = pd.DataFrame(
        {
            "subject": 0,
            "field": "LVF",
            "validity": "valid",
            "soa": "long",
            "rt": [150.0, 250.0, 950.0, 300.0, 200.0],
            "correct": [True, True, True, False, True],
        }
    )
    kept, counts = av.exclude_trials(t)
    assert kept["rt"].tolist() == [250.0, 200.0]
    assert counts == {"errors": 1, "rt < 200 ms": 1, "rt > 900 ms": 1, "kept": 2, "total": 5}
    with pytest.raises(ValueError, match="missing columns"):
        av.exclude_trials(t.drop(columns="soa"))


def test_anova_finds_the_planted_soa_by_validity_interaction():
    trials = av.simulate_trials(
        av.BehaviourConfig(n_subjects=15, trials_per_cell=20), np.random.default_rng(0)
    )
    means = av.condition_means(av.exclude_trials(trials)[0])
    table = av.rm_anova(means)
    assert table.loc["validity x soa", "p"] < 0.01 and table.loc["validity x soa", "df2"] == 14
    tests = av.paired_tests(means).set_index("comparison")
    assert tests.loc["siv vs sv", "difference (ms)"] > 0 and tests.loc["siv vs sv", "p"] < 0.05


# ---------------------------------------------------------------- fMRI GLM (Section 2.6)
def test_first_level_glm_recovers_a_planted_activation():
    import nibabel as nib
    from neurovis.audiovisual import fmri

    aff = np.array([[3.0, 0, 0, -98], [0, 3, 0, -134], [0, 0, 3, -72], [0, 0, 0, 1]])
    centre = np.array([45, -21, 12])  # rA1 (Table 1, LVF)
    ijk = np.round(np.linalg.solve(aff[:3, :3], centre - aff[:3, 3])).astype(int)
    m = np.zeros((67, 79, 64), np.uint8)
    m[ijk[0] - 4 : ijk[0] + 5, ijk[1] - 4 : ijk[1] + 5, ijk[2] - 3 : ijk[2] + 4] = 1
    mask = nib.Nifti1Image(m, aff)
    cfg = fmri.FMRIConfig(smoothing_fwhm=0.0)
    img, events, conf = fmri.simulate_bold(cfg, np.random.default_rng(0), mask)
    eff = fmri.first_level(img, events, conf, mask, cfg)
    lvf, rvf = eff["LVF"].get_fdata(), eff["RVF"].get_fdata()
    core = tuple(slice(c - 1, c + 2) for c in ijk)  # 3x3x3 voxels at the ROI
    edge = (
        slice(ijk[0] - 4, ijk[0] - 2),
        slice(ijk[1] - 4, ijk[1] - 2),
        slice(ijk[2] - 3, ijk[2] + 4),
    )
    inside = lvf[core].mean()
    assert inside > 3 * abs(lvf[edge].mean()) and inside > 3 * abs(rvf[core].mean())
    with pytest.raises(ValueError, match="trial_type"):
        fmri.first_level(img, events.drop(columns="trial_type"), conf, mask, cfg)


# ---------------------------------------------------------------- EEG forward/inverse (Eq. 1-3)
@pytest.fixture(scope="module")
def head():
    from neurovis.audiovisual import eeg

    return eeg.make_head_model(grid_mm=10.0)


def test_forward_inverse_round_trip_localises_a_single_dipole(head):
    from neurovis.audiovisual import eeg

    idx = eeg.roi_sources(head, (63, -39, 18), 6)  # rSTG
    assert head.gain.shape == (129, 3 * len(head.positions))
    err = eeg.localize_dipole(head, int(idx[0]), np.random.default_rng(0), "sLORETA")
    assert err < 15.0


def test_rest_operator_keeps_the_average_reference_part(head):
    R = head.rest
    assert R.shape == (129, 129)
    x = np.random.default_rng(0).standard_normal(129)
    avg = lambda v: v - v.mean()
    assert np.allclose(avg(R @ x), avg(x), atol=1e-8)  # REST only changes the reference


def test_preprocess_rejects_wrong_channel_count_and_nan(head):
    import mne
    from neurovis.audiovisual import eeg

    info = mne.create_info(10, 250.0, "eeg")
    raw = mne.io.RawArray(np.zeros((10, 1000)), info, verbose="ERROR")
    with pytest.raises(ValueError, match="channels"):
        eeg.preprocess(raw, np.array([[500, 0, 1]]), head)
    data = np.zeros((129, 1000))
    data[3, 10] = np.nan
    raw = mne.io.RawArray(data, head.info.copy(), verbose="ERROR")
    with pytest.raises(ValueError, match="NaN"):
        eeg.preprocess(raw, np.array([[500, 0, 1]]), head)


def test_orthogonalisation_removes_zero_lag_correlation_and_keeps_scale():
    from neurovis.audiovisual import eeg

    rng = np.random.default_rng(0)
    S = rng.standard_normal((20, 100, 3))
    X = (
        S
        @ np.array([[1.0, 0.4, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
        * np.array([1.0, 3.0, 0.5])
    )
    O = eeg.orthogonalize(X)
    C = np.cov(O.reshape(-1, 3).T)
    assert np.abs(C - np.diag(np.diag(C))).max() < 1e-8 * np.abs(C).max()
    assert np.allclose(np.sqrt(np.diag(C)) / X.reshape(-1, 3).std(0), 1.0, atol=0.2)


def test_the_simulating_head_is_not_the_inverting_head(head):
    from neurovis.audiovisual import eeg

    sim = eeg.make_simulation_head(grid_mm=12.0)
    assert sim.rest is None and sim.info.ch_names == head.info.ch_names
    pos = eeg.mni_to_head((63, -39, 18))
    g_inv = head.gain[:, 3 * int(np.argmin(np.linalg.norm(head.positions - pos, axis=1))) :][:, :3]
    g_sim = sim.gain[:, 3 * int(np.argmin(np.linalg.norm(sim.positions - pos, axis=1))) :][:, :3]
    rel = np.linalg.norm(g_sim - g_inv) / np.linalg.norm(g_inv)
    assert rel > 0.1  # another head, another lead field


def test_lcmv_kernel_localises_a_single_dipole(head):
    from neurovis.audiovisual import eeg

    idx = eeg.roi_sources(head, (63, -39, 18), 6)
    err = eeg.localize_dipole(head, int(idx[0]), np.random.default_rng(0), "LCMV")
    assert err < 20.0


# ---------------------------------------------------------------- data: embedded and BIDS loaders
def test_embedded_sample_eeg_loads():
    ev, cov = av.load_sample_evoked()
    assert set(ev) == {"Left Auditory", "Right Auditory", "Left visual", "Right visual"}
    assert ev["Left visual"].info["nchan"] == 60 and cov.data.shape == (60, 60)


def _write_bids(root):
    import mne
    import nibabel as nib

    (root / "participants.tsv").write_text("participant_id\tage\nsub-01\t21\n")
    beh = root / "sub-01" / "beh"
    beh.mkdir(parents=True)
    pd.DataFrame(
        {
            "field": ["LVF", "RVF"],
            "validity": ["valid", "invalid"],
            "soa": ["long", "short"],
            "rt": [250.0, "n/a"],
            "correct": [1, 0],
        }
    ).to_csv(beh / "sub-01_task-avcue_beh.tsv", sep="\t", index=False)
    func = root / "sub-01" / "func"
    func.mkdir(parents=True)
    nib.save(
        nib.Nifti1Image(np.zeros((4, 4, 4, 6), np.float32), np.eye(4)),
        func / "sub-01_task-avcue_bold.nii.gz",
    )
    pd.DataFrame({"onset": [2.0], "duration": [0.0], "trial_type": ["LVF"]}).to_csv(
        func / "sub-01_task-avcue_events.tsv", sep="\t", index=False
    )
    pd.DataFrame(
        np.zeros((6, 6)), columns=["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    ).to_csv(func / "sub-01_task-avcue_desc-confounds_timeseries.tsv", sep="\t", index=False)
    e = root / "sub-01" / "eeg"
    e.mkdir(parents=True)
    raw = mne.io.RawArray(np.zeros((3, 500)), mne.create_info(3, 250.0, "eeg"), verbose="ERROR")
    raw.save(e / "sub-01_task-avcue_eeg.fif", verbose="ERROR")
    pd.DataFrame(
        {"onset": [0.5, 1.0], "trial_type": ["LVF/long/valid", "RVF/short/invalid"]}
    ).to_csv(e / "sub-01_task-avcue_events.tsv", sep="\t", index=False)


def test_bids_loaders_read_a_tiny_fixture(tmp_path):
    _write_bids(tmp_path)
    root = av.paper_root(tmp_path)
    beh = av.load_behaviour(root)
    assert beh["correct"].tolist() == [True, False] and np.isnan(beh["rt"].iloc[1])
    img, events, conf = av.load_fmri_run(root, "sub-01")
    assert img.shape == (4, 4, 4, 6) and list(events.trial_type) == ["LVF"] and conf.shape == (6, 6)
    raw, ev, codes = av.load_eeg_run(root, "sub-01")
    assert ev[:, 0].tolist() == [125, 250] and codes == {
        "LVF/long/valid": 1,
        "RVF/short/invalid": 2,
    }


def test_bids_loaders_name_the_bad_file(tmp_path):
    _write_bids(tmp_path)
    p = tmp_path / "sub-01" / "beh" / "sub-01_task-avcue_beh.tsv"
    pd.read_csv(p, sep="\t").drop(columns="soa").to_csv(p, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"sub-01_task-avcue_beh\.tsv.*soa"):
        av.load_behaviour(tmp_path)
    (tmp_path / "sub-01" / "eeg" / "sub-01_task-avcue_eeg.fif").unlink()
    with pytest.raises(DataNotFoundError, match="no EEG recording"):
        av.load_eeg_run(tmp_path, "sub-01")


def test_paper_scale_without_data_raises_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NEUROVIS_DATA_ROOT", raising=False)
    with pytest.raises(DataNotFoundError, match="participants.tsv"):
        av.paper_root(None)
    with pytest.raises(DataNotFoundError, match="missing"):
        av.paper_root(tmp_path)


def _write_eeg_study(root, head, n_subjects=3, per_condition=6, seed=0):
    """A 3-subject BIDS EEG study (GSN-129 .fif at 250 Hz, events.tsv with the 8 conditions)."""
    import mne

    rng = np.random.default_rng(seed)
    subs = [f"sub-{i + 1:02d}" for i in range(n_subjects)]
    (root / "participants.tsv").write_text("participant_id\n" + "\n".join(subs) + "\n")
    labels = [c for c in av.CONDITIONS for _ in range(per_condition)]
    onsets = 1.0 + 1.8 * np.arange(len(labels))
    n = int((onsets[-1] + 2.0) * 250)
    for sub in subs:
        e = root / sub / "eeg"
        e.mkdir(parents=True)
        data = rng.standard_normal((129, n)) * 2e-6
        raw = mne.io.RawArray(data, head.info.copy(), verbose="ERROR")
        raw.save(e / f"{sub}_task-avcue_eeg.fif", verbose="ERROR")
        order = rng.permutation(len(labels))
        pd.DataFrame({"onset": onsets, "trial_type": ["/".join(labels[k]) for k in order]}).to_csv(
            e / f"{sub}_task-avcue_events.tsv", sep="\t", index=False
        )
    return subs


def test_paper_path_runs_recorded_eeg_of_three_subjects_end_to_end(tmp_path, head):
    from neurovis.audiovisual import eeg

    subs = _write_eeg_study(tmp_path, head)
    root = av.paper_root(tmp_path)
    assert av.list_subjects(root) == subs
    study = eeg.recorded_study(root, subs, head, av.TABLE1, av.CONDITIONS, av.NODES, method="LCMV")
    assert set(study.X) == set(av.CONDITIONS)
    for c, X in study.X.items():
        assert X.shape == (3, 6, 301, 4) and np.isfinite(X).all()
    fit = av.change_network(
        study.X[av.CONDITIONS[0]], study.times, study.sfreq, threshold=0.5, order=2
    )
    assert fit["theta"].shape[:1] == (3,) and fit["significant"].shape[1:] == (4, 4)
    assert not np.isfinite(fit["onsets"]).any()  # noise only: no edge passes 0.5
    bad = tmp_path / subs[1] / "eeg" / f"{subs[1]}_task-avcue_events.tsv"
    ev = pd.read_csv(bad, sep="\t")
    ev = ev[ev.trial_type != "RVF/long/invalid"]
    ev.to_csv(bad, sep="\t", index=False)
    with pytest.raises(ValueError, match="RVF/long/invalid"):
        eeg.recorded_study(root, subs, head, av.TABLE1, av.CONDITIONS, av.NODES)
