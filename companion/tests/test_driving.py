"""neurovis.driving: MSAAM shapes and weights, the Eq. 7 variance term, the Eq. 12 rectangle search,
anomaly metrics and scores on hand-made cases, pasted anomalies, loaders on tiny fixtures."""

import itertools
import json

import numpy as np
import pytest
import torch
from PIL import Image

from neurovis.core import DataNotFoundError
from neurovis.driving.baselines import (
    ClassStats,
    anomaly_scores,
    energy_score,
    msp_score,
    sml_score,
)
from neurovis.driving.data import (
    IGNORE,
    CocoObject,
    normalize,
    coco_objects,
    load_anomaly_benchmark,
    load_camvid,
    load_cityscapes,
    paper_camvid,
    paste_anomalies,
)
from neurovis.driving.hierarchy import highlights, max_average_rectangle
from neurovis.driving.metrics import anomaly_metrics, confusion_matrix, segmentation_scores
from neurovis.driving.msaam import (
    MSAAM,
    DeepLabV3Plus,
    MSAAMOutput,
    attention_variance,
    gate_saturation,
    msaam_loss,
)
from neurovis.driving.train import TrainSettings, augment, gflops


# ---------------------------------------------------------------- the method
def test_msaam_shapes_and_weights_sum_to_one():
    torch.manual_seed(0)
    m = MSAAM(16, bins=(1, 2, 3))
    out = m(torch.randn(3, 16, 6, 8).relu())
    assert out.features.shape == (3, 16, 6, 8)
    assert out.alpha.shape == (3, 3) and torch.allclose(out.alpha.sum(1), torch.ones(3))
    assert (out.alpha > 0).all()
    assert out.scale_levels.shape == (3, 3, 6, 8) and out.channel_weights.shape == (3, 16, 1, 1)
    for a in (out.scale_map, out.spatial_map, out.attention):
        assert a.shape == (3, 1, 6, 8) and a.min() >= 0 and a.max() <= 1 + 1e-6
    # the PSA map is a spatial softmax scaled by its maximum: its peak is exactly one
    assert torch.allclose(out.scale_map.amax(dim=(2, 3)), torch.ones(3, 1))


def test_deeplab_with_msaam_gives_full_size_logits_and_gradients_reach_every_branch():
    torch.manual_seed(0)
    model = DeepLabV3Plus(5, output_stride=8, msaam=True)
    x = torch.randn(2, 3, 32, 48)
    logits, out = model(x, return_attention=True)
    assert logits.shape == (2, 5, 32, 48) and out.attention.shape == (2, 1, 4, 6)
    loss, logs = msaam_loss(logits, torch.randint(0, 5, (2, 32, 48)), out, lam=0.5)
    loss.backward()
    for name, p in model.msaam.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert {"ce", "var"} <= set(logs)
    base = DeepLabV3Plus(5, output_stride=16, msaam=False)
    lg, none = base(x, return_attention=True)
    assert lg.shape == (2, 5, 32, 48) and none is None
    with pytest.raises(ValueError, match="expected images"):
        base(torch.randn(2, 1, 32, 48))


def _output(sc, sp, cw):
    b = sc.shape[0]
    z = torch.zeros(b, 1, *sc.shape[-2:])
    return MSAAMOutput(z, torch.full((b, 3), 1 / 3), sc, z, sp, cw, z, z)


def test_variance_term_matches_hand_computation_and_is_rewarded():
    sc = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])  # variance 3/16
    sp = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]]])  # variance 0
    cw = torch.tensor([0.0, 1.0]).view(1, 2, 1, 1)  # variance 1/4
    out = _output(sc, sp, cw)
    assert attention_variance(out, "maps").item() == pytest.approx(3 / 16 + 1 / 4)
    # Eq. 7 as printed: the variance of the three alphas (uniform alphas: 0; one-hot: 2/9)
    assert attention_variance(out, "alpha").item() == pytest.approx(0.0, abs=1e-9)
    out.alpha = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    assert attention_variance(out, "alpha").item() == pytest.approx((2 / 9 + 1 / 18) / 2)
    with pytest.raises(ValueError, match="reading must be"):
        attention_variance(out, "pixels")
    out = _output(sc, sp, cw)
    logits = torch.randn(1, 3, 2, 2)
    y = torch.tensor([[[0, 1], [2, IGNORE]]])
    ce = torch.nn.functional.cross_entropy(logits, y, ignore_index=IGNORE)
    loss, _ = msaam_loss(logits, y, out, lam=2.0, reading="maps")
    assert loss.item() == pytest.approx(ce.item() - 2.0 * (3 / 16 + 1 / 4), abs=1e-6)
    with pytest.raises(ValueError, match="lambda must be"):
        msaam_loss(logits, y, out, lam=-0.1)
    assert msaam_loss(logits, y, out, lam=0.0)[0].item() == pytest.approx(ce.item(), abs=1e-6)
    assert msaam_loss(logits, y, None)[0].item() == pytest.approx(ce.item(), abs=1e-6)


def test_highlights_follow_eq_8_to_11():
    alpha = torch.tensor([[0.5, 0.3, 0.2]])
    levels = torch.zeros(1, 2, 2, 2)  # flat logits: f^sc = 1 everywhere
    sp = torch.tensor([[[[1.0, 0.0], [0.5, 0.5]]]])
    fc = torch.tensor([[[[2.0, 0.0], [1.0, 1.0]]]])  # one channel; CAH = alpha_c * fc / max
    h = highlights(alpha, levels, sp, fc)
    assert torch.allclose(h["ScAH"], torch.full((1, 1, 2, 2), 0.5))
    assert torch.allclose(h["SpAH"], 0.3 * sp)
    assert torch.allclose(h["CAH"], 0.2 * fc / 2, atol=1e-5)
    assert torch.allclose(h["CoAH"], 0.5 * h["ScAH"] + 0.3 * h["SpAH"] + 0.2 * h["CAH"])


def brute_force_rectangle(m, min_h, min_w):
    best = None
    H, W = m.shape
    for y1, y2, x1, x2 in itertools.product(range(H), range(H), range(W), range(W)):
        if y2 - y1 + 1 >= min_h and x2 - x1 + 1 >= min_w:
            avg = m[y1 : y2 + 1, x1 : x2 + 1].mean()
            if best is None or avg > best[-1] + 1e-12:
                best = (y1, x1, y2, x2, avg)
    return best


@pytest.mark.parametrize("seed,min_h,min_w", [(0, 1, 1), (1, 2, 3), (2, 3, 2), (3, 5, 6)])
def test_max_average_rectangle_equals_brute_force(seed, min_h, min_w):
    m = np.random.default_rng(seed).random((5, 6))
    got = max_average_rectangle(m, min_h, min_w)
    want = brute_force_rectangle(m, min_h, min_w)
    assert got[:4] == want[:4] and got[4] == pytest.approx(want[4])


def test_max_average_rectangle_finds_a_planted_block_and_rejects_bad_sizes():
    m = np.zeros((20, 30))
    m[4:9, 10:17] = 1.0
    assert max_average_rectangle(m, 5, 7)[:4] == (4, 10, 8, 16)
    with pytest.raises(ValueError, match="min_h"):
        max_average_rectangle(m, 21, 1)
    with pytest.raises(ValueError, match="2-D"):
        max_average_rectangle(np.zeros(5))


# ---------------------------------------------------------------- metrics and scores
def test_anomaly_metrics_on_hand_made_scores():
    # 2 anomalies, 4 normal pixels, one ignored pixel
    scores = np.array([0.9, 0.4, 0.8, 0.3, 0.2, 0.1, 5.0])
    labels = np.array([1, 1, 0, 0, 0, 0, IGNORE])
    r = anomaly_metrics(scores, labels)
    # positive 0.9 beats all 4 negatives, positive 0.4 beats 3 of 4 -> AUROC = 7/8
    assert r["AUROC"] == pytest.approx(87.5)
    # ranking 0.9(+) 0.8(-) 0.4(+): AP = (1/1 + 2/3) / 2
    assert r["AP"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    # TPR reaches 95% only at threshold 0.4, where 1 of 4 normals is above: FPR95 = 25%
    assert r["FPR95"] == pytest.approx(25.0)
    perfect = anomaly_metrics([3, 2, 1, 0], [1, 1, 0, 0])
    assert perfect == {"AUROC": 100.0, "AP": 100.0, "FPR95": 0.0}
    with pytest.raises(ValueError, match="both"):
        anomaly_metrics([1, 2], [0, 0])
    with pytest.raises(ValueError, match="0, 1"):
        anomaly_metrics([1, 2], [0, 2])


def test_anomaly_metrics_agree_with_scikit_learn_on_random_scores():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.1).astype(int)
    s = np.round(rng.random(3000) + 0.6 * y, 2)  # rounded: many ties
    r = anomaly_metrics(s, y)
    assert r["AUROC"] == pytest.approx(100 * roc_auc_score(y, s))
    assert r["AP"] == pytest.approx(100 * average_precision_score(y, s))


def test_confusion_matrix_and_segmentation_scores_by_hand():
    pred = torch.tensor([[0, 0, 1, 1], [2, 2, 2, 0]])
    gt = torch.tensor([[0, 0, 1, 2], [2, 2, IGNORE, 1]])
    cm = confusion_matrix(pred, gt, 3)
    assert cm.tolist() == [[2, 0, 0], [1, 1, 0], [0, 1, 2]]
    s = segmentation_scores(cm, ["a", "b", "c"], {"G": ["b", "c"]})
    assert s["iou"] == pytest.approx({"a": 200 / 3, "b": 100 / 3, "c": 200 / 3})
    assert s["acc"] == pytest.approx({"a": 100.0, "b": 50.0, "c": 200 / 3})
    assert s["mIoU"] == pytest.approx(500 / 9) and s["G"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(pred, torch.full_like(gt, 7), 3)


def test_scores_rank_a_confident_pixel_below_an_uncertain_one():
    # pixel 0 confident, pixel 1 not
    logits = torch.tensor([[5.0, 0.0], [0.1, 0.0]]).T.reshape(1, 2, 1, 2)
    stats = ClassStats(torch.tensor([5.0, 0.0]), torch.tensor([1.0, 1.0]))
    for name, s in anomaly_scores(logits, stats).items():
        assert s.shape == (1, 1, 2)
        if name != "SML":
            assert s[0, 0, 0] < s[0, 0, 1], name
    assert msp_score(logits)[0, 0, 0] == pytest.approx(
        1 - torch.softmax(torch.tensor([5.0, 0.0]), 0)[0].item()
    )
    assert energy_score(logits)[0, 0, 1] == pytest.approx(
        -torch.logsumexp(torch.tensor([0.1, 0.0]), 0).item()
    )
    assert sml_score(logits, stats)[0, 0].tolist() == pytest.approx([0.0, 4.9])


def test_class_stats_are_the_mean_and_std_of_max_logits_per_predicted_class():
    # preds 0,0,1,1
    lg = torch.tensor([[1.0, 3.0, 0.0, 0.0], [0.0, 0.0, 2.0, 6.0]]).reshape(1, 2, 1, 4)
    st = ClassStats.fit([lg], 2)
    assert st.mean.tolist() == pytest.approx([2.0, 4.0]) and st.std.tolist() == pytest.approx(
        [1.0, 2.0]
    )


# ---------------------------------------------------------------- data
def test_pasted_anomalies_lie_on_road_and_masks_match():
    rng = np.random.default_rng(0)
    images = torch.full((3, 3, 40, 50), 100, dtype=torch.uint8)
    labels = torch.zeros(3, 40, 50, dtype=torch.uint8)
    labels[:, 20:, 5:45] = 3  # road in the lower half
    labels[:, 0, 0] = IGNORE
    labels[2] = 0  # no road at all
    obj_mask = np.zeros((10, 8), bool)
    obj_mask[1:9, 2:6] = True
    obj = CocoObject(np.full((10, 8, 3), 7, np.uint8), obj_mask, "dog")
    out, anom, rec = paste_anomalies(images, labels, [obj], rng, height_frac=(0.2, 0.3))
    for i in range(2):
        m = anom[i] == 1
        assert m.sum() > 0 and rec[i]["pixels"] == int(m.sum())
        assert (labels[i][m] == 3).all()  # every anomaly pixel is on road
        changed = (out[i] != images[i]).any(0)
        # the image changed exactly under the mask
        assert torch.equal(changed, m)
        assert (out[i][:, m] == 7).all()
    assert rec[2] is None and not (anom[2] == 1).any()
    assert (anom[:2, 0, 0] == IGNORE).all() and anom[2, 0, 0] == 0
    with pytest.raises(ValueError, match="must match"):
        paste_anomalies(images, labels[:, :10], [obj], rng)


def _write_camvid(root, bad_value=None, absolute=False):
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        lines = []
        for k in range(2):
            img = np.full((6, 12, 3), 40 * k, np.uint8)
            lab = np.array([list(range(12))] * 6, np.uint8)
            if bad_value is not None and split == "train" and k == 1:
                lab[0, 0] = bad_value
            Image.fromarray(img).save(root / split / f"f{k}.png")
            Image.fromarray(lab).save(root / f"{split}annot" / f"f{k}.png")
            pre = "/SegNet/CamVid/" if absolute else ""
            lines.append(f"{pre}{split}/f{k}.png {pre}{split}annot/f{k}.png")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")


def test_camvid_loader_reads_the_segnet_layout(tmp_path):
    _write_camvid(tmp_path / "CamVid", absolute=True)
    s = load_camvid(tmp_path / "CamVid", "train")
    assert (
        s.images.shape == (2, 3, 6, 12) and s.labels.shape == (2, 6, 12) and s.names == ["f0", "f1"]
    )
    # void (11) -> ignored, 0..10 untouched
    assert s.labels[0, 0].tolist() == list(range(11)) + [IGNORE]
    s2 = paper_camvid(tmp_path, "val")
    assert s2.images.shape == (2, 3, 360, 480) and s2.labels.shape == (2, 360, 480)


def test_label_values_outside_the_class_set_are_rejected(tmp_path):
    _write_camvid(tmp_path, bad_value=13)
    with pytest.raises(ValueError, match=r"trainannot/f1.png: label values \[13\]"):
        load_camvid(tmp_path, "train")


def test_paper_scale_loaders_say_what_is_missing(tmp_path):
    with pytest.raises(DataNotFoundError, match="CamVid"):
        paper_camvid(None, "train")
    with pytest.raises(DataNotFoundError, match="leftImg8bit"):
        load_cityscapes(tmp_path, "train")
    with pytest.raises(DataNotFoundError, match="labels_masks"):
        load_anomaly_benchmark(tmp_path, "RoadAnomaly21")


def test_cityscapes_loader_maps_label_ids_to_train_ids(tmp_path):
    city = tmp_path / "cityscapes"
    (city / "leftImg8bit/val/bonn").mkdir(parents=True)
    (city / "gtFine/val/bonn").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(
        city / "leftImg8bit/val/bonn/bonn_000000_000019_leftImg8bit.png"
    )
    ids = np.array([[7, 8, 11, 26, 33, 0]] * 4, np.uint8)
    Image.fromarray(ids).save(city / "gtFine/val/bonn/bonn_000000_000019_gtFine_labelIds.png")
    s = load_cityscapes(tmp_path, "val")
    assert s.labels[0, 0].tolist() == [0, 1, 2, 13, 18, IGNORE] and len(s.classes) == 19
    ids[0, 0] = 40
    Image.fromarray(ids).save(city / "gtFine/val/bonn/bonn_000000_000019_gtFine_labelIds.png")
    with pytest.raises(ValueError, match=r"labelIds.png: label values \[40\]"):
        load_cityscapes(tmp_path, "val")


def test_anomaly_benchmark_loader_reads_the_segmentmeifyoucan_layout(tmp_path):
    root = tmp_path / "RoadAnomaly21"
    (root / "images").mkdir(parents=True)
    (root / "labels_masks").mkdir()
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(root / "images" / "a.jpg")
    Image.fromarray(np.array([[0, 1, 255, 0, 1]] * 4, np.uint8)).save(
        root / "labels_masks" / "a_labels_semantic.png"
    )
    x, m, names = load_anomaly_benchmark(tmp_path, "RoadAnomaly21")
    assert x.shape == (1, 3, 4, 5) and m[0, 0].tolist() == [0, 1, 255, 0, 1] and names == ["a"]


def test_coco_cutouts_come_from_the_instance_polygons(tmp_path):
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(tmp_path / "x.jpg")
    ann = {
        "images": [{"id": 1, "file_name": "x.jpg", "height": 20, "width": 30}],
        "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 18,
                "iscrowd": 0,
                "area": 40.0,
                "bbox": [2, 3, 10, 4],
                "segmentation": [[2, 3, 12, 3, 12, 7, 2, 7]],
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "area": 40.0,
                "bbox": [2, 3, 10, 4],
                "segmentation": [[2, 3, 12, 3, 12, 7, 2, 7]],
            },
        ],
    }
    (tmp_path / "inst.json").write_text(json.dumps(ann))
    objs = coco_objects(tmp_path / "inst.json", tmp_path, min_area=10)
    # person is a CamVid class: never an anomaly
    assert [o.category for o in objs] == ["dog"]
    assert objs[0].mask.shape == objs[0].rgb.shape[:2] and objs[0].mask.all()


# ---------------------------------------------------------------- training pieces
def test_augment_crops_flips_and_keeps_labels_aligned():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 12 * 16, dtype=torch.float32).reshape(2, 3, 12, 16).to(torch.uint8)
    y = torch.arange(16).repeat(2, 12, 1).to(torch.uint8)
    st = TrainSettings.small(crop=(8, 8), scale_range=(1.0, 1.0), brightness=0.0)
    xs, ys = augment(x, y, st, g)
    assert xs.shape == (2, 3, 8, 8) and ys.shape == (2, 8, 8)
    # labels are column indices: each crop row is a run of consecutive columns (either direction)
    d = ys[:, 0, 1:].long() - ys[:, 0, :-1].long()
    assert ((d == 1) | (d == -1)).all()


def test_crop_larger_than_the_image_pads_with_ignore_and_keeps_the_aspect_ratio():
    g = torch.Generator().manual_seed(0)
    # a 10x20 image whose label is its column index: a stretch would change the columns' widths
    y = (torch.arange(20) // 2).repeat(1, 10, 1).to(torch.uint8)
    x = torch.full((1, 3, 10, 20), 100, dtype=torch.uint8)
    st = TrainSettings.small(crop=(16, 24), scale_range=(1.0, 1.0), brightness=0.0)
    xs, ys = augment(x, y, st, g)
    assert xs.shape == (1, 3, 16, 24) and ys.shape == (1, 16, 24)
    real = ys != IGNORE
    # exactly the 10x20 image survives (not stretched to 16x24), the rest is ignore padding
    assert int(real.sum()) == 10 * 20
    rows, cols = real[0].any(1).sum().item(), real[0].any(0).sum().item()
    assert (rows, cols) == (10, 20)
    # every label column keeps its width of 2 pixels
    assert torch.bincount(ys[real].long()).tolist() == [20] * 10
    # padded image pixels hold the mean colour (0 after normalisation), the image keeps its value
    assert torch.allclose(xs[0, 0][~real[0]], torch.tensor(0.485 * 255))
    assert (xs[0, 0][real[0]] == 100).all()


def test_gamma_stays_above_minus_one_and_lower_values_are_rejected():
    torch.manual_seed(0)
    m = DeepLabV3Plus(3, output_stride=16, msaam=True)
    assert float(m.gamma.detach()) == pytest.approx(0.0, abs=1e-6)
    for bad in (-1.0, -2.5):
        with pytest.raises(ValueError, match="gamma must be > -1"):
            m.set_gamma(bad)
    m.set_gamma(2.0)
    assert float(m.gamma.detach()) == pytest.approx(2.0, abs=1e-5)
    with torch.no_grad():  # even an extreme raw parameter keeps the factor positive
        m.gamma_raw.fill_(-10.0)
    assert -1 < float(m.gamma.detach()) < -0.99
    with pytest.raises(ValueError, match="no MSAAM"):
        DeepLabV3Plus(3, msaam=False).set_gamma(0.5)


def test_attribution_variants_are_the_logits_with_and_without_the_factor():
    from neurovis.driving import VARIANTS, variant_logits

    torch.manual_seed(0)
    ms = DeepLabV3Plus(3, output_stride=16, msaam=True).eval()
    ms.set_gamma(1.5)
    bl = DeepLabV3Plus(3, output_stride=16, msaam=False).eval()
    images = torch.randint(0, 256, (3, 3, 32, 48), dtype=torch.uint8)
    (batch,) = list(variant_logits(ms, bl, images, batch_size=8))
    assert tuple(batch) == VARIANTS
    x = normalize(images)
    with torch.no_grad():
        full, out = ms(x, return_attention=True)
        ms.rescale = False
        raw = ms(x)
        ms.rescale = True
        factor = ms.rescaling(out, (32, 48))
        base = bl(x)
    assert torch.allclose(batch["MSAAM"], full, atol=1e-5)
    assert torch.allclose(batch["MSAAM, gamma = 0"], raw, atol=1e-6)
    assert torch.allclose(batch["baseline"], base, atol=1e-6)
    assert torch.allclose(batch["baseline, matched temperature"], base * factor, atol=1e-5)
    assert (factor >= 1).all() and not torch.allclose(full, raw)
    assert ms.rescale  # restored


def test_multi_layer_fusion_and_output_stride_8_grid():
    torch.manual_seed(0)
    m = DeepLabV3Plus(4, output_stride=8, msaam=True, fuse_layers=(1, 2, 3)).eval()
    lg, out = m(torch.randn(1, 3, 180, 240), return_attention=True)
    assert lg.shape == (1, 4, 180, 240) and out.attention.shape[-2:] == (23, 30)
    assert len(m.skips) == 3
    with pytest.raises(ValueError, match="fuse_layers"):
        DeepLabV3Plus(4, fuse_layers=(4,))


def test_gate_saturation_counts_gates_near_zero_and_one():
    sc = torch.zeros(1, 1, 2, 2)
    sp = torch.tensor([[[[0.01, 0.5], [0.99, 0.3]]]])  # 2 of 4 saturated
    cw = torch.tensor([0.0, 0.5, 0.97, 0.2]).view(1, 4, 1, 1)  # 2 of 4
    got = gate_saturation(_output(sc, sp, cw))
    assert got == {"spatial": 2, "spatial_n": 4, "channel": 2, "channel_n": 4}


def test_per_image_iou_by_hand():
    from neurovis.driving import per_image_iou

    # image 0: classes 0 and 1 in the ground truth; image 1: only class 2
    pred = torch.tensor([[[0, 0], [1, 2]], [[2, 2], [2, 2]]])
    gt = torch.tensor([[[0, 1], [1, 1]], [[2, 2], [2, 2]]])
    cms = torch.stack([confusion_matrix(p, t, 3) for p, t in zip(pred, gt)])
    got = per_image_iou(cms, ["a", "b", "c"])
    # image 0: IoU(a) = 1/2, IoU(b) = 1/3 (c is only predicted, not in the ground truth)
    assert got[0] == pytest.approx(100 * (1 / 2 + 1 / 3) / 2) and got[1] == pytest.approx(100)
    only_a = per_image_iou(cms, ["a", "b", "c"], among=["a"])
    assert only_a[0] == pytest.approx(50) and np.isnan(only_a[1])


def test_training_overfits_a_tiny_set():
    """Sanity: on 4 fixed 32x48 images, training drives the pixel accuracy on those images far
    above the majority class (the loop, the loss and the augmentation learn)."""
    from neurovis.driving import SegSet, evaluate_segmentation, train_segmenter

    g = torch.Generator().manual_seed(0)
    labels = torch.zeros(4, 32, 48, dtype=torch.uint8)
    labels[:, 8:24, 12:36] = 1  # a block, coloured differently below
    labels[:, :, 40:] = 2
    images = torch.zeros(4, 3, 32, 48, dtype=torch.uint8)
    colours = torch.tensor([[200, 40, 40], [40, 200, 40], [40, 40, 200]], dtype=torch.uint8)
    images[:] = colours[labels.long()].permute(0, 3, 1, 2)
    images = (images.int() + torch.randint(-20, 21, images.shape, generator=g)).clamp(0, 255)
    data = SegSet(images.to(torch.uint8), labels, [str(i) for i in range(4)], ["a", "b", "c"])
    st = TrainSettings.small(
        num_epochs=25, batch_size=4, crop=(32, 48), scale_range=(1.0, 1.0), class_weights=0.0
    )
    torch.manual_seed(0)
    model = DeepLabV3Plus(3, output_stride=16, msaam=True, aspp_channels=16, low_channels=8)
    hist = train_segmenter(model, data, st, "cpu", seed=0)
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    scores = evaluate_segmentation(model, data, {}, "cpu")
    majority = 100 * float((labels == 0).float().mean())
    assert scores["pixel_acc"] > max(95.0, majority + 20)


def test_trainings_in_two_processes_equal_the_sequential_ones_and_keep_the_best_epoch():
    """``train_kept_best`` as jobs of ``core.parallel.map_in_processes``: two one-thread worker
    processes give bit-identical weights and histories to the same jobs run here, one after the
    other; the kept weights are the best validation epoch's and they learn."""
    from neurovis.core.parallel import map_in_processes
    from neurovis.driving import SegSet, evaluate_segmentation, load_trained, train_kept_best

    g = torch.Generator().manual_seed(1)
    labels = torch.zeros(8, 24, 32, dtype=torch.uint8)
    labels[:, 6:18, 8:24] = 1
    colours = torch.tensor([[180, 60, 60], [60, 60, 180]], dtype=torch.uint8)
    images = colours[labels.long()].permute(0, 3, 1, 2).int()
    images = (images + torch.randint(-25, 26, images.shape, generator=g)).clamp(0, 255)
    data = SegSet(images.to(torch.uint8), labels, [str(i) for i in range(8)], ["a", "b"])
    st = TrainSettings.small(
        num_epochs=6, batch_size=4, crop=(24, 32), scale_range=(1.0, 1.0), class_weights=0.0
    )
    jobs = [(s, m, st, data, data, {}, "cpu") for s in (0, 1) for m in (False, True)]
    torch.set_num_threads(1)  # the workers' thread count: the same float reductions
    here = map_in_processes(train_kept_best, jobs, workers=1)
    there = map_in_processes(train_kept_best, jobs, workers=2)
    for a, b in zip(here, there):
        assert a["history"]["val_mIoU"] == b["history"]["val_mIoU"]
        assert a["best_epoch"] == b["best_epoch"]
        assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    for (seed, msaam, *_), r in zip(jobs, here):
        assert r["best_value"] == max(r["history"]["val_mIoU"])
        model = load_trained(r, 2, st, msaam, "cpu")
        assert evaluate_segmentation(model, data, {}, "cpu")["mIoU"] == r["best_value"]
        assert r["best_value"] > 80.0, (seed, msaam, r["history"]["val_mIoU"])


def test_tuning_trials_cover_both_readings_and_run_lambda_zero_once():
    from neurovis.driving.tuning import trials

    want = [("alpha", 0.0), ("alpha", 0.01), ("alpha", 0.1), ("maps", 0.01), ("maps", 0.1)]
    assert trials() == want


def test_gflops_on_meta_equals_a_real_forward():
    torch.manual_seed(0)
    m = DeepLabV3Plus(4, output_stride=16, msaam=True)
    assert gflops(m, (32, 48), device="meta") == pytest.approx(gflops(m, (32, 48)), rel=1e-6)
    assert gflops(m, (32, 48)) > gflops(DeepLabV3Plus(4, output_stride=16, msaam=False), (32, 48))


def test_hierarchical_representation_maps_cover_the_image_and_the_rectangle_lies_inside():
    from neurovis.driving import hierarchical_representation

    torch.manual_seed(0)
    model = DeepLabV3Plus(3, output_stride=8, msaam=True)
    image = torch.randint(0, 256, (3, 40, 64), dtype=torch.uint8)
    r = hierarchical_representation(model, image)
    assert all(r[k].shape == (40, 64) for k in ("ScAH", "SpAH", "CAH", "CoAH"))
    assert r["alpha"].sum() == pytest.approx(1.0, abs=1e-5)
    y1, x1, y2, x2 = r["rect"]
    # >= 1 and 2 cells of the 5x8 grid
    assert 0 <= y1 <= y2 < 40 and 0 <= x1 <= x2 < 64 and (y2 - y1 + 1) >= 8 and (x2 - x1 + 1) >= 16
    with pytest.raises(ValueError, match="needs a model with MSAAM"):
        hierarchical_representation(DeepLabV3Plus(3, msaam=False), image)


def test_paper_settings_follow_section_4_2_1():
    p = TrainSettings.paper()
    assert (
        p.num_epochs,
        p.batch_size,
        p.lr,
        p.weight_decay,
        p.crop,
        p.scale_range,
        p.brightness,
    ) == (80, 8, 3e-4, 1e-5, (512, 512), (0.5, 2.0), 10.0)
    assert (p.backbone, p.output_stride) == ("resnet101", 8)
