"""Specifications of neurovis.smoke: re-parameterisation, smoke compositing, metrics, loaders."""

import numpy as np
import pytest
import torch

from neurovis.core import DataNotFoundError
from neurovis.smoke.data import (
    CLEAR_FRAMES,
    REAL_CLEAR_FRAMES,
    TEST_CLEAR_FRAMES,
    TRAIN_CLEAR_FRAMES,
    SmokeParams,
    add_smoke,
    composite,
    load_hamlyn_frames,
    make_smoke_set,
    paper_split,
    read_video,
    real_views,
    render_smoke,
    small_split,
    video_folds,
)
from neurovis.smoke.desmoke import dehaze_dcp, saved_fraction
from neurovis.smoke.model import (
    RepConvNeXtMixer,
    SmokeFormer,
    SmokeFormerConfig,
    count_convs,
    forward_flops,
    fuse_conv_bn,
    relative_max_error,
)
from neurovis.smoke.train import (
    LADDER,
    TrainSettings,
    acc_sens,
    confusion_counts,
    evaluate,
    matched_epochs,
    model_config,
    train_classifier,
)


def randomize_batchnorm_statistics(module, seed=0):
    """Non-trivial BN running statistics and affine parameters, so that folding them is tested."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g))
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
            m.weight.data.copy_(torch.randn(n, generator=g))
            m.bias.data.copy_(torch.randn(n, generator=g))


# ------------------------------------------------------------------ re-parameterisation (Fig. 5-6)
def test_conv_bn_fold_matches_conv_then_bn():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
    bn = torch.nn.BatchNorm2d(4)
    randomize_batchnorm_statistics(bn)
    bn.eval()
    w, b = fuse_conv_bn(conv.weight, bn)
    x = torch.randn(2, 4, 9, 9)
    fused = torch.nn.functional.conv2d(x, w, b, padding=1, groups=4)
    assert relative_max_error(fused, bn(conv(x))) < 1e-6


@pytest.mark.parametrize("only", ["large", "small", "point", "identity", None])
def test_single_path_equals_each_branch_and_all_branches(only):
    block = RepConvNeXtMixer(dim=8, kernel_size=7, small_kernel=3)
    randomize_batchnorm_statistics(block, seed=1)
    if only is not None:  # silence every other branch: BN scale and shift 0
        for name in ("large", "small", "point", "identity"):
            if name != only:
                bn = getattr(block, name)
                bn = bn[1] if isinstance(bn, torch.nn.Sequential) else bn
                bn.weight.data.zero_()
                bn.bias.data.zero_()
    block.eval()
    x = torch.randn(2, 8, 12, 12)
    fused = block.reparameterize()
    assert isinstance(fused, torch.nn.Conv2d) and fused.groups == 8 and fused.kernel_size == (7, 7)
    assert relative_max_error(fused(x), block(x)) < 1e-5


TINY = dict(img_size=32, dims=(8, 8, 16, 16), depths=(1, 1, 2, 1))


def test_whole_model_single_path_matches_in_float32_and_float64():
    torch.manual_seed(0)
    model = SmokeFormer(SmokeFormerConfig(**TINY, layer_scale_init=0.5))
    randomize_batchnorm_statistics(model, seed=2)
    model.eval()
    x = torch.randn(3, 3, 32, 32)
    fused = model.reparameterize()
    assert relative_max_error(fused(x), model(x)) < 1e-5
    m64, f64 = model.double(), model.double().reparameterize()
    assert relative_max_error(f64(x.double()), m64(x.double())) < 1e-10


def test_fused_model_has_one_conv_per_mixer_and_leaves_the_original():
    model = SmokeFormer(SmokeFormerConfig(**TINY)).eval()
    fused = model.reparameterize()
    for blk, tm in fused.mixers():
        assert isinstance(tm, torch.nn.Conv2d) and isinstance(blk.layer_scale1, torch.nn.Identity)
    assert count_convs(model) - count_convs(fused) == 2 * sum(TINY["depths"])  # 3 convs -> 1
    assert all(isinstance(tm, RepConvNeXtMixer) for _, tm in model.mixers())


def test_our_s12_stages_match_timm_poolformer_s12():
    import timm

    timm_s12 = timm.create_model("poolformer_s12", pretrained=False, num_classes=2)
    ref = {k: v.shape for k, v in timm_s12.state_dict().items()}
    cfg = SmokeFormerConfig.paper()
    pf = SmokeFormer(cfg.poolformer_s12())
    assert {k: v.shape for k, v in pf.net.state_dict().items()} == ref  # exactly timm's S12
    ours = SmokeFormer(cfg)  # the same stages with the mixer, tokenizer and head swapped
    assert [len(st.blocks) for st in ours.net.stages] == [2, 2, 6, 2]
    assert [st.blocks[0].mlp.fc1.in_channels for st in ours.net.stages] == [64, 128, 320, 512]
    kept = {
        k: v.shape
        for k, v in ours.net.state_dict().items()
        if ".token_mixer." not in k and not k.startswith(("stem.", "head."))
    }
    assert kept == {k: v for k, v in ref.items() if not k.startswith(("stem.", "head."))}
    assert all(isinstance(tm, RepConvNeXtMixer) for _, tm in ours.mixers())


def test_paper_config_flops_within_1_3_of_poolformer_s12():
    cfg = SmokeFormerConfig.paper()
    pf, ours = SmokeFormer(cfg.poolformer_s12()), SmokeFormer(cfg)
    ratio = forward_flops(ours, 224) / forward_flops(pf, 224)
    assert 1.0 < ratio <= 1.3
    # PoolFormer-S12 is 1.8 GMACs (Yu et al.): 3.6 GFLOPs at 2 FLOPs per multiply-add
    assert forward_flops(pf, 224) / 1e9 == pytest.approx(3.6, abs=0.1)


def test_ladder_changes_one_thing_per_rung():
    cfgs = [model_config(n) for n in LADDER]
    assert [(c.mixer, c.tokenizer, c.seq_pool) for c in cfgs] == [
        ("pool", False, False),
        ("repconvnext", False, False),
        ("repconvnext", True, False),
        ("repconvnext", True, True),
    ]
    assert len({(c.dims, c.depths, c.img_size) for c in cfgs}) == 1
    assert matched_epochs("poolformer_s12", "ours", 8, "small", 64) > 8


def test_model_shapes_and_gradients_reach_every_branch():
    model = SmokeFormer(SmokeFormerConfig(**TINY)).train()
    out = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 2)
    out.sum().backward()
    mixer = model.mixers()[0][1]
    for p in (
        mixer.large[0].weight,
        mixer.small[0].weight,
        mixer.point[0].weight,
        mixer.identity.weight,
    ):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_bad_config_and_input_rejected():
    with pytest.raises(ValueError, match="mixer"):
        SmokeFormerConfig(mixer="attention")
    with pytest.raises(ValueError, match="must match"):
        SmokeFormerConfig(dims=(8, 16), depths=(1, 1, 1))
    with pytest.raises(ValueError, match="expected images"):
        SmokeFormer(SmokeFormerConfig(**TINY))(torch.randn(2, 1, 32, 32))


def test_training_learns_smoke_on_a_tiny_set():
    """A few epochs on 96 crops: held-out accuracy well above chance (half the crops smoky)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    frames = {
        i: (128 + 100 * np.sin(xx / (3 + i) + i) * np.cos(yy / (4 + i)))
        .astype(np.uint8)[..., None]
        .repeat(3, axis=2)
        for i in range(4)
    }
    train = make_smoke_set(frames, 96, 32, rng, smoke_fraction=0.5)
    test = make_smoke_set(frames, 64, 32, rng, smoke_fraction=0.5)
    torch.manual_seed(0)
    model = SmokeFormer(SmokeFormerConfig(**TINY, layer_scale_init=0.1))
    before = evaluate(model, test)["acc"]
    train_classifier(
        model,
        train,
        test,
        TrainSettings(num_epochs=4, lr=3e-3, batch_size=16),
        "cpu",
        progress=False,
    )
    after = evaluate(model, test)["acc"]
    assert after >= 75 and after > before


# ------------------------------------------------------------------ smoke rendering (Eq. 1-2)
def test_smoke_compositing_keeps_range_and_is_deterministic_per_seed():
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    a = add_smoke(img, np.random.default_rng(5))
    b = add_smoke(img, np.random.default_rng(5))
    c = add_smoke(img, np.random.default_rng(6))
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.01


def test_composite_is_transparency_blend():
    img = np.full((16, 16, 3), 0.2, np.float32)
    colour = np.full((16, 16, 3), 1.0, np.float32)
    alpha = np.zeros((16, 16), np.float32)
    alpha[:8] = 0.5
    out = composite(img, alpha, colour)
    np.testing.assert_allclose(out[:8], 0.6)
    np.testing.assert_allclose(out[8:], 0.2)
    with pytest.raises(ValueError, match="do not match"):
        composite(img, alpha[:4], colour)


def test_render_smoke_opacity_bounded_by_intensity_and_centred_at_position():
    p = SmokeParams(T=0.6, D=0.9, P=(0.25, 0.75), radius=0.2)
    alpha, colour = render_smoke(64, p, np.random.default_rng(0))
    assert (
        alpha.max() <= 0.6 + 1e-6 and alpha.min() >= 0 and 0 <= colour.min() and colour.max() <= 1
    )
    ys, xs = np.mgrid[0:64, 0:64]
    cy, cx = (alpha * ys).sum() / alpha.sum(), (alpha * xs).sum() / alpha.sum()
    assert abs(cy - 16) < 8 and abs(cx - 48) < 8


def test_smoke_set_ratio_and_labels():
    rng = np.random.default_rng(0)
    frames = {
        1: rng.integers(0, 256, (40, 40, 3), dtype=np.uint8),
        2: rng.integers(0, 256, (40, 40, 3), dtype=np.uint8),
    }
    s = make_smoke_set(frames, 50, 16, np.random.default_rng(1))
    assert s.images.shape == (50, 3, 16, 16) and s.labels.sum() == 10 and set(s.frame_ids) == {1, 2}
    assert 0 <= s.images.min() and s.images.max() <= 1


# ------------------------------------------------------------------ metrics (Eq. 3-4)
def test_acc_sens_against_hand_made_confusion():
    # 3 TP, 1 FN, 2 FP, 4 TN
    y_true = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    y_pred = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]
    assert confusion_counts(y_true, y_pred) == {"TP": 3, "FN": 1, "FP": 2, "TN": 4}
    m = acc_sens(y_true, y_pred)
    assert m["acc"] == pytest.approx(70.0) and m["sens"] == pytest.approx(75.0)
    assert m["spec"] == pytest.approx(100 * 4 / 6)
    with pytest.raises(ValueError, match="labels must be"):
        acc_sens([0, 2], [0, 1])


# ------------------------------------------------------------------ video and frame loaders
def _write_clip(path, n=4, size=32):
    import cv2

    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 2.0, (size, size))
    for i in range(n):
        vw.write(np.full((size, size, 3), 40 * i, np.uint8))
    vw.release()


def test_read_video_reads_an_avi_fixture(tmp_path):
    _write_clip(tmp_path / "clip.avi", n=4)
    frames = read_video(tmp_path / "clip.avi", size=16)
    assert frames.shape == (4, 16, 16, 3) and frames.dtype == np.uint8


def test_read_video_rejects_corrupt_empty_and_missing(tmp_path):
    bad = tmp_path / "corrupt.avi"
    bad.write_bytes(b"RIFF\x00\x00not a video at all" * 10)
    with pytest.raises(ValueError, match="corrupt.avi"):
        read_video(bad)
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.avi"):
        read_video(empty)
    with pytest.raises(DataNotFoundError, match="missing.avi"):
        read_video(tmp_path / "missing.avi")


def test_hamlyn_loader_reads_videos_and_frames_and_explains_absence(tmp_path):
    import cv2

    with pytest.raises(DataNotFoundError, match="hamlyn"):
        load_hamlyn_frames(tmp_path, 2, np.random.default_rng(0))
    (tmp_path / "hamlyn" / "rectified01" / "image01").mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(
            str(tmp_path / "hamlyn" / "rectified01" / "image01" / f"{i:010d}.jpg"),
            np.full((48, 96, 3), 50 * i, np.uint8),
        )
    _write_clip(tmp_path / "hamlyn" / "video1.avi", n=4, size=32)
    frames, groups = load_hamlyn_frames(tmp_path, 6, np.random.default_rng(0), size=(64, 32))
    assert len(frames) == 6 and all(f.shape == (32, 64, 3) for f in frames)  # resized, not cropped
    assert set(groups) <= {"rectified01/image01", "video1.avi"} and len(groups) == 6
    with pytest.raises(ValueError, match="only 7 frames"):
        load_hamlyn_frames(tmp_path, 100, np.random.default_rng(0))


def test_paper_split_keeps_videos_disjoint_and_resizes_whole_frames():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"video{v:02d}.avi" for v in range(12)], 10)
    frames = [rng.integers(0, 256, (24, 48, 3), dtype=np.uint8) for _ in groups]
    train, val, test = paper_split(None, 16, rng, n_folds=10, fold=3, frames=(frames, groups))
    vids = [set(groups[s.frame_ids]) for s in (train, val, test)]
    assert not (vids[0] & vids[1]) and not (vids[0] & vids[2]) and not (vids[1] & vids[2])
    assert len(train) + len(val) + len(test) == len(groups)
    assert train.images.shape[1:] == (3, 16, 16)
    tests = [set(groups[te]) for _, te in video_folds(groups, 10)]
    assert set().union(*tests) == set(groups)  # every video is tested once across the folds
    with pytest.raises(ValueError, match="needs >= 10 videos"):
        video_folds(groups[:50], 10)


def test_small_split_never_shows_test_or_real_clear_frames_in_training():
    assert set(TRAIN_CLEAR_FRAMES) | set(TEST_CLEAR_FRAMES) | set(REAL_CLEAR_FRAMES) == set(
        CLEAR_FRAMES
    )
    assert len(TRAIN_CLEAR_FRAMES + TEST_CLEAR_FRAMES + REAL_CLEAR_FRAMES) == len(CLEAR_FRAMES)
    train, val, test = small_split(16, 20, 10, 20, np.random.default_rng(0))
    assert set(train.frame_ids) | set(val.frame_ids) <= set(TRAIN_CLEAR_FRAMES)
    assert set(test.frame_ids) <= set(TEST_CLEAR_FRAMES)
    assert test.labels.sum() == 4 and train.labels.sum() == 4


def test_real_views_twelve_per_frame_with_labels():
    rng = np.random.default_rng(0)
    frames = {
        3: rng.integers(0, 256, (40, 40, 3), dtype=np.uint8),
        11: rng.integers(0, 256, (40, 40, 3), dtype=np.uint8),
    }
    v = real_views(frames, 16)
    assert v.images.shape == (24, 3, 16, 16) and v.labels.tolist() == [0] * 12 + [1] * 12
    np.testing.assert_allclose(v.images[1], v.images[0][:, :, ::-1])  # the mirrored view
    with pytest.raises(ValueError, match="neither"):
        real_views({9: frames[3]}, 16)


# ------------------------------------------------------------------ targeted desmoking
def test_dark_channel_dehazing_undoes_uniform_haze():
    rng = np.random.default_rng(0)
    clear = rng.uniform(0.0, 0.6, (64, 64, 3)).astype(np.float32)
    clear[..., 2] = 0.02  # a dark channel near 0, as the prior assumes
    # a white highlight: the airlight estimate's source
    clear[:12, :12] = 1.0
    hazy = composite(clear, np.full((64, 64), 0.5, np.float32), np.ones((64, 64, 3), np.float32))
    out = dehaze_dcp(hazy)
    assert np.abs(out - clear).mean() < 0.25 * np.abs(hazy - clear).mean()


def test_saved_fraction_closed_form():
    assert saved_fraction(0.2, classify_s=0.01, dehaze_s=0.1) == pytest.approx(0.7)
    assert saved_fraction(1.0, classify_s=0.01, dehaze_s=0.1) == pytest.approx(-0.1)
