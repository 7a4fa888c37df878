"""EEG forward model, simulation, preprocessing (Section 2.7) and the normalised minimum-norm
source estimate (Section 2.8, Eq. 1-3), all with mne.

Head model: the 129-channel GSN-HydroCel net (the paper's net, shipped with mne) on a 3-layer
spherical head (brain, skull, scalp; conductivities 0.33 / 0.0042 / 0.33 S/m) fitted to the net,
with a volume source grid. MNI coordinates go to the head frame through fsaverage's MRI<->head
transform (shipped with mne): fsaverage's MRI space is MNI305, within a few mm of MNI152.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "condition_label",
    "RecordedStudy",
    "recorded_study",
    "SIMULATION_HEAD",
    "make_simulation_head",
    "orthogonalize",
    "RealNetwork",
    "real_evoked_network",
    "EEGStudy",
    "simulate_study",
    "HeadModel",
    "make_head_model",
    "mni_to_head",
    "roi_sources",
    "simulate_subject_raw",
    "preprocess",
    "inverse_kernel",
    "roi_time_courses",
    "localize_dipole",
    "ABS_REJECT_UV",
]

ABS_REJECT_UV = 75.0


from .mvar import one_thread  # noqa: E402


def _mne():
    import mne

    mne.set_log_level("ERROR")
    return mne


@dataclass
class HeadModel:
    info: object
    sphere: object
    src: object
    fwd: object
    mni_to_head: np.ndarray  # (4, 4), metres
    rest: np.ndarray = None  # (channels, channels) REST re-referencing operator

    @property
    def positions(self) -> np.ndarray:
        """Source grid positions in the head frame (m): (n_sources, 3)."""
        return self.fwd["source_rr"]

    @property
    def gain(self) -> np.ndarray:
        """Free-orientation lead field A of Eq. 2: (n_channels, 3 * n_sources), V / (A m)."""
        return self.fwd["sol"]["data"]


def _fsaverage_mni_to_head() -> np.ndarray:
    mne = _mne()
    trans = mne.read_trans(Path(mne.__file__).parent / "data" / "fsaverage" / "fsaverage-trans.fif")
    head_to_mri = trans["trans"] if trans["from"] == 4 else np.linalg.inv(trans["trans"])
    return np.linalg.inv(head_to_mri)


def mni_to_head(coords_mm, transform: np.ndarray | None = None) -> np.ndarray:
    """MNI coordinates (mm, (..., 3)) -> head-frame positions (m)."""
    T = _fsaverage_mni_to_head() if transform is None else transform
    c = np.asarray(coords_mm, dtype=float) / 1000.0
    return c @ T[:3, :3].T + T[:3, 3]


@one_thread
def make_head_model(
    info=None,
    sfreq: float = 250.0,
    grid_mm: float = 7.0,
    montage: str = "GSN-HydroCel-129",
    sphere_radii=(0.90, 0.92, 1.0),
    sigmas=(0.33, 0.0042, 0.33),
    rest: bool = True,
) -> HeadModel:
    """Montage, 3-layer sphere head, volume source space and forward model (the A of Eq. 2), and
    the REST operator. ``info``: use these channels and positions (e.g. the real recording's).
    ``rest=False`` skips the REST operator (a head that only simulates)."""
    mne = _mne()
    if info is None:
        mont = mne.channels.make_standard_montage(montage)
        info = mne.create_info(mont.ch_names, sfreq, "eeg")
        info.set_montage(mont)
    else:
        info = mne.pick_info(info, mne.pick_types(info, eeg=True, meg=False, exclude="bads"))
    sphere = mne.make_sphere_model("auto", "auto", info, relative_radii=sphere_radii, sigmas=sigmas)
    src = mne.setup_volume_source_space(pos=grid_mm, sphere=sphere, exclude=15.0)
    fwd = mne.make_forward_solution(info, None, src, sphere, eeg=True, meg=False)
    if not rest:
        return HeadModel(info, sphere, src, fwd, _fsaverage_mni_to_head(), None)
    # REST (Yao, 2001) is linear in the data (column j of the operator = the re-referenced unit
    # impulse at channel j), so it is applied as a matrix to every subject;
    # mne builds it once, on an identity recording, with a coarse (15 mm) dipole layer.
    coarse = mne.setup_volume_source_space(pos=15.0, sphere=sphere, exclude=15.0)
    rest_fwd = mne.make_forward_solution(info, None, coarse, sphere, eeg=True, meg=False)
    eye = mne.io.RawArray(np.eye(info["nchan"]), info.copy(), verbose="ERROR")
    eye.set_eeg_reference("REST", forward=rest_fwd, verbose="ERROR")
    return HeadModel(info, sphere, src, fwd, _fsaverage_mni_to_head(), eye.get_data())


def roi_sources(head: HeadModel, coord_mm, radius_mm: float) -> np.ndarray:
    """Indices of the grid sources within ``radius_mm`` of an MNI coordinate (at least the
    nearest)."""
    pos = mni_to_head(coord_mm, head.mni_to_head)
    d = np.linalg.norm(head.positions - pos, axis=1)
    idx = np.where(d <= radius_mm / 1000.0)[0]
    return idx if len(idx) else np.array([int(np.argmin(d))])


def _blink_topography(info) -> np.ndarray:
    pos = np.array([info["chs"][i]["loc"][:3] for i in range(info["nchan"])])
    w = np.exp(-np.sum((pos - np.array([0.0, 0.11, -0.01])) ** 2, axis=1) / (2 * 0.04**2))
    return w / w.max()


# The head that SIMULATES differs from the head that INVERTS (no inverse crime): other relative
# radii (a thicker skull), a brain/skull conductivity ratio of 50 instead of 80 and a scalp of
# 0.43 S/m (the spread of published values), and a 6 mm source grid whose points are not the 7 mm
# grid's, so that no simulated dipole sits on an inverse grid point.
SIMULATION_HEAD = {
    "sphere_radii": (0.87, 0.92, 1.0),
    "sigmas": (0.33, 0.0066, 0.43),
    "grid_mm": 6.0,
}


def make_simulation_head(info=None, **overrides) -> HeadModel:
    """The head that simulates the EEG (``SIMULATION_HEAD``, see there); no REST operator."""
    return make_head_model(info=info, rest=False, **{**SIMULATION_HEAD, **overrides})


def orthogonalize(X: np.ndarray, n_iter: int = 100, tol: float = 1e-10) -> np.ndarray:
    """Symmetric multivariate leakage correction (Colclough et al., 2015, NeuroImage 117): the
    set of mutually orthogonal ROI time courses closest (least squares) to the given ones, each
    keeping its own scale. Removes every zero-lag correlation between ROIs, which is what the
    inverse's spatial leakage adds; lagged (causal) structure stays.

    X: (trials, T, n) of one subject (all trials and samples pooled). Returns the same shape."""
    X = np.asarray(X, dtype=float)
    K, T, n = X.shape
    Z = X.reshape(-1, n)
    Z = Z - Z.mean(axis=0)
    d = np.ones(n)
    for _ in range(n_iter):
        u, _, vt = np.linalg.svd(Z * d, full_matrices=False)
        O = u @ vt
        d_new = np.einsum("ij,ij->j", Z, O)
        if np.max(np.abs(d_new - d)) <= tol * np.max(np.abs(d_new)):
            d = d_new
            break
        d = d_new
    return (O * d).reshape(K, T, n)


@one_thread
def simulate_subject_raw(
    head: HeadModel,
    sources: np.ndarray,
    roi_idx: list,
    rng: np.random.Generator,
    times: np.ndarray,
    moment_nAm: float = 30.0,
    n_background: int = 150,
    background_nAm: float = 5.0,
    sensor_noise_uV: float = 1.0,
    blink_rate: float = 0.08,
    blink_uV: float = 200.0,
    gap_s: float = 0.6,
    equal_scalp_power: bool = True,
):
    """Continuous scalp EEG of one subject: ROI sources + brain background + sensor noise + blinks.

    sources: (trials, T, n_roi) unit-variance ROI activity (the planted network, e.g. from
    :func:`network.simulate_sources`); roi_idx: source-grid indices per ROI (the first is the
    dipole's site); each ROI's activity is scaled to unit standard deviation, then to
    ``moment_nAm``. Each ROI dipole gets a random fixed orientation; ``n_background`` random grid
    dipoles carry AR(1) (1/f-like) activity. Trials are laid end to end with ``gap_s`` between
    them. Returns (mne.io.RawArray in volts, events (trials, 3), blink flags (trials,)).
    """
    mne = _mne()
    K, T, n = sources.shape
    sfreq = head.info["sfreq"]
    G = head.gain
    n_ch = G.shape[0]
    gap = int(round(gap_s * sfreq))
    pre = int(round(-times[0] * sfreq))
    L = K * (T + gap) + gap
    data = np.zeros((n_ch, L))
    ori = rng.standard_normal((n, 3))
    ori /= np.linalg.norm(ori, axis=1, keepdims=True)
    sources = sources / sources.std(axis=(0, 1), keepdims=True).clip(1e-12)
    Groi = np.stack(
        [G[:, 3 * idx[0] : 3 * idx[0] + 3] @ ori[k] for k, idx in enumerate(roi_idx)], axis=1
    )
    if equal_scalp_power:  # deep ROIs (A1) get larger moments: every node reaches the scalp alike
        norms = np.linalg.norm(Groi, axis=0)
        Groi = Groi / norms * norms.mean()
    onsets = gap + np.arange(K) * (T + gap)
    for k in range(K):
        data[:, onsets[k] : onsets[k] + T] += Groi @ sources[k].T * moment_nAm * 1e-9
    # brain background: random sites, random orientations, AR(1) with coefficient 0.95
    bg = rng.choice(len(head.positions), n_background, replace=False)
    bori = rng.standard_normal((n_background, 3))
    bori /= np.linalg.norm(bori, axis=1, keepdims=True)
    Gbg = np.stack([G[:, 3 * s : 3 * s + 3] @ bori[i] for i, s in enumerate(bg)], axis=1)
    from scipy.signal import lfilter

    act = lfilter(
        [np.sqrt(1 - 0.95**2)], [1, -0.95], rng.standard_normal((n_background, L)), axis=1
    )
    data += Gbg @ act * background_nAm * 1e-9
    data += rng.standard_normal(data.shape) * sensor_noise_uV * 1e-6
    blinks = rng.random(K) < blink_rate
    topo = _blink_topography(head.info)
    bump = np.exp(-0.5 * ((np.arange(T) - T / 2) / (0.08 * sfreq)) ** 2)
    for k in np.where(blinks)[0]:
        data[:, onsets[k] : onsets[k] + T] += np.outer(topo, bump) * blink_uV * 1e-6
    raw = mne.io.RawArray(data, head.info.copy(), verbose="ERROR")
    events = np.column_stack([onsets + pre, np.zeros(K, int), np.ones(K, int)])
    return raw, events, blinks


@one_thread
def preprocess(
    raw,
    events,
    head: HeadModel,
    tmin: float = -0.2,
    tmax: float = 1.0,
    l_freq: float = 0.1,
    h_freq: float = 30.0,
    reject_uV: float = ABS_REJECT_UV,
    reference: str = "REST",
):
    """Section 2.7: 0.1-30 Hz band-pass, REST re-reference (Yao's reference electrode
    standardisation, through the forward model), epochs -200..1000 ms with the 200 ms pre-stimulus
    baseline removed, and rejection of epochs where any channel exceeds +-``reject_uV`` µV.

    The filter runs on the continuous recording (a 0.1 Hz high-pass cannot act inside a 1.2 s
    epoch). Returns (mne.Epochs, kept mask (trials,)).
    """
    mne = _mne()
    if raw.info["nchan"] != head.info["nchan"]:
        raise ValueError(
            f"raw has {raw.info['nchan']} channels but the head model has {head.info['nchan']}; "
            "build the head model from this recording's info"
        )
    if np.isnan(raw.get_data()).any():
        raise ValueError("raw: contains NaN samples; interpolate or drop those segments first")
    raw = raw.copy().filter(l_freq, h_freq, fir_design="firwin", verbose="ERROR")
    if reference == "REST":
        raw = mne.io.RawArray(head.rest @ raw.get_data(), raw.info, verbose="ERROR")
    elif reference == "average":
        raw.set_eeg_reference("average", projection=False, verbose="ERROR")
    else:
        raise ValueError(f"reference must be 'REST' or 'average', got {reference!r}")
    epochs = mne.Epochs(
        raw,
        events,
        tmin=tmin,
        tmax=tmax,
        baseline=(None, 0),
        preload=True,
        reject=None,
        verbose="ERROR",
    )
    if len(epochs.times) < 50:
        raise ValueError(
            f"epochs of {len(epochs.times)} samples ({tmin}..{tmax} s) are too short for the ADTF"
        )
    x = epochs.get_data()
    bad = np.abs(x).max(axis=(1, 2)) > reject_uV * 1e-6
    epochs.drop(np.where(bad)[0], reason=f"abs > {reject_uV} uV", verbose="ERROR")
    return epochs, ~bad


@one_thread
def inverse_kernel(
    epochs, head: HeadModel, method: str = "sLORETA", snr: float = 3.0, depth: float = 0.8, cov=None
):
    """The linear inverse w of Eq. 1-2 as a matrix: source (3 per grid point) x channels.

    Eq. 2, w = C_s A^T (A C_s A^T + mu^2 C_n)^{-1}, is mne's minimum-norm kernel with the noise
    covariance C_n estimated from the pre-stimulus baseline, C_s the depth-weighted source prior and
    mu^2 = lambda2 = 1 / snr^2 (Eq. 3). ``method="sLORETA"`` (default) normalises each source by the
    diagonal of the resolution matrix: of MNE's normalised minimum-norm variants it is the one with
    the depth accuracy the paper credits to "normalised MNE" (zero localisation bias for a single
    noiseless dipole; the chapter's round trip measures it). "dSPM" (noise-normalised) and plain
    "MNE" are the alternatives (ablation); "LCMV" is a unit-noise-gain vector beamformer
    (mne.beamformer), the leakage-reducing alternative to the minimum norm. The kernel is read out
    by applying the inverse to an identity "evoked" (the estimate is linear in the data). ``cov``: a
    given noise covariance (e.g. the recording's) instead of the baseline estimate.
    """
    mne = _mne()
    from mne.minimum_norm import apply_inverse, make_inverse_operator

    # mne's inverse needs the average-reference projector. The minimum-norm estimate does not
    # depend on the reference once data and lead field share one, so the (REST-referenced) samples
    # are handed over with a fresh info carrying the average-reference projector.
    info = mne.create_info(epochs.ch_names, epochs.info["sfreq"], "eeg")
    info.set_montage(epochs.get_montage())
    epochs = mne.EpochsArray(epochs.get_data(), info, tmin=epochs.tmin, verbose="ERROR")
    epochs.set_eeg_reference("average", projection=True, verbose="ERROR")
    if cov is None:
        cov = mne.compute_covariance(epochs, tmax=0.0, method="empirical", verbose="ERROR")
    n = epochs.info["nchan"]
    eye = mne.EvokedArray(np.eye(n), epochs.info, tmin=0.0, nave=1, verbose="ERROR")
    if method == "LCMV":  # unit-noise-gain vector beamformer (data covariance of the whole epoch)
        from mne.beamformer import apply_lcmv, make_lcmv

        data_cov = mne.compute_covariance(epochs, method="empirical", verbose="ERROR")
        filters = make_lcmv(
            epochs.info,
            head.fwd,
            data_cov,
            reg=0.05,
            noise_cov=cov,
            pick_ori="vector",
            weight_norm="unit-noise-gain-invariant",
            rank=None,
            verbose="ERROR",
        )
        return apply_lcmv(eye, filters, verbose="ERROR").data.reshape(-1, n)
    inv = make_inverse_operator(epochs.info, head.fwd, cov, loose=1.0, depth=depth, verbose="ERROR")
    stc = apply_inverse(
        eye, inv, lambda2=1.0 / snr**2, method=method, pick_ori="vector", verbose="ERROR"
    )
    return stc.data.reshape(-1, n)  # (3 * n_sources, n_channels), rows x/y/z per source


@one_thread
def roi_time_courses(epochs, kernel: np.ndarray, roi_idx: list) -> np.ndarray:
    """ROI source waveforms (trials, T, n_roi): per ROI, the first principal component of the
    vector estimates of its grid sources (all trials pooled), signed to correlate positively with
    the ROI's summed activity."""
    x = epochs.get_data()  # (K, C, T)
    K, C, T = x.shape
    out = np.zeros((K, T, len(roi_idx)))
    for r, idx in enumerate(roi_idx):
        rows = np.concatenate([np.arange(3 * i, 3 * i + 3) for i in idx])
        s = kernel[rows] @ x  # (K, 3m, T)
        flat = s.transpose(1, 0, 2).reshape(len(rows), -1)
        flat = flat - flat.mean(axis=1, keepdims=True)
        u, _, _ = np.linalg.svd(flat, full_matrices=False)
        tc = u[:, 0] @ s
        if np.sum(tc * s.sum(axis=1)) < 0:
            tc = -tc
        out[:, :, r] = tc
    return out


def localize_dipole(
    head: HeadModel,
    source_index,
    rng: np.random.Generator,
    method: str = "sLORETA",
    noise_uV: float = 0.5,
    n_trials: int = 30,
):
    """Forward/inverse round trip: one dipole (random orientation, 8 Hz burst after t = 0) at grid
    point ``source_index`` -> scalp + white noise -> inverse -> distance (mm) from the true site to
    the peak of the estimated source power. ``source_index`` may be a list: one inverse serves all
    (the noise covariance comes from noise-only epochs); then a list of distances is returned."""
    mne = _mne()
    many = np.ndim(source_index) > 0
    idx = list(np.atleast_1d(source_index))
    G = head.gain
    sfreq = head.info["sfreq"]
    T = 150
    t = np.arange(T) / sfreq - 0.2
    noise = lambda: rng.standard_normal((n_trials, G.shape[0], T)) * noise_uV * 1e-6
    base = mne.EpochsArray(noise(), head.info.copy(), tmin=-0.2, verbose="ERROR")
    K = inverse_kernel(base, head, method=method)
    wave = np.where(t > 0, np.sin(2 * np.pi * 8 * t), 0.0) * 20e-9
    out = []
    for si in idx:
        ori = rng.standard_normal(3)
        ori /= np.linalg.norm(ori)
        x = (G[:, 3 * si : 3 * si + 3] @ ori)[None, :, None] * wave[None, None, :] + noise()
        ev = x.mean(axis=0)
        ev = (ev - ev.mean(axis=0, keepdims=True))[:, t > 0]
        power = ((K @ ev) ** 2).reshape(-1, 3, ev.shape[1]).sum(axis=(1, 2))
        out.append(
            float(np.linalg.norm(head.positions[np.argmax(power)] - head.positions[si]) * 1000)
        )
    return out if many else out[0]


@dataclass
class EEGStudy:
    """ROI source waveforms of a simulated group: X (subjects, trials, T, n_roi), the epoch times,
    the trials kept per subject after the +-75 µV rejection and the blink trials planted."""

    X: np.ndarray
    times: np.ndarray
    sfreq: float
    kept: np.ndarray
    blinks: np.ndarray
    evoked: object = None
    truth_corr: np.ndarray = None


def simulate_study(
    head: HeadModel,
    net,
    rois: dict,
    n_subjects: int,
    n_trials: int,
    rng: np.random.Generator,
    gains=None,
    method: str = "sLORETA",
    tmin: float = -0.2,
    tmax: float = 1.0,
    reference: str = "REST",
    n_cov_subjects: int = 3,
    sim_head: HeadModel | None = None,
    sim_rois: dict | None = None,
    leakage: str = "orthogonalize",
) -> EEGStudy:
    """Stage 3 on a simulated group: planted TV-MVAR at the ROI sites -> scalp EEG (with brain
    noise, sensor noise and blinks) -> Section 2.7 preprocessing -> normalised MNE -> ROI waveforms.

    ``sim_head``/``sim_rois``: the head and the true ROI sites {node: ((x, y, z) MNI mm, size)} that
    SIMULATE (each planted dipole at the grid point nearest its site); ``head``/``rois``: the head
    and the ROIs (e.g. the fMRI peaks the GLM recovered) that INVERT. Passing the same head for
    both is the inverse crime (the default, kept for tests only). ``leakage``: "orthogonalize"
    (symmetric orthogonalisation of every subject's ROI waveforms, :func:`orthogonalize`) or
    "none". gains: per-subject multipliers of the STG<->TPJ couplings (default 1). One inverse
    operator serves the group (template head), with the noise covariance of the first
    ``n_cov_subjects`` subjects' baselines. Every subject keeps the same number of trials (the
    smallest count after rejection) so the Kalman filter can batch.
    """
    from .network import simulate_sources

    if leakage not in ("orthogonalize", "none"):
        raise ValueError(f"leakage must be 'orthogonalize' or 'none', got {leakage!r}")
    mne = _mne()
    sim_head = head if sim_head is None else sim_head
    sim_rois = rois if sim_rois is None else sim_rois
    sfreq = head.info["sfreq"]
    times = np.arange(int(round(tmin * sfreq)), int(round(tmax * sfreq)) + 1) / sfreq
    idx = [roi_sources(head, rois[nm][0], rois[nm][1]) for nm in net.nodes]
    sim_idx = [roi_sources(sim_head, sim_rois[nm][0], 0.0) for nm in net.nodes]
    gains = np.ones(n_subjects) if gains is None else np.asarray(gains, dtype=float)
    epochs_all, kept_all, blinks_all, src_all = [], [], [], []
    for s in range(n_subjects):
        src = simulate_sources(net, times, sfreq, n_trials, rng, gain=gains[s])
        raw, events, blinks = simulate_subject_raw(sim_head, src, sim_idx, rng, times)
        epochs, kept = preprocess(raw, events, head, tmin=tmin, tmax=tmax, reference=reference)
        epochs_all.append(epochs)
        kept_all.append(int(kept.sum()))
        blinks_all.append(int(blinks.sum()))
        src_all.append(src[kept])
    if min(kept_all) < 10:
        raise ValueError(
            f"after rejection a subject kept only {min(kept_all)} trials; raise n_trials"
        )
    kernel = inverse_kernel(
        mne.concatenate_epochs(epochs_all[:n_cov_subjects], verbose="ERROR"), head, method=method
    )
    k = min(kept_all)
    X = np.stack([roi_time_courses(ep[:k], kernel, idx) for ep in epochs_all])
    if leakage == "orthogonalize":
        X = np.stack([orthogonalize(x) for x in X])
    corr = np.array(
        [
            [
                abs(np.corrcoef(X[s, :, :, r].ravel(), src_all[s][:k, :, r].ravel())[0, 1])
                for r in range(len(idx))
            ]
            for s in range(n_subjects)
        ]
    )
    evoked = epochs_all[0].average()
    return EEGStudy(X, times, sfreq, np.array(kept_all), np.array(blinks_all), evoked, corr)


@dataclass
class RealNetwork:
    """ADTF of one real evoked response: theta (times, n, n), surrogate threshold (times, n, n),
    significant (times, n, n), onsets (n, n; s), ROI waveforms (T, n), times (s)."""

    theta: np.ndarray
    threshold: np.ndarray
    significant: np.ndarray
    onsets: np.ndarray
    waveforms: np.ndarray
    wave_times: np.ndarray
    times: np.ndarray
    order: int


def real_evoked_network(
    evoked,
    cov,
    head: HeadModel,
    rois: dict,
    nodes,
    rng,
    kalman_uc: float = 0.02,
    n_surrogates: int = 50,
    window=(-0.1, 0.45),
    sfreq: float = 250.0,
    max_order: int = 4,
    method: str = "sLORETA",
) -> RealNetwork:
    """Stages 3-4 on one real averaged response (the paper also fits the ERP): resample to 250 Hz,
    0.1-30 Hz band, normalised MNE with the recording's noise covariance, ROI waveforms, ADTF with
    a BIC-chosen order and phase-randomised surrogates (a single subject: no group test, an edge
    is significant where theta exceeds the Bonferroni surrogate quantile)."""
    from .adtf import ADTFConfig, adtf_with_surrogates, edge_onsets
    from .mvar import KalmanConfig, select_order_bic

    mne = _mne()
    ev = (
        evoked.copy()
        .pick("eeg")
        .filter(None, 30.0, verbose="ERROR")
        .resample(sfreq, verbose="ERROR")
    )
    epochs = mne.EpochsArray(ev.data[None], ev.info, tmin=ev.times[0], verbose="ERROR")
    kernel = inverse_kernel(epochs, head, method=method, cov=cov)
    idx = [roi_sources(head, rois[nm][0], rois[nm][1]) for nm in nodes]
    X = roi_time_courses(epochs, kernel, idx)  # (1, T, n)
    p, _ = select_order_bic(X / X.std(axis=1, keepdims=True), max_order)
    cfg = ADTFConfig(n_surrogates=n_surrogates, window=window, step=1)
    res = adtf_with_surrogates(X[None], ev.times, sfreq, KalmanConfig(p=p, uc=kalman_uc), cfg, rng)
    sig = res.theta[0] > res.threshold[0]
    sig[:, np.arange(len(nodes)), np.arange(len(nodes))] = False
    return RealNetwork(
        res.theta[0],
        res.threshold[0],
        sig,
        edge_onsets(sig, res.times),
        X[0],
        ev.times,
        res.times,
        p,
    )


def condition_label(condition) -> str:
    """The BIDS trial_type of a condition (field, soa, validity), e.g. "LVF/long/valid"."""
    return "/".join(condition)


@dataclass
class RecordedStudy:
    """ROI waveforms of a recorded group per condition: X {condition: (subjects, trials, T, n)},
    the epoch times, and the trials kept per subject and condition after the ±75 µV rejection."""

    X: dict
    times: np.ndarray
    sfreq: float
    kept: dict


def recorded_study(
    root,
    subjects,
    head: HeadModel,
    rois_by_field: dict,
    conditions,
    nodes,
    method: str = "LCMV",
    tmin: float = -0.2,
    tmax: float = 1.0,
    reference: str = "REST",
    leakage: str = "none",
    min_trials: int = 5,
) -> RecordedStudy:
    """Stage 3 on recorded EEG (scale="paper"): per subject ``load_eeg_run`` (BIDS) -> Section 2.7
    preprocessing -> the subject's inverse (noise covariance from its own baselines) -> ROI
    waveforms of every condition, at the ROIs of the condition's cue field.

    rois_by_field: {"LVF": {node: (MNI mm, size)}, "RVF": ...} (the fMRI peaks). conditions:
    (field, soa, validity) tuples, matched to the events' trial_type "field/soa/validity". The
    head must be built on the recording's channels. Every subject keeps, per condition, the
    smallest number of trials kept by any subject (so the Kalman filter can batch)."""
    from .data import load_eeg_run

    per_cond = {c: [] for c in conditions}
    kept = {c: [] for c in conditions}
    times = None
    for sub in subjects:
        raw, events, codes = load_eeg_run(root, sub)
        raw = raw.copy().pick("eeg")
        if raw.ch_names != head.info.ch_names:
            raise ValueError(
                f"{sub}: EEG channels differ from the head model's ({len(raw.ch_names)} vs "
                f"{len(head.info.ch_names)}); build the head on this recording's info"
            )
        if raw.info["sfreq"] != head.info["sfreq"]:
            raise ValueError(
                f"{sub}: sampling rate {raw.info['sfreq']} Hz, the head model expects "
                f"{head.info['sfreq']} Hz; resample the recording first"
            )
        missing = [condition_label(c) for c in conditions if condition_label(c) not in codes]
        if missing:
            raise ValueError(
                f"{sub}: no events of {missing} in its events.tsv (trial_type 'field/soa/validity')"
            )
        epochs, _ = preprocess(raw, events, head, tmin=tmin, tmax=tmax, reference=reference)
        kernel = inverse_kernel(epochs, head, method=method)
        times = epochs.times
        for c in conditions:
            ep = epochs[np.where(epochs.events[:, 2] == codes[condition_label(c)])[0]]
            if len(ep) < min_trials:
                raise ValueError(
                    f"{sub}, {condition_label(c)}: {len(ep)} trials left after rejection; need at "
                    f"least {min_trials}"
                )
            idx = [
                roi_sources(head, rois_by_field[c[0]][nm][0], rois_by_field[c[0]][nm][1])
                for nm in nodes
            ]
            x = roi_time_courses(ep, kernel, idx)
            per_cond[c].append(orthogonalize(x) if leakage == "orthogonalize" else x)
            kept[c].append(len(ep))
    X = {c: np.stack([x[: min(kept[c])] for x in xs]) for c, xs in per_cond.items()}
    return RecordedStudy(X, times, head.info["sfreq"], {c: np.array(k) for c, k in kept.items()})
