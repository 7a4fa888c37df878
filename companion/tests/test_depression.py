"""Specifications of neurovis.depression (HMHN, Li et al. 2023)."""

import math

import numpy as np
import pytest
import torch

from neurovis.core import DataNotFoundError
from neurovis.core.data import DataIntegrityError
from neurovis.depression import analysis
from neurovis.depression.data import (
    REGION_NAMES,
    BenchmarkConfig,
    FaceNotFoundError,
    align_face,
    avec_faces,
    bdi_band,
    bdi_from_cues,
    distractor_sites,
    index_avec,
    load_orl,
    make_benchmark,
    partition_subjects,
    read_bdi_label,
    region_masks,
    render_cues,
)
from neurovis.depression.hmhn import (
    HMHN,
    DeepFeatureFusion,
    GridWiseAttention,
    HMHNConfig,
    grid,
    grid_attention_weights,
    partition_loss,
    ungrid,
)
from neurovis.depression.train import mae, rmse, video_scores

# tiny tensors: more threads only add overhead (and stall on a shared machine)
torch.set_num_threads(1)


# ---------------------------------------------------------------- grid-wise attention (Eq. 1-6)
def test_grid_then_ungrid_is_identity_and_grid_is_row_major():
    x = torch.randn(2, 3, 12, 18)
    g = grid(x, 2, 3)
    assert g.shape == (2, 6, 3, 6, 6)
    assert torch.equal(g[:, 0], x[..., :6, :6])
    assert torch.equal(g[:, 1], x[..., :6, 6:12])  # row-major: next grid to the right
    assert torch.equal(g[:, 3], x[..., 6:, :6])
    assert torch.equal(ungrid(g, 2, 3), x)


def test_grid_rejects_sizes_it_does_not_divide():
    with pytest.raises(ValueError, match="does not divide"):
        grid(torch.zeros(1, 1, 10, 10), 3, 3)
    with pytest.raises(ValueError, match="grid"):
        HMHNConfig(image_size=224, grid=(3, 3))


def test_literal_eq4_softmax_gives_constant_weights_ours_does_not():
    G_hat = torch.randn(2, 9, 4, 5, 5)
    literal = grid_attention_weights(G_hat, "rows")
    assert torch.allclose(literal, torch.full_like(literal, 1 / 5))  # rows sum to 1 -> mean 1/a
    ours = grid_attention_weights(G_hat, "grids")
    assert ours.shape == (2, 9, 4)
    # softmax over grids, times hw
    assert torch.allclose(ours.sum(dim=1), torch.full((2, 4), 9.0))
    assert ours.std() > 0.01


def test_gwa_keeps_shape_and_weights_the_image_per_grid():
    gwa = GridWiseAttention(channels=1, grid_hw=(3, 3))
    x = torch.rand(2, 1, 48, 48) + 0.1
    out, w = gwa(x)
    assert out.shape == x.shape and w.shape == (2, 9, 1)
    ratio = out / x  # constant inside each 16x16 grid (Eq. 5-6)
    assert torch.allclose(ratio[0, 0, :16, :16], w[0, 0, 0].expand(16, 16), atol=1e-5)
    assert torch.allclose(ratio[0, 0, 32:, 16:32], w[0, 7, 0].expand(16, 16), atol=1e-5)


def test_dff_and_mab_output_shapes_and_gradients_reach_every_block():
    dff = DeepFeatureFusion(1, 8)
    assert dff(torch.rand(2, 1, 48, 48), torch.rand(2, 1, 48, 48)).shape == (2, 8, 24, 24)
    model = HMHN(HMHNConfig(widths=(4, 8, 8, 16), num_heads=3))
    out = model(torch.rand(5, 1, 48, 48), return_attention=True)
    assert out["pred"].shape == (5,)
    assert out["heads"].shape == (5, 3, 16) and out["maps"].shape == (5, 3, 6, 6)
    assert (out["maps"] >= 0).all()
    (out["pred"].sum() + partition_loss(out["heads"])).backward()
    for name in (
        "gwa.lgfe.net.0.weight",
        "dff.ft1.0.weight",
        "dff.ft2.0.weight",
        "heads.2.spatial.reduce.0.weight",
        "heads.0.channel.encode.0.weight",
    ):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_ablation_configs_and_paper_preset():
    with pytest.raises(ValueError, match="use_dff"):
        HMHNConfig(use_gwa=False, use_dff=True)
    resnet = HMHN(HMHNConfig(use_gwa=False, use_dff=False, num_heads=0))
    assert resnet(torch.rand(2, 1, 48, 48), return_attention=True)["maps"] is None
    with pytest.raises(ValueError, match="expects"):
        resnet(torch.rand(2, 3, 48, 48))
    cfg = HMHNConfig.paper()
    assert (cfg.in_channels, cfg.widths, cfg.num_heads, cfg.grid) == (
        3,
        (64, 128, 256, 512),
        4,
        (3, 3),
    )


# ---------------------------------------------------------------- partition loss (Eq. 11)
def test_partition_loss_hand_computed():
    heads = torch.tensor([[[0.0, 0.0], [2.0, 4.0]]])  # N=1, k=2, C=2: variances 1 and 4
    expected = (math.log(1 + 2 / 1) + math.log(1 + 2 / 4)) / 2
    assert partition_loss(heads).item() == pytest.approx(expected, rel=1e-6)


def test_partition_loss_larger_for_identical_heads_zero_for_one_head():
    torch.manual_seed(0)
    same = torch.randn(4, 1, 8).expand(4, 3, 8)
    distinct = torch.randn(4, 3, 8)
    assert partition_loss(same) > 5 * partition_loss(distinct)
    assert partition_loss(torch.randn(4, 1, 8)).item() == 0
    with pytest.raises(ValueError, match="N, k, C"):
        partition_loss(torch.randn(4, 8))


# ---------------------------------------------------------------- metrics (Eq. 12-13), bands
def test_mae_rmse_hand_computed_and_video_aggregation():
    assert mae([1, 2, 3], [1, 4, 0]) == pytest.approx(5 / 3)
    assert rmse([1, 2, 3], [1, 4, 0]) == pytest.approx(math.sqrt(13 / 3))
    pred, true = video_scores([10, 20, 5, 7], [0, 0, 1, 1], [12, 12, 6, 6])
    assert pred.tolist() == [15, 6] and true.tolist() == [12, 6]
    with pytest.raises(ValueError):
        mae([1, 2], [1])


def test_bdi_bands_of_table_1():
    assert [bdi_band(s) for s in (0, 13, 14, 19, 20, 28, 29, 63)] == [
        "none or minimal",
        "none or minimal",
        "mild",
        "mild",
        "moderate",
        "moderate",
        "severe",
        "severe",
    ]
    with pytest.raises(ValueError):
        bdi_band(64)


# ---------------------------------------------------------------- faces and cues
@pytest.fixture(scope="module")
def orl_face():
    img = load_orl(images_per_subject=1)["s1"][0]
    face, _ = align_face(img, 96, source="s1/1.pgm")
    return face


def test_face_detection_rejects_a_non_face_with_a_clear_error():
    noise = np.random.default_rng(0).integers(0, 255, (112, 92), dtype=np.uint8)
    with pytest.raises(FaceNotFoundError, match="noise.png: no face found"):
        align_face(noise, source="noise.png")
    with pytest.raises(FaceNotFoundError):
        align_face(np.full((120, 100), 128, np.uint8))


def test_alignment_puts_a_real_face_in_the_canonical_frame(orl_face):
    assert orl_face.shape == (96, 96) and orl_face.dtype == np.float32
    assert 0 <= orl_face.min() and orl_face.max() <= 1 and orl_face.std() > 0.05


def test_cue_strength_is_monotone_and_local_to_its_region(orl_face):
    masks = region_masks(96)
    for r, name in enumerate(REGION_NAMES):
        changes = []
        for c in (0.0, 0.25, 0.5, 0.75, 1.0):
            s = np.zeros(4)
            s[r] = c
            changes.append(np.abs(render_cues(orl_face, s) - orl_face))
        energy = [d.sum() for d in changes]
        assert energy[0] == 0 and all(a < b for a, b in zip(energy, energy[1:])), name
        # most of the change lies in (a 6-pixel neighbourhood of) the cue's region
        from scipy.ndimage import binary_dilation

        near = binary_dilation(masks[r], iterations=6)
        assert changes[-1][near].sum() > 0.7 * changes[-1].sum(), name
    with pytest.raises(ValueError, match="strengths"):
        render_cues(orl_face, [0.5, 2.0, 0, 0])


def _fake_aligned(n_subjects=6, seed=0):
    rng = np.random.default_rng(seed)
    return {
        f"s{i + 1}": [rng.random((32, 32)).astype(np.float32) for _ in range(2)]
        for i in range(n_subjects)
    }


def test_benchmark_is_deterministic_per_seed_and_subject_disjoint():
    cfg = BenchmarkConfig(
        image_size=16,
        render_size=32,
        split_subjects=(3, 1, 2),
        videos_per_subject=(2, 1, 2),
        frames_per_video=2,
        seed=3,
    )
    a, _ = make_benchmark(cfg, _fake_aligned())
    b, _ = make_benchmark(cfg, _fake_aligned())
    c, _ = make_benchmark(BenchmarkConfig(**{**cfg.__dict__, "seed": 4}), _fake_aligned())
    assert np.array_equal(a["train"].frames, b["train"].frames) and np.array_equal(
        a["test"].bdi, b["test"].bdi
    )
    assert not np.array_equal(a["train"].frames, c["train"].frames)
    assert set(a["train"].subject).isdisjoint(a["test"].subject)
    assert set(a["dev"].subject).isdisjoint(a["test"].subject)
    t = a["train"]
    assert (
        t.frames.shape == (12, 1, 16, 16) and t.masks.shape == (12, 4, 16, 16) and t.num_videos == 6
    )
    # the label: brows + eyes + 2 cheeks x mouth, / 4, x 63 (the default "interaction")
    b, e, ch, m = t.cues.T
    assert np.allclose(t.bdi, np.round(63 * (b + e + 2 * ch * m) / 4))
    plain = make_benchmark(
        BenchmarkConfig(**{**cfg.__dict__, "combination": "mean"}), _fake_aligned()
    )
    assert np.allclose(plain[0]["train"].bdi, np.round(63 * plain[0]["train"].cues.mean(axis=1)))
    with pytest.raises(ValueError, match="subjects needed"):
        make_benchmark(BenchmarkConfig(split_subjects=(5, 2, 2)), _fake_aligned())


def test_interaction_label_needs_cheeks_and_mouth_together():
    assert bdi_from_cues([0, 0, 1, 0]) == 0 and bdi_from_cues([0, 0, 0, 1]) == 0
    assert bdi_from_cues([0, 0, 1, 1]) == round(63 / 2)
    assert bdi_from_cues([1, 1, 1, 1]) == 63 and bdi_from_cues([1, 1, 1, 1], "mean") == 63
    assert bdi_from_cues([0, 0, 1, 0], "mean") == round(63 / 4)
    with pytest.raises(ValueError, match="combination"):
        bdi_from_cues([0, 0, 0, 0], "sum")


def test_partitions_fix_the_dev_subjects_and_rotate_the_test_fold():
    subjects = [f"s{i}" for i in range(1, 41)]
    splits = [partition_subjects(subjects, (24, 8, 8), seed) for seed in range(5)]
    for sp in splits:
        assert len(sp["train"]) == 24 and len(sp["dev"]) == 8 and len(sp["test"]) == 8
        assert not set(sp["train"]) & set(sp["test"]) and not set(sp["dev"]) & set(sp["test"])
        assert not set(sp["train"]) & set(sp["dev"])
    assert all(sp["dev"] == splits[0]["dev"] for sp in splits)  # never a test subject
    tested = set().union(*(sp["test"] for sp in splits[:4]))
    assert tested == set(subjects) - set(splits[0]["dev"])  # 4 folds cover the other 32
    assert splits[4]["test"] == splits[0]["test"]


def test_distractors_are_label_independent_and_outside_the_cue_regions():
    sites = distractor_sites()
    masks = region_masks(96)
    idx = np.clip((sites * 96).astype(int), 0, 95)
    assert len(sites) > 50 and not masks.any(axis=0)[idx[:, 1], idx[:, 0]].any()
    cfg = BenchmarkConfig(
        image_size=16,
        render_size=32,
        split_subjects=(6, 2, 2),
        videos_per_subject=(30, 1, 1),
        frames_per_video=1,
        seed=1,
    )
    train = make_benchmark(cfg, _fake_aligned(10))[0]["train"]
    assert train.distractor_strength.shape == (180,) and train.distractor_masks.any()
    r = np.corrcoef(train.distractor_strength, train.bdi)[0, 1]
    assert abs(r) < 0.2  # 180 videos: |r| < 0.2 unless the two are related (p ~ 0.007)
    none = make_benchmark(BenchmarkConfig(**{**cfg.__dict__, "distractors": 0}), _fake_aligned(10))
    assert not none[0]["train"].distractor_masks.any()


def test_a_distractor_changes_the_face_only_around_its_site(orl_face):
    from scipy.ndimage import binary_dilation

    x, y = distractor_sites()[0]
    out = render_cues(orl_face, np.zeros(4), 1.0, [(3, x, y, 1.0)])
    change = np.abs(out - orl_face)
    near = binary_dilation(
        np.hypot(*np.meshgrid((np.arange(96) + 0.5) / 96 - x, (np.arange(96) + 0.5) / 96 - y))
        < 0.08,
        iterations=4,
    )
    assert change.sum() > 0 and change[near].sum() > 0.8 * change.sum()
    with pytest.raises(ValueError, match="distractor"):
        render_cues(orl_face, np.zeros(4), 1.0, [(7, x, y, 1.0)])


# ---------------------------------------------------------------- attention checks
def test_attention_shares_and_coverage_on_hand_made_maps():
    masks = region_masks(48)[None]  # (1, 4, 48, 48)
    maps = np.zeros((1, 2, 48, 48), np.float32)
    maps[0, 0][masks[0, 3]] = 1.0  # head 1: only the mouth
    maps[0, 1][masks[0, 0]] = 1.0  # head 2: only the brows
    shares = analysis.attention_shares(maps, masks)
    assert shares[0, 0, 3] == pytest.approx(1.0, abs=0.02) and shares[0, 1, 0] == pytest.approx(
        1.0, abs=0.02
    )
    assert analysis.share_in_cue_regions(maps, masks) == pytest.approx(1.0, abs=0.02)
    assert analysis.regions_covered(maps, masks).tolist() == [2]
    assert analysis.distinct_top_regions(maps, masks).tolist() == [2]
    uniform = np.ones((1, 1, 6, 6), np.float32)
    assert analysis.share_in_cue_regions(uniform, masks) == pytest.approx(
        analysis.chance_share(masks), abs=1e-6
    )
    assert analysis.regions_covered(uniform, masks).tolist() == [0]


# ---------------------------------------------------------------- loaders on fixtures
def test_orl_loader_reads_pgm_folders_and_names_a_broken_file(tmp_path):
    import cv2

    for s in (1, 2):
        (tmp_path / f"s{s}").mkdir()
        for k in (1, 2):
            cv2.imwrite(str(tmp_path / f"s{s}" / f"{k}.pgm"), np.full((112, 92), 50 * k, np.uint8))
    faces = load_orl(tmp_path)
    assert (
        list(faces) == ["s1", "s2"]
        and faces["s2"][1].shape == (112, 92)
        and faces["s2"][1][0, 0] == 100
    )
    (tmp_path / "s2" / "3.pgm").write_bytes(b"not an image")
    with pytest.raises(DataIntegrityError, match="3.pgm"):
        load_orl(tmp_path)
    with pytest.raises(DataNotFoundError, match="no ORL subject folders"):
        load_orl(tmp_path / "s1")


def _write_avec2014(root, face):
    """A tiny AVEC 2014 tree: 1 video per partition and task, MJPG .avi, BDI-II label files."""
    import cv2

    frame = np.full((240, 320, 3), 90, np.uint8)
    big = cv2.resize(face, (184, 224))
    frame[8:232, 68:252] = big[..., None]
    labels = {"Training": 12, "Development": 30, "Testing": 3}
    for part, score in labels.items():
        (root / "AVEC2014" / "labels" / f"{part}_DepressionLabels").mkdir(parents=True)
        (
            root
            / "AVEC2014"
            / "labels"
            / f"{part}_DepressionLabels"
            / f"20{len(part)}_1_Depression.csv"
        ).write_text(f"{score}\n")
        for task in ("Freeform", "Northwind"):
            folder = root / "AVEC2014" / part / task
            folder.mkdir(parents=True)
            w = cv2.VideoWriter(
                str(folder / f"20{len(part)}_1_{task}_video.avi"),
                cv2.VideoWriter_fourcc(*"MJPG"),
                10,
                (320, 240),
            )
            for _ in range(4):
                w.write(frame)
            w.release()
    return labels


def test_avec_loader_indexes_videos_with_labels_and_aligns_faces(tmp_path):
    face = load_orl(images_per_subject=1)["s1"][0]
    labels = _write_avec2014(tmp_path, face)
    videos = index_avec(tmp_path, "2014")
    assert len(videos) == 6
    assert {(v.partition, v.bdi) for v in videos} == {(p, float(s)) for p, s in labels.items()}
    frames, bdi, vid = avec_faces(videos[:1], size=48, every=2)
    assert (
        frames.shape == (2, 3, 48, 48)
        and bdi.tolist() == [videos[0].bdi] * 2
        and vid.tolist() == [0, 0]
    )


def test_avec_loader_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(DataNotFoundError, match="data_root"):
        index_avec(None, "2014")
    with pytest.raises(DataNotFoundError, match="missing"):
        index_avec(tmp_path, "2013")
    face = load_orl(images_per_subject=1)["s1"][0]
    _write_avec2014(tmp_path, face)
    label = tmp_path / "AVEC2014" / "labels" / "Testing_DepressionLabels" / "207_1_Depression.csv"
    label.write_text("seventeen\n")
    with pytest.raises(DataIntegrityError, match="207_1_Depression.csv.*not a number"):
        read_bdi_label(label)
    label.unlink()
    with pytest.raises(DataIntegrityError, match="no BDI-II label"):
        index_avec(tmp_path, "2014")


# ---------------------------------------------------------------- training learns
def test_a_tiny_hmhn_fits_a_small_batch():
    torch.manual_seed(0)
    model = HMHN(HMHNConfig(widths=(4, 8, 8, 8), num_heads=2, dropout=0.0))
    x = torch.rand(16, 1, 48, 48)
    y = x[:, 0, 30:40, 15:35].mean(dim=(1, 2))  # a score read from the mouth area
    opt = torch.optim.AdamW(model.parameters(), 3e-3)
    losses = []
    for _ in range(40):
        out = model(x, return_attention=True)
        loss = torch.nn.functional.mse_loss(out["pred"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_ridge_baseline_recovers_a_linear_score_on_held_out_frames():
    from neurovis.depression.baselines import ridge_on_pixels
    from neurovis.depression.data import FaceVideos

    rng = np.random.default_rng(0)

    def part(n):
        frames = rng.random((n, 1, 8, 8)).astype(np.float32)
        x = frames.reshape(n, -1)
        z = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
        bdi = np.clip(30 + 8 * z[:, :4].mean(1), 0, 63).astype(np.float32)
        return FaceVideos("p", frames, bdi, np.arange(n), np.zeros(n, int), np.zeros((n, 4)), None)

    pred, true = ridge_on_pixels(part(400), part(50), alphas=[1e-3, 1e-2])
    assert mae(pred, true) < 0.1 * mae(np.full_like(true, true.mean()), true)


@pytest.fixture(scope="module")
def tiny_benchmark(orl_face):
    """12 'subjects' sharing one real aligned face, so the rendered cues are the only thing that
    varies (little jitter, no distractors): 8 train / 2 dev / 2 test subjects, 48 px."""
    cfg = BenchmarkConfig(
        image_size=48,
        render_size=96,
        split_subjects=(8, 2, 2),
        videos_per_subject=(16, 8, 2),
        frames_per_video=1,
        intensity=2.0,
        combination="mean",
        distractors=0,
        seed=0,
        severity_beta=(1, 1),
        subject_weight=0.0,
        cue_spread=0.05,
        jitter_rotate_deg=1,
        jitter_shift=0.01,
        jitter_scale=0.01,
    )
    return make_benchmark(cfg, {f"s{i + 1}": [orl_face] for i in range(12)})[0]


def test_training_brings_development_mae_below_the_mean_predictor(tiny_benchmark):
    from neurovis.depression.train import TrainSettings, evaluate_videos, train_hmhn

    parts = tiny_benchmark
    cfg = HMHNConfig(widths=(4, 8, 8, 8), num_heads=2, dropout=0.0)
    settings = TrainSettings(num_epochs=10, lr=3e-3, batch_size=16, att_weight=0, progress=False)
    model, hist = train_hmhn(cfg, parts["train"], parts["dev"], settings)
    dev = parts["dev"]
    mean_mae = mae(*video_scores(np.full(len(dev), parts["train"].bdi.mean()), dev.video, dev.bdi))
    assert min(hist["dev_mae"]) < 0.5 * mean_mae
    # the returned model is the best development epoch's
    assert evaluate_videos(model, dev)["mae"] == pytest.approx(min(hist["dev_mae"]), abs=1e-4)
    assert hist["best_epoch"] == int(np.argmin(hist["dev_mae"])) + 1


def test_the_partition_loss_makes_the_heads_differ(tiny_benchmark):
    from neurovis.depression.train import TrainSettings, predict, train_hmhn

    parts = tiny_benchmark
    cfg = HMHNConfig(widths=(4, 8, 8, 8), num_heads=4, dropout=0.0)
    variance = {}
    for w in (0.0, 0.1):
        settings = TrainSettings(num_epochs=3, lr=3e-3, batch_size=16, att_weight=w, progress=False)
        model, hist = train_hmhn(cfg, parts["train"], None, settings)
        variance[w] = analysis.head_variance(
            predict(model, parts["dev"].frames, return_attention=True)[1]
        )
        assert (hist["att_share"][-1] > 0) == (w > 0)
    assert variance[0.1] > 2 * variance[0.0]
    with pytest.raises(ValueError, match="att_weight"):
        TrainSettings(att_weight=-1)


def test_head_variance_on_hand_made_maps():
    same = np.ones((2, 3, 4, 4))
    assert analysis.head_variance(same) == 0.0
    apart = np.zeros((1, 2, 1, 2))
    apart[0, 0, 0, 0] = apart[0, 1, 0, 1] = 1.0  # two heads on two different cells
    assert analysis.head_variance(apart) == pytest.approx(1.0)  # maps (2, 0), (0, 2): var 1
    assert np.isnan(analysis.head_variance(np.ones((1, 1, 2, 2))))


def test_avec2014_keeps_a_development_subject_out_of_training(tmp_path):
    import shutil

    from neurovis.depression.data import avec_partitions

    face = load_orl(images_per_subject=1)["s1"][0]
    _write_avec2014(tmp_path, face)
    base = tmp_path / "AVEC2014"
    for sid in ("300", "301"):  # two more Development subjects
        (base / "labels" / "Development_DepressionLabels" / f"{sid}_1_Depression.csv").write_text(
            "20\n"
        )
        for task in ("Freeform", "Northwind"):
            src = base / "Development" / task / f"2011_1_{task}_video.avi"
            shutil.copy(src, base / "Development" / task / f"{sid}_1_{task}_video.avi")
    parts = avec_partitions(tmp_path, "2014", size=48, every=2, max_frames=2, gray=True)
    train, dev = set(parts["train"].subjects), set(parts["dev"].subjects)
    assert dev == {"2011_1"} and not train & dev  # every fifth Development subject: 2011
    assert train == {"208_1", "300_1", "301_1"} and parts["test"].subjects == ["207_1"]


def test_tuning_scores_on_development_subjects_and_never_chooses_no_partition_loss(tiny_benchmark):
    from neurovis.depression import tuning

    grid = {"att_weight": (0.0, 0.1), "lr": (3e-3,)}
    rec = tuning.search(
        48,
        widths=(4, 8, 8, 8),
        num_epochs=2,
        patience=1,
        batch_size=16,
        grid=grid,
        progress=False,
        parts=tiny_benchmark,
    )
    assert [t["att_weight"] for t in rec["stage_a"]] == [0.0, 0.1]
    assert rec["chosen"] == {"att_weight": 0.1, "lr": 3e-3}  # 0 is shown, never chosen
    for t in rec["stage_a"]:
        assert 1 <= t["best_epoch"] <= t["epochs_run"] <= 2 and np.isfinite(t["dev_mae"])


def test_run_seed_pairs_every_variant_on_the_same_test_subjects(orl_face):
    from neurovis.depression import study
    from neurovis.depression.train import TrainSettings

    bench = BenchmarkConfig(
        image_size=48,
        render_size=96,
        split_subjects=(4, 1, 2),
        videos_per_subject=(3, 2, 3),
        frames_per_video=1,
        distractors=2,
    )
    faces = {f"s{i + 1}": [orl_face] for i in range(7)}
    run = study.run_seed(
        3,
        bench,
        HMHNConfig(widths=(4, 8, 8, 8), num_heads=2),
        TrainSettings(num_epochs=1, batch_size=8, progress=False),
        aligned=faces,
    )
    assert set(run.trained) == set(study.CENTRAL) | set(study.ABLATIONS)
    assert len(run.subjects) == 2 and all(v.shape == (2,) for v in run.subject_mae.values())
    # per-subject MAE averages back to the video MAE (every subject has 3 test videos)
    assert run.subject_mae["HMHN"].mean() == pytest.approx(run.metrics["mae_hmhn"])
    assert "head_variance_hmhn" in run.metrics and "head_variance_single_head" not in run.metrics
    assert (
        0 < run.metrics["attention_chance"] < 1 and "attention_on_distractors_hmhn" in run.metrics
    )
    assert run.trained["HMHN, no partition loss"].history["att_share"] == [0.0]
