"""neurovis.wafer: the WM-811K-faithful generator, the LSWMD loader, MFFP-Net (MFF channel plan,
deep supervision), the WMFPR features and the paper's per-class metrics."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from neurovis.core import DataNotFoundError
from neurovis.wafer import data as wd
from neurovis.wafer.baselines import density_features, make_baseline, wmfpr_features
from neurovis.wafer.mffpnet import (
    MFF,
    MFFPNet,
    MFFPNetConfig,
    count_parameters,
    deep_supervision_loss,
    fused_proba,
    mff_map_sizes,
)
from neurovis.wafer.train import (
    TrainSettings,
    accuracy,
    per_class_metrics,
    summary_metrics,
    train_classifier,
)


# ----------------------------------------------------------------------------- generator


@pytest.mark.parametrize("label", wd.CLASSES + (wd.NONE,))
def test_every_class_is_a_valid_map_on_a_circular_die_grid(label):
    for k in range(3):
        m, level = wd.generate_map(label, (5, k))
        wd.check_wafer_map(m)
        rows, cols = m.shape
        assert 26 <= cols <= 60 and 0.75 <= rows / cols <= 1.3
        # corners are off the wafer, the centre die is on it
        assert m[0, 0] == m[0, -1] == m[-1, 0] == m[-1, -1] == wd.OFF
        assert m[rows // 2, cols // 2] != wd.OFF
        assert wd.GEN["background_noise"][0] <= level <= wd.GEN["background_noise"][1]


def test_patterns_put_defects_where_their_class_says():
    cfg = wd.WaferGenConfig(noise=0.0)
    for k in range(5):
        edge = wd.generate_map("Edge-Ring", (1, k), cfg)[0]
        centre = wd.generate_map("Center", (1, k), cfg)[0]
        d_edge, d_centre = density_features(edge), density_features(centre)
        assert d_edge[5:].mean() > d_edge[0]  # outer ring denser than the centre disc
        assert d_centre[0] > d_centre[5:].mean()  # and the other way round
        near = wd.generate_map("Near-full", (1, k), cfg)[0]
        assert (near == wd.DEFECT).sum() > 0.6 * (near != wd.OFF).sum()
        assert (wd.generate_map(wd.NONE, (1, k), cfg)[0] == wd.DEFECT).sum() == 0


def _on_polar(m):
    rows, cols = m.shape
    r = (np.arange(rows) + 0.5 - rows / 2) / (rows / 2)
    c = (np.arange(cols) + 0.5 - cols / 2) / (cols / 2)
    yy, xx = np.meshgrid(r, c, indexing="ij")
    return np.hypot(yy, xx)


def test_classes_are_separable_by_their_documented_definitions():
    """Center covers the centre, Loc neither the centre nor the rim, Edge-Loc reaches the rim,
    Donut's centre is empty, and the ranges the docstrings state are the ones drawn."""
    cfg = wd.WaferGenConfig(noise=0.0)
    for k in range(25):
        centre = wd.generate_map("Center", (3, k), cfg)[0]
        rho = _on_polar(centre)
        # the dies within 0.05 of the centre are inside the disc (defective, up to its density)
        core = (rho < 0.12) & (centre != wd.OFF)
        assert (centre[core] == wd.DEFECT).mean() > 0.4
        loc = wd.generate_map("Loc", (3, k), cfg)[0]
        r_loc = _on_polar(loc)[loc == wd.DEFECT]
        assert r_loc.size and r_loc.min() > 0.1 and r_loc.max() < 0.9
        donut = wd.generate_map("Donut", (3, k), cfg)[0]
        r_d = _on_polar(donut)[donut == wd.DEFECT]
        assert r_d.min() > 0.2 and r_d.max() < 0.85
        eloc = wd.generate_map("Edge-Loc", (3, k), cfg)[0]
        assert _on_polar(eloc)[eloc == wd.DEFECT].max() > 0.85
        for label, key in (("Random", "random_density"), ("Near-full", "near_full_density")):
            d = wd.defect_density(wd.generate_map(label, (3, k), cfg)[0])
            lo, hi = wd.GEN[key]
            assert lo - 0.1 < d <= hi + 0.05
    for label, key in (
        ("Center", "center_radius"),
        ("Loc", "loc_centre_radius"),
        ("Random", "random_density"),
        ("Donut", "donut_inner"),
    ):
        lo, hi = wd.GEN[key]
        assert (
            f"{lo:g}" in wd.CLASS_MODELS[label]
            and f"{hi:g}" in wd.CLASS_MODELS[label]
            or (f"{100 * lo:g}" in wd.CLASS_MODELS[label])
        )
    assert f"{wd.GEN['center_offset']:g}" in wd.CLASS_MODELS["Center"]


def test_injected_noise_stays_out_of_randoms_density_range():
    """At the chapter's heaviest injected noise (0.25) fewer than 5 % of the non-Random maps have
    an overall density inside Random's range; at 0.45 (Random's lower end) most would."""
    ws = wd.make_wafer_set(400, seed=7, min_per_class=10)
    assert wd.share_in_random_range(ws) == 0.0
    assert wd.share_in_random_range(ws.with_noise(0.25, 3)) < 5.0
    assert wd.share_in_random_range(ws.with_noise(0.5, 3)) > 50.0
    assert wd.combined_noise(0.1, 0.25) == pytest.approx(1 - 0.9 * 0.75)
    assert wd.defect_density(np.array([[0, 1], [2, 2]])) == pytest.approx(2 / 3)


def test_generator_is_deterministic_per_seed():
    a = wd.make_wafer_set(40, seed=3)
    b = wd.make_wafer_set(40, seed=3)
    c = wd.make_wafer_set(40, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a.maps, b.maps))
    assert np.array_equal(a.labels, b.labels)
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a.maps, c.maps))


def test_noise_level_is_monotone_in_defect_count_on_the_same_map():
    for label in ("Loc", "Scratch", wd.NONE):
        levels = [0.0, 0.05, 0.1, 0.2, 0.4]
        maps = [wd.generate_map(label, (2, 7), noise=lv)[0] for lv in levels]
        defects = [(m == wd.DEFECT) for m in maps]
        counts = [d.sum() for d in defects]
        assert counts == sorted(counts) and counts[-1] > counts[0]
        for lo, hi in zip(defects, defects[1:]):
            assert np.all(hi[lo])  # a superset: same pattern, more noise
        assert all(np.array_equal(m != wd.OFF, maps[0] != wd.OFF) for m in maps)


def test_class_counts_follow_wm811k_imbalance():
    counts = wd.scaled_counts(25519)
    assert counts == wd.PAPER_COUNTS
    small = wd.scaled_counts(1000, min_per_class=20)
    assert sum(small.values()) == 1000 and min(small.values()) == 20 == small["Near-full"]
    assert max(small, key=small.get) == "Edge-Ring"
    ws = wd.make_wafer_set(300, seed=0, min_per_class=5)
    assert ws.counts() == wd.scaled_counts(300, min_per_class=5)


def test_split_is_8_1_1_disjoint_and_stratified():
    labels = np.repeat(np.arange(4), [50, 30, 10, 10])
    tr, va, te = wd.split_8_1_1(labels, seed=0)
    assert (len(tr), len(va), len(te)) == (80, 10, 10)
    assert (
        len(np.intersect1d(tr, va))
        == len(np.intersect1d(tr, te))
        == len(np.intersect1d(va, te))
        == 0
    )
    assert set(labels[te]) == {0, 1, 2, 3}
    tr, va, te = wd.split_8_1_1(labels, seed=0, test=0.3)
    assert (len(tr), len(va), len(te)) == (60, 10, 30)
    with pytest.raises(ValueError, match="fractions"):
        wd.split_8_1_1(labels, val=0.5, test=0.5)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 4, 3), int), "2-D"),
        (np.array([[0, 1], [3, 1]]), r"0 \(off-wafer\), 1 \(good\) or 2"),
        (np.array([[0, 1.5], [1, 2]]), "non-integer"),
        (np.array([0, 1, 2]), "2-D"),
    ],
)
def test_malformed_maps_are_rejected_with_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        wd.check_wafer_map(bad, "row 17")
    with pytest.raises(ValueError, match="map 0"):
        wmfpr_features([bad])


def test_tensor_dataset_crops_flips_and_one_hot_encodes():
    ws = wd.make_wafer_set(16, seed=0)
    ds = wd.WaferTensorDataset(ws, crop=32)
    assert ds.resize == round(32 * 256 / 224)
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and torch.all(x.sum(0) == 1) and y == ws.labels[0]
    torch.manual_seed(0)
    xt, _ = wd.WaferTensorDataset(ws, crop=32, train=True)[0]
    assert xt.shape == (3, 32, 32)
    with pytest.raises(ValueError, match="resize"):
        wd.WaferTensorDataset(ws, crop=32, resize=16)


# ----------------------------------------------------------------------------- WM-811K loader


def _lswmd_frame():
    """A tiny DataFrame in LSWMD.pkl's real layout (labels as nested arrays, unlabelled = empty)."""
    m = np.ones((26, 26), np.uint8)
    m[0, 0] = 0
    m[10:14, 10:14] = 2
    rows = [(m, "Center"), (m.copy(), "none"), (m.copy(), None), (np.pad(m, 2), "Scratch")]
    return pd.DataFrame(
        {
            "waferMap": [r[0] for r in rows],
            "dieSize": [1683.0] * 4,
            "lotName": ["lot1"] * 4,
            "waferIndex": [1.0, 2.0, 3.0, 4.0],
            "trianTestLabel": [
                np.array([["Training"]]),
                np.array([["Test"]]),
                np.array([]),
                np.array([["Training"]]),
            ],
            "failureType": [np.array([[r[1]]]) if r[1] else np.array([]) for r in rows],
        }
    )


def test_lswmd_loader_reads_the_real_layout(tmp_path):
    df = _lswmd_frame()
    df.to_pickle(tmp_path / "LSWMD.pkl")
    ws = wd.load_wm811k(tmp_path, trust=True)
    assert len(ws) == 2 and [ws.classes[i] for i in ws.labels] == ["Center", "Scratch"]
    assert ws.maps[1].shape == (30, 30)
    with_none = wd.load_lswmd(tmp_path / "LSWMD.pkl", classes=wd.CLASSES + (wd.NONE,), trust=True)
    assert len(with_none) == 3


def test_lswmd_loader_shims_the_old_pandas_module_names(tmp_path):
    """LSWMD.pkl names pandas.indexes.* (pandas < 0.20): read_pickle fails, the shim reads it."""
    df = _lswmd_frame()
    raw = pickle.dumps(df, protocol=2)
    old = raw.replace(b"pandas.core.indexes.base", b"pandas.indexes.base")
    assert old != raw
    (tmp_path / "LSWMD.pkl").write_bytes(old)
    with pytest.raises((ModuleNotFoundError, ImportError)):
        pd.read_pickle(tmp_path / "LSWMD.pkl")
    assert len(wd.load_lswmd(tmp_path / "LSWMD.pkl", trust=True)) == 2


def test_lswmd_loader_that_cannot_read_a_file_says_what_it_expected(tmp_path):
    (tmp_path / "LSWMD.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(
        ValueError,
        match=r"LSWMD.pkl.*Expected a pandas DataFrame pickled by pandas "
        r"0.19.*block layout.*waferMap",
    ):
        wd.load_lswmd(tmp_path / "LSWMD.pkl", trust=True)


def test_lswmd_loader_rejects_bad_content(tmp_path):
    df = _lswmd_frame()
    df.at[0, "waferMap"] = np.full((5, 5), 7)
    df.to_pickle(tmp_path / "LSWMD.pkl")
    with pytest.raises(ValueError, match=r"LSWMD.pkl row 0: die codes"):
        wd.load_lswmd(tmp_path / "LSWMD.pkl", trust=True)
    df.drop(columns=["failureType"]).to_pickle(tmp_path / "other.pkl")
    with pytest.raises(ValueError, match="missing columns"):
        wd.load_lswmd(tmp_path / "other.pkl", trust=True)


def _unpickled(flag):
    """What a tampered pickle would call when loaded."""
    open(flag, "w").write("ran")


class _Payload:
    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return _unpickled, (self.flag,)


def _repo_with_lswmd_sha(tmp_path, monkeypatch, digest):
    """A repository skeleton whose registry records ``digest`` as the published LSWMD.pkl's."""
    import yaml

    root = tmp_path / "repo"
    (root / "companion").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "registry.yaml").write_text(
        yaml.safe_dump(
            {
                "datasets": {
                    "wm811k": {"kind": "full", "expected_layout": ["LSWMD.pkl"], "sha256": digest}
                }
            }
        )
    )
    monkeypatch.setenv("NEUROVIS_ROOT", str(root))


def test_lswmd_without_a_published_sha256_needs_trust(tmp_path):
    from neurovis.core import DataIntegrityError
    from neurovis.core.data import sha256

    assert wd.lswmd_sha256() is None  # the registry: none is published
    flag = tmp_path / "pwned"
    df = _lswmd_frame()
    df.attrs["x"] = _Payload(str(flag))  # a pickle that runs code when loaded
    df.to_pickle(tmp_path / "LSWMD.pkl")
    found = sha256(tmp_path / "LSWMD.pkl")
    with pytest.raises(
        DataIntegrityError,
        match=r"LSWMD.pkl: refusing to unpickle it.*no sha256.*"
        rf"trust=True.*{found}",
    ):
        wd.load_wm811k(tmp_path)
    with pytest.raises(DataIntegrityError, match="refusing to unpickle"):
        wd.chapter_data("paper", tmp_path)
    assert not flag.exists()
    with pytest.warns(UserWarning, match=rf"LSWMD.pkl: unpickling an unverified file.*{found}"):
        wd.load_wm811k(tmp_path, trust=True)  # the caller's explicit decision
    assert flag.exists()


def test_lswmd_matching_the_published_sha256_loads_a_tampered_one_not(tmp_path, monkeypatch):
    from neurovis.core import DataIntegrityError
    from neurovis.core.data import sha256

    data_root = tmp_path / "wm"
    data_root.mkdir()
    _lswmd_frame().to_pickle(data_root / "LSWMD.pkl")
    published = sha256(data_root / "LSWMD.pkl")
    _repo_with_lswmd_sha(tmp_path, monkeypatch, published)
    assert len(wd.load_wm811k(data_root)) == 2  # verified: no trust needed
    df = _lswmd_frame()
    df.attrs["x"] = _Payload(str(tmp_path / "pwned"))
    df.to_pickle(data_root / "LSWMD.pkl")
    found = sha256(data_root / "LSWMD.pkl")
    with pytest.raises(
        DataIntegrityError,
        match=rf"wm/LSWMD.pkl: refusing to unpickle it: its "
        rf"sha256 {found} differs from the published LSWMD.pkl's {published}",
    ):
        wd.load_wm811k(data_root)
    assert not (tmp_path / "pwned").exists()


def test_missing_wm811k_raises_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="LSWMD.pkl"):
        wd.load_wm811k(tmp_path)


# ----------------------------------------------------------------------------- MFFP-Net


def test_mff_doubles_channels_and_halves_space():
    mff = MFF(16)
    assert [
        mff.f1x1[0].out_channels,
        mff.f1[0].out_channels,
        mff.f2[0].out_channels,
        mff.f3[0].out_channels,
    ] == [8, 8, 16, 16]
    assert mff(torch.randn(2, 16, 10, 10)).shape == (2, 32, 5, 5)
    assert mff(torch.randn(1, 16, 7, 7)).shape == (1, 32, 4, 4)
    with pytest.raises(ValueError, match="even"):
        MFF(15)


def test_mffpnet_paper_shapes_and_fused_channels():
    net = MFFPNet(MFFPNetConfig.paper()).eval()
    x = torch.randn(1, 3, 224, 224)
    assert net.backbone(x).shape == (1, 128, 28, 28)  # Conv1-Conv4 -> 28x28x128
    feats = net.features(x)
    assert [f.shape[1] for f in feats] == [256, 256, 512, 1024]
    assert [f.shape[-1] for f in feats] == [14, 14, 7, 4]
    lead, aux = net.forward_all(x)
    assert lead.shape == (1, 8) and len(aux) == 4 and all(a.shape == (1, 8) for a in aux)
    assert 5e6 < count_parameters(net) < 7e6


def test_every_head_gets_gradient_and_small_net_runs():
    net = MFFPNet(MFFPNetConfig.small(num_classes=5, width=0.125))
    lead, aux = net.forward_all(torch.randn(4, 3, 32, 32))
    loss, parts = deep_supervision_loss(lead, aux, torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert set(parts) == {"lead", "A", "B", "C", "D"}
    for head in list(net.aux) + [net.lead[1]]:
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    assert net.backbone[0][0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="N, C, H, W"):
        net(torch.randn(3, 32, 32))


def test_deep_supervision_weights_the_auxiliary_losses():
    torch.manual_seed(0)
    y = torch.tensor([0, 2, 1])
    lead = torch.randn(3, 4)
    aux = [torch.randn(3, 4) for _ in range(4)]
    ce = torch.nn.functional.cross_entropy
    loss, _ = deep_supervision_loss(lead, aux, y, (1, 1.4, 1, 0.3))
    expected = (
        ce(lead, y) + ce(aux[0], y) + 1.4 * ce(aux[1], y) + ce(aux[2], y) + 0.3 * ce(aux[3], y)
    )
    assert torch.allclose(loss, expected)
    only_lead, _ = deep_supervision_loss(lead, aux, y, (0, 0, 0, 0))
    assert torch.allclose(only_lead, ce(lead, y))
    with pytest.raises(ValueError, match="weights"):
        deep_supervision_loss(lead, aux, y, (1, 1))


def test_training_learns_held_out_generated_wafers_and_keeps_the_best_epoch():
    """A few epochs on a tiny generated set: > 80 % on held-out maps; the returned weights are the
    best validation epoch's."""
    torch.manual_seed(0)
    classes = ("Center", "Edge-Ring", "Random", "Scratch")
    ws = wd.make_wafer_set(160, seed=1, classes=classes, counts={c: 40 for c in classes})
    tr, va, te = wd.split_8_1_1(ws.labels, seed=0, val=0.15, test=0.25)
    val_ds = wd.WaferTensorDataset(ws.subset(va), 32)
    net = MFFPNet(MFFPNetConfig.small(num_classes=4, width=0.125))
    hist = train_classifier(
        net,
        wd.WaferTensorDataset(ws.subset(tr), crop=32, train=True),
        val_ds,
        TrainSettings(num_epochs=8, lr=5e-3, batch_size=16, image_size=32, cosine_period=8),
        "cpu",
        progress=False,
        log_epochs=False,
    )
    assert hist["loss"][-1] < hist["loss"][0] and set("ABCD") <= set(hist)
    best = int(np.argmax(hist["val_acc"]))
    assert hist["best_epoch"] == best + 1
    assert accuracy(net, val_ds, "cpu") == pytest.approx(hist["val_acc"][best])
    assert accuracy(net, wd.WaferTensorDataset(ws.subset(te), 32), "cpu") > 0.8


def test_fusion_map_sizes_and_parameter_readings():
    lead = torch.tensor([[2.0, 0.0]])
    aux = [torch.tensor([[0.0, 2.0]])] * 4
    p = fused_proba(lead, aux, (0, 0, 0, 0))
    assert torch.allclose(p, torch.softmax(lead, 1))
    p = fused_proba(lead, aux, (1, 1, 1, 1))
    assert p.argmax(1).item() == 1 and torch.allclose(p.sum(1), torch.ones(1))
    with pytest.raises(ValueError, match="weights"):
        fused_proba(lead, aux, (1, 1))
    assert mff_map_sizes(224) == [28, 14, 7, 4] and mff_map_sizes(112) == [14, 7, 4, 2]
    net = MFFPNet(MFFPNetConfig.small(width=0.125)).eval()
    with torch.no_grad():
        got = [f.shape[-1] for f in net.features(torch.zeros(1, 3, 80, 80))]
    assert got[1:] == mff_map_sizes(80)[1:]
    wide = MFFPNet(MFFPNetConfig(width=0.125, mff_out_conv=True))
    assert count_parameters(wide) > count_parameters(net)


def test_baselines_build_with_the_right_head():
    out = make_baseline("resnet18", 8)(torch.randn(2, 3, 48, 48))
    assert out.shape == (2, 8)
    narrow = make_baseline("resnet18", 8, width=0.25)
    assert narrow(torch.randn(2, 3, 48, 48)).shape == (2, 8)
    assert count_parameters(narrow) < count_parameters(make_baseline("resnet18", 8)) / 10
    with pytest.raises(ValueError, match="narrowed"):
        make_baseline("vgg16", 8, width=0.5)
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline("alexnet", 8)


# ----------------------------------------------------------------------------- metrics, features


def test_per_class_precision_tpr_tnr_by_hand():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    t = per_class_metrics(y_true, y_pred, ["a", "b", "c"])
    # class a: TP 2, FN 1, FP 0, TN 3; class b: TP 1, FN 1, FP 1, TN 3; class c: TP 1, FN 0, FP 1,
    # TN 4
    assert np.allclose(t["precision"], [100, 50, 50])
    assert np.allclose(t["TPR"], [200 / 3, 50, 100])
    assert np.allclose(t["TNR"], [100, 75, 80])
    assert list(t["support"]) == [3, 2, 1]
    s = summary_metrics(y_true, y_pred)
    assert s["acc"] == pytest.approx(400 / 6)
    assert s["macro_f1"] == pytest.approx(100 * np.mean([0.8, 0.5, 2 / 3]))


def test_wmfpr_features_shape_and_density():
    m = np.ones((30, 30), np.uint8)
    m[[0, 0, -1, -1], [0, -1, 0, -1]] = 0
    m[:, :] = np.where(m == 0, 0, 2)  # every on-wafer die defective
    f = wmfpr_features([m])
    assert f.shape == (1, 59) and np.allclose(f[0, :13], 1.0)


def test_injected_noise_only_adds_defects_on_good_dies():
    ws = wd.make_wafer_set(20, seed=2)
    lo, hi = ws.with_noise(0.05, seed=1), ws.with_noise(0.3, seed=1)
    for m, a, b in zip(ws.maps, lo.maps, hi.maps):
        assert np.array_equal(m == wd.OFF, b == wd.OFF)  # off-wafer untouched
        assert np.all(b[a == wd.DEFECT] == wd.DEFECT)  # superset
        assert np.all(a[m == wd.DEFECT] == wd.DEFECT)
    assert sum((b == 2).sum() for b in hi.maps) > sum((a == 2).sum() for a in lo.maps)
    with pytest.raises(ValueError, match="noise level"):
        wd.inject_noise(ws.maps, 1.5)


def test_chapter_data_small_is_split_and_paper_needs_wm811k(tmp_path):
    ws, (tr, va, te) = wd.chapter_data("small", n_maps=300, seed=0, min_per_class=10)
    assert len(ws) == 300 and len(tr) == 240 and len(va) == len(te) == 30
    with pytest.raises(DataNotFoundError, match="WM-811K"):
        wd.chapter_data("paper", data_root=tmp_path)


def test_run_seed_trains_every_network_on_the_same_maps_and_scores_them_paired():
    from neurovis.wafer.study import StudyConfig, run_seed

    classes = ("Center", "Edge-Ring", "Random", "Scratch")
    ws = wd.make_wafer_set(120, seed=2, classes=classes, counts={c: 30 for c in classes})
    tr, va, te = wd.split_8_1_1(ws.labels, seed=0, val=0.15, test=0.25)
    cfg = StudyConfig(
        settings=TrainSettings(
            num_epochs=6, lr=5e-3, batch_size=16, image_size=32, cosine_period=6
        ),
        width=0.125,
        noise_within=(0.05,),
        noise_beyond=(0.2,),
        ablations=("B only (0, 1, 0, 0)",),
        ablation_seeds=(0,),
    )
    r = run_seed(0, ws.subset(tr), ws.subset(va), ws.subset(te), cfg, "cpu")
    n = len(te)
    assert set(r["models"]) == {"MFFP-Net", "ResNet-18", "MFFP-Net, lead only"}
    for k in ("mffp_correct", "resnet_correct", "lead_only_correct", "fusion_correct"):
        assert r["items"][k].shape == (n,) and set(np.unique(r["items"][k])) <= {0.0, 1.0}
    assert r["items"]["mffp_noise_change_beyond"].shape == (n,)
    assert set(r["noise_correct"]["ResNet-18"]) == {0.0, 0.05, 0.2}
    m = r["metrics"]
    assert m["acc_mffpnet"] == pytest.approx(100 * r["items"]["mffp_correct"].mean())
    assert 0 <= m["acc_mffpnet"] <= 100 and "acc_ablation B only (0, 1, 0, 0)" in m
    assert m["acc_change_mffpnet_noise_within"] == pytest.approx(
        100 * (r["noise_correct"]["MFFP-Net"][0.05] - r["noise_correct"]["MFFP-Net"][0.0]).mean()
    )
