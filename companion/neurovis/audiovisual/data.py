"""Data: the embedded real EEG (MNE's sample auditory/visual evoked responses) and loaders for a
paper-scale data set laid out in BIDS (the paper's own data are not public).

Paper-scale layout under ``data_root`` (BIDS, one task "avcue")::

    participants.tsv
    sub-XX/beh/sub-XX_task-avcue_beh.tsv            field, validity, soa, rt (ms), correct
    sub-XX/func/sub-XX_task-avcue_bold.nii.gz       MNI-normalised BOLD (3 mm)
    sub-XX/func/sub-XX_task-avcue_events.tsv        onset, duration, trial_type (LVF / RVF)
    sub-XX/func/sub-XX_task-avcue_desc-confounds_timeseries.tsv   trans_x..rot_z
    sub-XX/eeg/sub-XX_task-avcue_eeg.{raw,fif,set,vhdr}   GSN-129 EEG (EGI .raw as recorded)
    sub-XX/eeg/sub-XX_task-avcue_events.tsv         onset (s), trial_type (e.g. LVF/long/valid)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..core import embedded_path, require_data_root

__all__ = [
    "EMBEDDED",
    "load_sample_evoked",
    "PAPER_DATASET",
    "PAPER_EXPECTED",
    "HOW_TO_GET",
    "paper_root",
    "list_subjects",
    "load_behaviour",
    "load_fmri_run",
    "load_eeg_run",
]

EMBEDDED = "mne-sample-eeg"
PAPER_DATASET = "Jiang2023 audiovisual cue-target (BIDS)"
PAPER_EXPECTED = ["participants.tsv"]
HOW_TO_GET = (
    "the paper's recordings (Jiang et al., Front. Neurosci. 2023) are not public; ask the authors, "
    "or lay out your own cue-target EEG/fMRI study in BIDS as described in "
    "neurovis.audiovisual.data"
)
TASK = "avcue"
BEH_COLUMNS = ["field", "validity", "soa", "rt", "correct"]


def load_sample_evoked():
    """The embedded real EEG: ({condition: mne.Evoked}, noise mne.Covariance), 60 EEG channels."""
    import mne

    ev = mne.read_evokeds(embedded_path(EMBEDDED, "sample_eeg-ave.fif.gz"), verbose="ERROR")
    cov = mne.read_cov(embedded_path(EMBEDDED, "sample_eeg-cov.fif"), verbose="ERROR")
    return {e.comment: e for e in ev}, cov


def paper_root(data_root) -> Path:
    """The paper-scale data root (DataNotFoundError naming the layout when absent)."""
    return require_data_root(data_root, PAPER_DATASET, PAPER_EXPECTED, HOW_TO_GET)


def list_subjects(root: Path) -> list[str]:
    """Subject labels from participants.tsv (column participant_id, e.g. sub-01)."""
    path = Path(root) / "participants.tsv"
    df = pd.read_csv(path, sep="\t")
    if "participant_id" not in df.columns:
        raise ValueError(f"{path}: needs a participant_id column, got {list(df.columns)}")
    return df["participant_id"].astype(str).tolist()


def _need(path: Path) -> Path:
    if not path.exists():
        from ..core import DataNotFoundError

        raise DataNotFoundError(
            f"{path}: missing (expected by the BIDS layout in neurovis.audiovisual.data)"
        )
    return path


def load_behaviour(root: Path) -> pd.DataFrame:
    """All subjects' trials: subject, field (LVF/RVF), validity (valid/invalid), soa (long/short),
    rt (ms; n/a for misses), correct (bool)."""
    out = []
    for i, sub in enumerate(list_subjects(root)):
        path = _need(Path(root) / sub / "beh" / f"{sub}_task-{TASK}_beh.tsv")
        df = pd.read_csv(path, sep="\t", na_values=["n/a"])
        missing = [c for c in BEH_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}; expected {BEH_COLUMNS}")
        for col, allowed in (
            ("field", {"LVF", "RVF"}),
            ("validity", {"valid", "invalid"}),
            ("soa", {"long", "short"}),
        ):
            bad = set(df[col].unique()) - allowed
            if bad:
                raise ValueError(
                    f"{path}: column {col} has values {sorted(bad)}; expected {sorted(allowed)}"
                )
        df["correct"] = df["correct"].astype(str).str.lower().isin(["1", "true", "yes"])
        df.insert(0, "subject", i)
        out.append(df)
    return pd.concat(out, ignore_index=True)


def load_fmri_run(root: Path, sub: str):
    """(4-D BOLD image, events DataFrame, confounds DataFrame) of one subject."""
    import nibabel as nib

    base = Path(root) / sub / "func"
    img = nib.load(_need(base / f"{sub}_task-{TASK}_bold.nii.gz"))
    if img.ndim != 4:
        raise ValueError(
            f"{base / f'{sub}_task-{TASK}_bold.nii.gz'}: expected a 4-D image, got {img.ndim}-D"
        )
    ev_path = _need(base / f"{sub}_task-{TASK}_events.tsv")
    events = pd.read_csv(ev_path, sep="\t")
    if not {"onset", "duration", "trial_type"} <= set(events.columns):
        raise ValueError(
            f"{ev_path}: needs columns onset, duration, trial_type; got {list(events.columns)}"
        )
    conf = pd.read_csv(_need(base / f"{sub}_task-{TASK}_desc-confounds_timeseries.tsv"), sep="\t")
    motion = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    if not set(motion) <= set(conf.columns):
        raise ValueError(f"{base}: confounds need the six motion columns {motion}")
    if len(conf) != img.shape[-1]:
        raise ValueError(f"{base}: {len(conf)} confound rows for {img.shape[-1]} volumes")
    return img, events, conf[motion]


def load_eeg_run(root: Path, sub: str):
    """(mne Raw, events array (n, 3), event_id {trial_type: code}) of one subject's EEG run.

    The recording may be EGI .raw (as the paper recorded it), .fif, EEGLAB .set or BrainVision;
    mne.io.read_raw reads each. Events come from the BIDS events.tsv (onset in seconds)."""
    import mne

    base = Path(root) / sub / "eeg"
    cands = [
        base / f"{sub}_task-{TASK}_eeg{ext}" for ext in (".raw", ".fif", ".set", ".vhdr", ".mff")
    ]
    found = [c for c in cands if c.exists()]
    if not found:
        from ..core import DataNotFoundError

        raise DataNotFoundError(
            f"{base}: no EEG recording {sub}_task-{TASK}_eeg.(raw|fif|set|vhdr|mff)"
        )
    raw = mne.io.read_raw(found[0], preload=True, verbose="ERROR")
    ev_path = _need(base / f"{sub}_task-{TASK}_events.tsv")
    ev = pd.read_csv(ev_path, sep="\t")
    if not {"onset", "trial_type"} <= set(ev.columns):
        raise ValueError(f"{ev_path}: needs columns onset, trial_type; got {list(ev.columns)}")
    codes = {t: i + 1 for i, t in enumerate(sorted(ev.trial_type.unique()))}
    samples = np.round(ev.onset.to_numpy() * raw.info["sfreq"]).astype(int) + raw.first_samp
    if (samples >= raw.first_samp + raw.n_times).any() or (samples < raw.first_samp).any():
        raise ValueError(
            f"{ev_path}: event onsets fall outside the recording ({raw.times[-1]:.1f} s)"
        )
    events = np.column_stack([samples, np.zeros(len(ev), int), ev.trial_type.map(codes).to_numpy()])
    return raw, events, codes
