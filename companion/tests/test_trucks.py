"""neurovis.trucks: APPM windows and NMS, crops, AOLM, branch shapes and the loss sum (Eq. 1-5), the
overload rules on hand-made cases, and the loaders against fixtures in the published formats."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurovis.core import DataNotFoundError
from neurovis.trucks import (
    APPMConfig,
    ImprovedMMAL,
    MMALNet,
    NetConfig,
    PlainResNet,
    StationRecord,
    STANFORD_TRUCKS,
    VehicleSpec,
    aolm,
    crop_and_resize,
    improved_mmal_loss,
    light_as_heavy,
    make_sets,
    overload_verdict,
    propose_parts,
    read_image,
    score_stream,
    select_windows,
    simulate_stream,
    stanford_cars,
    truck_sets,
    window_scores,
)
from neurovis.trucks.appm import all_windows
from neurovis.trucks.registry import HEAVY_DUTY_GVWR_KG, load_registry_csv

TINY = NetConfig.small(
    image_size=48,
    channels=(8, 8, 16, 16),
    appm=APPMConfig(groups=(((1, 1),), ((2, 2),)), n_per_group=(1, 2), part_size=16),
)


# ----------------------------------------------------------------------------------- APPM (Eq. 5)
def test_window_scores_are_window_means():
    A = torch.arange(36.0).view(1, 6, 6)
    s = window_scores(A, (2, 3))
    assert s.shape == (1, 5, 4)
    assert s[0, 1, 2] == pytest.approx(A[0, 1:3, 2:5].mean().item())


def test_most_active_window_first_and_overlaps_suppressed():
    A = torch.zeros(1, 6, 6)
    A[0, 0:2, 0:2] = 10.0  # the hottest 2x2 block
    A[0, 4:6, 4:6] = 5.0  # a second, far away
    boxes, scores = all_windows(A, [(2, 2)])
    keep = select_windows(boxes, scores[0], k=2, iou=0.25)
    assert boxes[keep[0]].tolist() == [0, 0, 2, 2]
    # the windows next to the first one were suppressed
    assert boxes[keep[1]].tolist() == [4, 4, 6, 6]


def test_nms_by_hand():
    boxes = torch.tensor(
        [[0, 0, 4, 4], [1, 0, 5, 4], [10, 10, 12, 12], [0, 1, 4, 5]], dtype=torch.float
    )
    scores = torch.tensor([0.9, 0.95, 0.5, 0.1])
    keep = select_windows(boxes, scores, k=2, iou=0.25)
    assert keep.tolist() == [1, 2]  # box 0 overlaps box 1 with IoU 0.6 > 0.25
    # only two survive: the best suppressed one fills up
    filled = select_windows(boxes, scores, k=3, iou=0.25)
    assert filled.tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="only 4"):
        select_windows(boxes, scores, k=5, iou=0.25)


def test_propose_parts_finds_the_hot_spot_and_stays_inside_the_image():
    feats = torch.zeros(2, 3, 6, 6)
    feats[0, :, 3:5, 1:3] = 1.0
    feats[1, :, 0:1, 5:6] = 1.0
    cfg = APPMConfig(groups=(((2, 2),), ((3, 3),)), n_per_group=(1, 2), iou=0.25)
    boxes, scores = propose_parts(feats, cfg, stride=16, image_size=96)
    assert boxes.shape == (2, 3, 4) and scores.shape == (2, 3)
    assert boxes[0, 0].tolist() == [16, 48, 48, 80]  # cells (row 3-4, col 1-2) x stride 16
    assert (boxes >= 0).all() and (boxes <= 96).all() and (boxes[..., 2] > boxes[..., 0]).all()
    x = torch.rand(2, 3, 96, 96)
    crops = crop_and_resize(x, boxes, 24)
    assert crops.shape == (6, 3, 24, 24)


def test_crop_of_a_constant_region_is_constant_and_out_of_image_boxes_are_rejected():
    x = torch.zeros(1, 3, 40, 40)
    x[:, :, 10:30, 5:25] = 0.7
    crop = crop_and_resize(x, torch.tensor([[[5.0, 10.0, 25.0, 30.0]]]), 8)
    assert torch.allclose(crop, torch.full_like(crop, 0.7), atol=1e-5)
    with pytest.raises(ValueError, match="inside the image"):
        crop_and_resize(x, torch.tensor([[[-1.0, 0.0, 10.0, 10.0]]]), 8)
    with pytest.raises(ValueError, match=r"\(B=1, N, 4\)"):
        crop_and_resize(x, torch.tensor([[1.0, 0.0, 10.0, 10.0]]), 8)


def test_aolm_boxes_the_largest_active_component():
    feats = torch.zeros(1, 2, 8, 8)
    feats[0, :, 1:3, 1:2] = 1.0  # small blob: 2 cells
    feats[0, :, 4:7, 3:7] = 1.0  # large blob: 12 cells
    box = aolm(feats, stride=4, image_size=32)
    assert box.tolist() == [[12.0, 16.0, 28.0, 28.0]]


# ----------------------------------------------------------------------------------- model, Eq. 1-4
def test_branch_output_shapes_and_part_branch_dropped_in_eval():
    torch.manual_seed(0)
    m = ImprovedMMAL(4, TINY)
    front, side = torch.rand(3, 3, 48, 48), torch.rand(3, 3, 48, 48)
    out = m.train()(front, side)
    assert out["front"].shape == (3, 4) and out["side"].shape == (3, 4)
    assert out["part"].shape == (3, TINY.appm.num_parts, 4) and out["part_boxes"].shape == (3, 3, 4)
    ev = m.eval()(front, side)
    assert "part" not in ev
    p = m.predict_proba(front, side)
    assert p.shape == (3, 4) and torch.allclose(p.sum(1), torch.ones(3))
    sep = ImprovedMMAL(4, NetConfig(**{**TINY.__dict__, "shared": False}))
    assert sep.side_net is not sep.front_net and sep.train()(front, side)["part"].shape == (3, 3, 4)


def test_baseline_shapes():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 48, 48)
    out = MMALNet(5, TINY).train()(x)
    assert (
        out["raw"].shape == (2, 5)
        and out["object"].shape == (2, 5)
        and out["part"].shape == (2, 3, 5)
    )
    assert (out["object_boxes"] >= 0).all() and (out["object_boxes"] <= 48).all()
    assert PlainResNet(5, TINY).predict_proba(x).shape == (2, 5)


def test_total_loss_is_the_sum_of_the_branch_losses():
    g = torch.Generator().manual_seed(0)
    out = {
        "front": torch.randn(4, 3, generator=g),
        "side": torch.randn(4, 3, generator=g),
        "part": torch.randn(4, 2, 3, generator=g),
    }
    y = torch.tensor([0, 2, 1, 1])
    total, terms = improved_mmal_loss(out, y)
    nll = lambda logits, c: -torch.log_softmax(logits, -1)[c]
    by_hand_f = sum(nll(out["front"][b], y[b]) for b in range(4)) / 4
    # Eq. 3: mean over parts
    by_hand_p = sum(nll(out["part"][b, n], y[b]) for b in range(4) for n in range(2)) / 8
    assert terms["L_frontal"] == pytest.approx(by_hand_f.item(), rel=1e-6)
    assert terms["L_part"] == pytest.approx(by_hand_p.item(), rel=1e-6)
    assert total.item() == pytest.approx(
        terms["L_frontal"] + terms["L_side"] + terms["L_part"], rel=1e-6
    )
    no_parts, t2 = improved_mmal_loss(out, y, use_parts=False)
    assert "L_part" not in t2 and no_parts.item() == pytest.approx(
        t2["L_frontal"] + t2["L_side"], rel=1e-6
    )


def test_gradients_reach_the_shared_backbone_from_every_branch():
    torch.manual_seed(0)
    m = ImprovedMMAL(3, TINY).train()
    out = m(torch.rand(2, 3, 48, 48), torch.rand(2, 3, 48, 48))
    B, N, K = out["part"].shape
    F.cross_entropy(out["part"].reshape(B * N, K), torch.zeros(B * N, dtype=torch.long)).backward()
    grads = [p.grad for p in m.front_net.backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(
        g.abs().sum() > 0 for g in grads
    )


# ----------------------------------------------------------------------------------- overload rules
REG = {
    "Light": VehicleSpec("Light", 3000.0),
    "Heavy": VehicleSpec("Heavy", 5000.0, axles=2),
    "Tri": VehicleSpec("Tri", 20000.0, axles=3),
}
PLATES = {"AA-1": "Light", "BB-2": "Heavy", "CC-3": "Light"}


@pytest.mark.parametrize(
    "plate, weight, axles, recognised, tol, status, flags",
    [
        ("AA-1", 3000.0, 2, "Light", 0.05, "legal", ()),  # exactly at the rating
        ("AA-1", 3000.1, 2, "Light", 0.05, "within tolerance", ()),
        # exactly at L(1+t): not enforced
        ("AA-1", 3150.0, 2, "Light", 0.05, "within tolerance", ()),
        ("AA-1", 3150.1, 2, "Light", 0.05, "overloaded", ()),
        ("AA-1", 3000.1, 2, "Light", 0.0, "overloaded", ()),  # no tolerance
        ("BB-2", 4000.0, 2, "Heavy", 0.05, "legal", ()),
        # plate registered to a Light
        ("CC-3", 4000.0, 2, "Heavy", 0.05, "legal", ("plate_mismatch",)),
        # the same truck, recognised right
        ("CC-3", 4000.0, 2, "Light", 0.05, "overloaded", ()),
        ("ZZ-9", 2000.0, 2, "Light", 0.05, "legal", ("plate_unregistered",)),
        ("AA-1", 2000.0, 2, "Bus", 0.05, "unknown model", ("plate_mismatch",)),
        ("AA-1", 2000.0, 3, "Light", 0.05, "legal", ("axle_mismatch",)),
    ],
)
def test_overload_rules(plate, weight, axles, recognised, tol, status, flags):
    v = overload_verdict(
        StationRecord(0, plate, weight, axles, "2026-11-24T08:00:00"), recognised, REG, PLATES, tol
    )
    assert v.status == status
    for f in ("plate_mismatch", "plate_unregistered", "axle_mismatch"):
        assert getattr(v, f) == (f in flags), f
    assert v.review == (bool(flags) or status == "unknown model")


def test_bad_station_records_and_tolerance_rejected():
    with pytest.raises(ValueError, match="measured_kg"):
        StationRecord(1, "AA-1", -5.0, 2, "t")
    with pytest.raises(ValueError, match="measured_kg"):
        StationRecord(1, "AA-1", math.nan, 2, "t")
    with pytest.raises(ValueError, match="axles"):
        StationRecord(1, "AA-1", 100.0, 1, "t")
    with pytest.raises(ValueError, match="tolerance"):
        overload_verdict(StationRecord(1, "AA-1", 100.0, 2, "t"), "Light", REG, PLATES, tolerance=5)


def test_stream_perfect_recognition_is_all_correct_and_every_clone_flagged():
    rng = np.random.default_rng(0)
    models = ["Light", "Heavy"] * 30
    records, plates, truth = simulate_stream(models, REG, rng, clone_rate=0.3)
    verdicts = [overload_verdict(r, t.true_model, REG, plates) for r, t in zip(records, truth)]
    s = score_stream(verdicts, truth)
    assert (
        s["decisions_correct_pct"] == 100.0
        and s["cloned_plates"] > 0
        and s["clones_flagged_pct"] == 100.0
    )
    assert s["false_plate_alarms"] == 0 and 0 < s["overloaded"] < 60
    # every Light recognised as Heavy: the higher limit hides the Light overloads (the dangerous
    # error)
    wrong = [overload_verdict(r, "Heavy", REG, plates) for r in records]
    s2 = score_stream(wrong, truth)
    light_over = sum(t.true_model == "Light" and t.true_status == "overloaded" for t in truth)
    assert s2["missed_overloads"] >= light_over > 0


def test_light_as_heavy_counts_by_hand():
    heavy = [0, 0, 1, 1]
    y = [0, 0, 1, 2, 3, 2]
    # 0->2 (light as heavy), 1->3 (light as heavy), 2->0 (heavy as light)
    pred = [2, 1, 3, 0, 3, 2]
    assert light_as_heavy(y, pred, heavy) == 2


def test_registry_duty_rule():
    assert len(STANFORD_TRUCKS) == 26
    for spec in STANFORD_TRUCKS.values():
        assert (spec.duty == "heavy") == (spec.gvwr_kg > HEAVY_DUTY_GVWR_KG)
    assert STANFORD_TRUCKS[106].duty == "heavy" and STANFORD_TRUCKS[113].duty == "light"


def test_registry_csv(tmp_path):
    p = tmp_path / "reg.csv"
    p.write_text("model,gvwr_kg,axles\nFAW J7,49000,5\n")
    assert load_registry_csv(p)["FAW J7"] == VehicleSpec("FAW J7", 49000.0, 5)
    p.write_text("name,weight\nx,1\n")
    with pytest.raises(ValueError, match="reg.csv"):
        load_registry_csv(p)


# ----------------------------------------------------------------------------------- data
def _jpeg(path, seed=0, size=(40, 24)):
    from PIL import Image

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def test_read_image_rejects_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataNotFoundError, match="nope.jpg"):
        read_image(tmp_path / "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ValueError, match="bad.jpg"):
        read_image(bad)


def test_make_sets_never_shares_an_image():
    labels = np.repeat([0, 1, 2], [10, 9, 12])
    train, test = make_sets(labels, 2, np.random.default_rng(0))
    all_idx = np.concatenate([train.images(), test.images()])
    assert len(all_idx) == len(set(all_idx.tolist()))
    assert (labels[train.pairs[:, 0]] == labels[train.pairs[:, 1]]).all() and (
        labels[test.pairs[:, 0]] == test.labels
    ).all()
    assert [int((test.labels == c).sum()) for c in range(3)] == [2, 2, 2]
    # class 1: 4 pairs, 2 test
    assert [int((train.per_class(2).labels == c).sum()) for c in range(3)] == [2, 2, 2]
    with pytest.raises(ValueError, match="fewer"):
        train.per_class(3)
    with pytest.raises(ValueError, match="too few"):
        make_sets(labels, 5, np.random.default_rng(0))
    every = test.all_pairs()  # 4 held-out photos per class -> 4 x 3 ordered pairs per class
    assert len(every) == 3 * 12 and (labels[every.pairs[:, 0]] == every.labels).all()
    assert (labels[every.pairs[:, 1]] == every.labels).all() and (
        every.pairs[:, 0] != every.pairs[:, 1]
    ).all()
    assert set(every.pairs.ravel().tolist()) == set(test.images().tolist())


def test_set_predictions_decompose_over_photos():
    from neurovis.trucks.data import ImageTable, Sets
    from neurovis.trucks.train import predict_proba

    torch.manual_seed(0)
    m = ImprovedMMAL(3, TINY).eval()
    table = ImageTable([f"p{i}" for i in range(4)], [0, 0, 1, 1], ["a", "b", "c"], 48)
    table._cache = torch.rand(4, 3, 48, 48)
    sets = Sets(np.array([[0, 1], [1, 0], [2, 3]]), np.array([0, 0, 1]))
    p = predict_proba(m, "improved_mmal", table, sets, "cpu")
    direct = m.predict_proba(table._cache[[0, 1, 2]], table._cache[[1, 0, 3]])
    assert np.allclose(p, direct.numpy(), atol=1e-5)
    front = predict_proba(m, "improved_mmal", table, sets, "cpu", views="front")
    assert np.allclose(front, m.predict_proba(table._cache[[0, 1, 2]]).numpy(), atol=1e-5)


def _write_devkit(root, n_classes=3):
    import scipy.io

    sc = root / "stanford_cars"
    (sc / "devkit").mkdir(parents=True)
    scipy.io.savemat(
        sc / "devkit" / "cars_meta.mat",
        {
            "class_names": np.array(
                [f"Maker Model {i} 2012" for i in range(n_classes)], dtype=object
            )
        },
    )
    fields = [
        ("bbox_x1", "O"),
        ("bbox_y1", "O"),
        ("bbox_x2", "O"),
        ("bbox_y2", "O"),
        ("class", "O"),
        ("fname", "O"),
    ]
    for split, mat in (
        ("train", sc / "devkit" / "cars_train_annos.mat"),
        ("test", sc / "cars_test_annos_withlabels.mat"),
    ):
        ann = np.zeros((1, 4), dtype=fields)
        for i in range(4):
            fname = f"{i + 1:05d}.jpg"
            ann[0, i] = (
                np.uint8(1),
                np.uint8(2),
                np.uint8(30),
                np.uint8(20),
                np.uint8(i % n_classes + 1),
                fname,
            )
            _jpeg(sc / f"cars_{split}" / fname, seed=i)
        scipy.io.savemat(mat, {"annotations": ann})
    return sc


def test_stanford_cars_devkit_loader(tmp_path):
    _write_devkit(tmp_path)
    ds = stanford_cars(tmp_path, "train", size=16)
    assert (
        len(ds) == 4
        and ds.labels.tolist() == [0, 1, 2, 0]
        and ds.classes[2] == "Maker Model 2 2012"
    )
    assert ds[1].shape == (3, 16, 16) and 0 <= ds[1].min() and ds[1].max() <= 1
    assert len(stanford_cars(tmp_path, "test", size=16)) == 4


def test_stanford_cars_missing_and_corrupt_images(tmp_path):
    sc = _write_devkit(tmp_path)
    (sc / "cars_train" / "00003.jpg").unlink()
    with pytest.raises(DataNotFoundError, match="00003.jpg"):
        stanford_cars(tmp_path, "train")
    (sc / "cars_test" / "00002.jpg").write_bytes(b"garbage")
    ds = stanford_cars(tmp_path, "test", size=16)
    with pytest.raises(ValueError, match="00002.jpg"):
        ds[1]
    with pytest.raises(DataNotFoundError, match="data_root"):
        stanford_cars(None, "train")
    with pytest.raises(DataNotFoundError, match="missing"):
        stanford_cars(tmp_path / "elsewhere", "train")


def test_truck_sets_folder_loader(tmp_path):
    base = tmp_path / "truck_sets" / "train"
    for m, model in enumerate(["FAW J7", "JAC Junling V6"]):
        for s in range(2):
            _jpeg(base / model / f"set{s}" / "front.jpg", seed=10 * m + s)
            _jpeg(base / model / f"set{s}" / "side.jpg", seed=10 * m + s + 5)
    table, sets = truck_sets(tmp_path, "train", size=16)
    assert table.classes == ["FAW J7", "JAC Junling V6"] and sets.pairs.shape == (4, 2)
    assert sets.labels.tolist() == [0, 0, 1, 1] and table.labels[sets.pairs[3, 1]] == 1
    assert (
        table.files[sets.pairs[0, 0]].name == "front.jpg"
        and table.files[sets.pairs[0, 1]].name == "side.jpg"
    )
    (base / "FAW J7" / "set1" / "side.jpg").unlink()
    with pytest.raises(DataNotFoundError, match="set1: no side"):
        truck_sets(tmp_path, "train")
    (base / "FAW J7" / "set1" / "side.jpg").write_bytes(b"broken")
    with pytest.raises(ValueError, match="side.jpg"):
        truck_sets(tmp_path, "train")


def test_embedded_trucks_load():
    from neurovis.trucks import embedded_trucks
    from neurovis.trucks.data import duty_vector

    table = embedded_trucks((113, 106), size=24)
    assert len(table) == 43 + 42 and table[0].shape == (3, 24, 24)
    assert duty_vector(table).tolist() == [0, 1]
    with pytest.raises(ValueError, match="class ids"):
        embedded_trucks((113, 999))


def test_part_images_do_not_move_the_running_statistics():
    torch.manual_seed(0)
    m = ImprovedMMAL(3, TINY).train()
    bn = m.front_net.backbone.bn1
    front, side = torch.rand(2, 3, 48, 48), torch.rand(2, 3, 48, 48)
    m(front, side, parts=False)
    after_photos = bn.running_mean.clone()
    torch.manual_seed(0)
    m2 = ImprovedMMAL(3, TINY).train()
    m2(front, side, parts=True)
    assert torch.allclose(m2.front_net.backbone.bn1.running_mean, after_photos)
    assert bn.momentum == 0.1 and m2.front_net.backbone.bn1.momentum == 0.1


def test_paper_data_joins_the_official_splits(tmp_path):
    from neurovis.trucks.data import paper_data

    _write_devkit(tmp_path)
    table, train, test, heavy = paper_data(tmp_path, "stanford_cars", 16, np.random.default_rng(0))
    assert len(table) == 8 and heavy.tolist() == [0, 0, 0]  # no truck class in the fixture
    # test sets index the test photos
    assert train.pairs.max() < 4 <= test.pairs.min()
    assert (table.labels[test.pairs[:, 0]] == test.labels).all()
    with pytest.raises(DataNotFoundError, match="Stanford Cars"):
        paper_data(None, "stanford_cars", 16, np.random.default_rng(0))
    with pytest.raises(ValueError, match="dataset must be"):
        paper_data(tmp_path, "imagenet", 16, np.random.default_rng(0))


def test_truck_set_duties_from_registry_csv(tmp_path):
    from neurovis.trucks.data import truck_set_duties

    assert truck_set_duties(tmp_path, ["FAW J7", "JAC Junling V6"]).tolist() == [1, 0]
    with pytest.raises(ValueError, match="Isuzu"):
        truck_set_duties(tmp_path, ["Isuzu ELF"])
    (tmp_path / "truck_sets").mkdir()
    (tmp_path / "truck_sets" / "registry.csv").write_text("model,gvwr_kg,axles\nIsuzu ELF,7500,2\n")
    assert truck_set_duties(tmp_path, ["Isuzu ELF"]).tolist() == [1]


# ------------------------------------------------------------------ issue 26: budget, controls
def test_recognition_errors_never_touch_the_verdicts_of_correctly_recognised_vehicles():
    """The two figures that hold by construction (moved here from the chapter): with a
    misrecognising network, every correctly recognised vehicle still gets the right verdict, and a
    cloned plate is flagged unless the network names exactly the plate's registered model."""
    rng = np.random.default_rng(1)
    records, plates, truth = simulate_stream(["Light", "Heavy"] * 40, REG, rng, clone_rate=0.3)
    names = sorted(REG)
    guesses = [t.true_model if rng.random() < 0.6 else rng.choice(names) for t in truth]
    verdicts = [overload_verdict(r, g, REG, plates) for r, g in zip(records, guesses)]
    s = score_stream(verdicts, truth)
    assert s["recognised_pct"] < 100 and s["decisions_correct_when_recognised_pct"] == 100.0
    for r, v, t in zip(records, verdicts, truth):
        if t.plate_cloned:
            assert v.plate_mismatch == (v.recognised != plates[r.plate])


def test_lr_schedule_warms_up_then_decays():
    from neurovis.trucks import TrainSettings, lr_at

    st = TrainSettings(steps=100, eval_every=10, warmup=0.1, lr=0.1)
    lrs = [lr_at(i, st) for i in range(100)]
    assert lrs[0] == pytest.approx(0.01) and lrs[9] == pytest.approx(0.1)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:10]))  # rising during warmup
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] < 0.001
    step = TrainSettings(steps=100, eval_every=10, warmup=0.0, lr=0.1, schedule="step")
    assert lr_at(59, step) == pytest.approx(0.1) and lr_at(60, step) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="multiple"):
        TrainSettings(steps=25, eval_every=10)


def test_split_sets_are_disjoint_and_validation_comes_from_training_photos():
    from neurovis.trucks import split_sets

    labels = np.repeat([0, 1, 2], 20)
    train, val, test = split_sets(labels, 3, 2, np.random.default_rng(0))
    tr, va, te = (set(x.images().tolist()) for x in (train, val, test))
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert (np.bincount(val.labels) == 2).all() and (np.bincount(test.labels) == 3).all()
    assert (np.bincount(train.labels) == 5).all()
    with pytest.raises(ValueError, match="without training"):
        split_sets(labels, 3, 7, np.random.default_rng(0))


def test_appm_and_random_windows_differ_where_the_activation_is_peaked():
    from neurovis.trucks import random_parts

    cfg = APPMConfig.small()
    f = torch.zeros(1, 4, 5, 5)
    f[0, :, 0, 0] = 10.0  # one hot cell in the corner
    appm, _ = propose_parts(f, cfg, 16, 80)
    gen = torch.Generator().manual_seed(0)
    rand = random_parts(200, (5, 5), cfg, 16, 80, gen)
    covers = lambda b: (b[..., 0] <= 0) & (b[..., 1] <= 0)  # box holds pixel (0, 0)
    assert covers(appm[0, 0])  # APPM's first window sits on the peak
    assert covers(rand[:, 0]).float().mean() < 0.5  # a random 2x2 window mostly misses it
    # the same count and sizes: every random box is one of APPM's candidate shapes in its group
    sizes = (rand[..., 2:] - rand[..., :2]) / 16
    assert rand.shape == (200, cfg.num_parts, 4)
    assert (sizes[:, 0] == 2).all()  # first group: 2x2 cells only
    assert ((sizes[:, 1:3] ** 2).sum(-1) >= 9 + 9 - 2).all()  # 3x3, 2x4 or 4x2 cells


def _two_colour_table(n_per_class=16, size=48, seed=0):
    from neurovis.trucks.data import ImageTable

    g = torch.Generator().manual_seed(seed)
    labels = np.repeat([0, 1], n_per_class)
    imgs = 0.3 * torch.rand(len(labels), 3, size, size, generator=g)
    imgs[labels == 0, 0] += 0.6  # class 0 red, class 1 blue
    imgs[labels == 1, 2] += 0.6
    table = ImageTable([f"p{i}" for i in range(len(labels))], labels, ["red", "blue"], size)
    table._cache = imgs.clamp(0, 1)
    return table


@pytest.mark.parametrize("method", ["improved_mmal", "resnet"])
def test_fit_method_learns_two_separable_classes(method):
    from neurovis.trucks import TrainSettings, fit_method, predict, split_sets

    table = _two_colour_table()
    train, val, test = split_sets(table.labels, 2, 2, np.random.default_rng(0))
    st = TrainSettings(steps=24, eval_every=8, batch_size=4, lr=0.05)
    run = fit_method(method, table, train, val.all_pairs(), TINY, st, "cpu", seed=0)
    assert len(run.history["val_nll"]) == st.rounds == 3
    # the kept weights are those of the best validation round
    assert run.history["val_nll"][run.best_round] == min(run.history["val_nll"])
    test_pairs = test.all_pairs()
    acc = 100 * (predict(run.model, method, table, test_pairs, "cpu") == test_pairs.labels).mean()
    assert acc > 75


def test_step_budget_does_not_depend_on_the_training_set_size():
    from neurovis.trucks import TrainSettings, fit_method, split_sets

    table = _two_colour_table()
    train, val, _ = split_sets(table.labels, 2, 2, np.random.default_rng(0))
    st = TrainSettings(steps=6, eval_every=3, batch_size=2, lr=0.01, augment=False)
    calls = []
    for sub in (train.per_class(1), train):
        run = fit_method("improved_mmal_noparts", table, sub, val, TINY, st, "cpu")
        calls.append(len(run.history["loss"]))
    assert calls == [2, 2]


def test_pretrained_variant_starts_from_the_pretrained_backbone():
    from neurovis.trucks import TrainSettings, fit_method, pretrain_backbone, split_sets

    table = _two_colour_table()
    st = TrainSettings(steps=2, eval_every=1, batch_size=2, lr=0.0, pretrain_steps=10)
    init, hist = pretrain_backbone(table, TINY, st, "cpu", seed=0, lr=0.05)
    assert len(hist["loss"]) == 10
    train, val, _ = split_sets(table.labels, 2, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="init"):
        fit_method("improved_mmal_pretrained", table, train, val, TINY, st, "cpu")
    run = fit_method("improved_mmal_pretrained", table, train, val, TINY, st, "cpu", init=init)
    # lr 0: the weights stay the pre-trained ones (batch-norm statistics move, they are buffers)
    params = dict(run.model.front_net.backbone.named_parameters())
    assert params and all(torch.equal(p, init[k]) for k, p in params.items())
    scratch = fit_method("improved_mmal", table, train, val, TINY, st, "cpu")
    assert not all(
        torch.equal(p, init[k]) for k, p in scratch.model.front_net.backbone.named_parameters()
    )


def test_photo_items_and_plateau():
    from neurovis.trucks import photo_items, plateaued
    from neurovis.trucks.data import Sets

    sets = Sets(np.array([[0, 1], [0, 2], [1, 0], [1, 2]]), np.zeros(4, int))
    assert photo_items(sets, [True, False, True, True]).tolist() == [50.0, 100.0]
    assert plateaued({"val_nll": [1.0, 0.5, 0.4, 0.41, 0.40, 0.42, 0.41, 0.40]})
    assert not plateaued({"val_nll": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]})
