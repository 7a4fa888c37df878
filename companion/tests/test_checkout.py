"""Specifications of neurovis.checkout: the generated RPC-like set, COCO export and validation, the
RPC loader, the paper's detector configuration, COCO AP and RPC's checkout metrics."""

import json

import cv2
import numpy as np
import pytest
import torch

from neurovis.core import DataNotFoundError, embedded_path
from neurovis.checkout import (
    ColourBlobDetector,
    CrossBoundaryRPN,
    DetectorConfig,
    RoIMaxPool,
    build_detector,
    catalogue,
    checkout_metrics,
    choose_threshold,
    coco_evaluate,
    copy_paste,
    count_table,
    cross_boundary,
    detection_loss,
    generate,
    load_coco_json,
    load_rpc,
    make_loader,
    predict,
    render_scene,
    to_coco_detections,
    train_detector,
    validate_coco,
)
from neurovis.checkout.baselines import foreground
from neurovis.checkout.data import HAND_HIDES, cut_out, tray
from neurovis.checkout.detector import lr_factor
from neurovis.checkout.products import render_at_elevation, render_upright


def gt_as_detections(coco):
    return [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in coco["annotations"]
    ]


@pytest.fixture(scope="module")
def small_test_set():
    return generate("test", 3, num_classes=6, img_size=64, factor=2, seed=3)


# ------------------------------------------------------------------ generated data
@pytest.mark.parametrize("level", [None, "easy", "medium", "hard"])
def test_boxes_are_tight_around_the_rendered_products(level):
    rng = np.random.default_rng(1)
    sc = render_scene(catalogue(8), 256, rng, level=level)
    assert len(sc.boxes) >= 1
    for (x, y, w, h), m in zip(sc.boxes, sc.masks):
        ys, xs = np.nonzero(m)
        assert (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) == (
            x,
            y,
            w,
            h,
        )


def test_clutter_levels_respect_count_and_occlusion_limits():
    rng = np.random.default_rng(0)
    for level, lo, hidden in (("easy", 2, 0.0), ("medium", 4, 0.15), ("hard", 6, 0.4)):
        sc = render_scene(catalogue(8), 448, rng, level=level, hands=False)
        assert len(sc.boxes) >= lo - 1  # at most one product may find no room
        assert min(sc.visible) >= 1 - hidden - 1e-9
        if level == "easy":
            assert np.sum(sc.masks, axis=0).max() == 1  # no two products touch the same pixel


def test_hands_hide_at_most_half_of_a_product_and_are_never_annotated():
    rng = np.random.default_rng(4)
    scenes = [render_scene(catalogue(8), 224, rng, level="hard") for _ in range(12)]
    with_hand = [sc for sc in scenes if sc.hand]
    assert 3 <= len(with_hand) <= 12  # HANDS["hard"] = 0.7
    for sc in with_hand:
        assert len(sc.boxes) == len(sc.category_ids) == len(sc.visible)
        assert min(sc.visible) >= (1 - 0.4) - HAND_HIDES - 1e-9
    never = [render_scene(catalogue(8), 224, rng, level="hard", hands=False) for _ in range(4)]
    assert not any(sc.hand for sc in never)


@pytest.mark.parametrize("name", ["red box", "white can", "blue bottle"])
def test_a_camera_elevation_foreshortens_the_front_and_shows_the_top(name):
    p = next(q for q in catalogue(8) if q.name == name)
    front, _ = render_upright(p)
    side, side_m = render_at_elevation(p, 0)
    top, top_m = render_at_elevation(p, 90)
    mid, _ = render_at_elevation(p, 45)
    assert side.shape == front.shape  # horizontal camera: the front face only
    # overhead camera: the top face only, as deep as the product (a cylinder: its diameter)
    depth = {"box": 0.45, "can": 1.0, "bottle": 1.0}[p.shape]
    assert abs(top.shape[0] - depth * front.shape[1]) <= 2 and top.shape[1] == front.shape[1]
    assert top_m.sum() < side_m.sum()
    assert min(top.shape[0], side.shape[0]) < mid.shape[0] < top.shape[0] + side.shape[0]
    with pytest.raises(ValueError, match="elevation"):
        render_at_elevation(p, 120)


def test_the_colour_rule_misses_white_products_and_marks_dark_trays():
    """Why the generated trays defeat the colour-blob baseline: a white can is not "saturated or
    dark", and a dark tray is "dark" almost everywhere."""
    white = next(q for q in catalogue(8) if q.name == "white can")
    img, m = render_upright(white, 0.5)
    assert foreground(img)[m].mean() < 0.5
    trays = [tray(112, np.random.default_rng(s)) for s in range(40)]
    dark = [t for t in trays if t.mean() < 0.5 * 255]
    assert dark and all(foreground(t).mean() > 0.5 for t in dark)
    assert max(t.mean() for t in trays) > 0.8 * 255  # and light trays


def test_cut_out_recovers_a_product_from_its_box_alone():
    rng = np.random.default_rng(2)
    for _ in range(4):
        sc = render_scene(catalogue(8), 112, rng, level=None, camera="horizontal")
        x, y, w, h = sc.boxes[0]
        m = cut_out(sc.image, [x, y, x + w, y + h])
        truth = sc.masks[0][y : y + h, x : x + w]
        assert m.shape == truth.shape
        assert (m & truth).sum() / (m | truth).sum() > 0.75


def test_copy_paste_trays_hold_each_training_product_exactly_once():
    train = generate("train", 24, num_classes=4, img_size=96, factor=2, seed=1)
    cp = copy_paste(train, seed=0, count=(2, 4))
    validate_coco(cp.coco)
    got = sorted(a["category_id"] for a in cp.coco["annotations"])
    assert got == sorted(int(train.target(i)["labels"][0]) for i in range(len(train)))
    per_tray = np.bincount([a["image_id"] for a in cp.coco["annotations"]])[1:]
    assert per_tray.min() >= 1 and per_tray.max() <= 4 and len(cp) < len(train)
    assert set(cp.levels) == {"synthesised"}
    with pytest.raises(ValueError, match="count"):
        copy_paste(train, count=(3, 2))


def test_detector_overfits_eight_training_images():
    """The training function learns: on 8 single-product images it reaches training-set AP50 > 0.5
    (and far above its untrained AP50)."""
    train = generate("train", 8, num_classes=3, img_size=64, factor=2, seed=0)
    cfg = DetectorConfig.small(
        num_classes=3, img_size=64, num_epochs=30, lr_milestones=(25,), warmup_iters=10, lr=0.01
    )
    torch.manual_seed(0)
    m = build_detector(cfg)
    before = coco_evaluate(train.coco, to_coco_detections(train, predict(m, train, "cpu")))
    hist = train_detector(m, train, cfg, "cpu")
    after = coco_evaluate(train.coco, to_coco_detections(train, predict(m, train, "cpu")))
    assert after["ap50"] > 0.5 and after["ap50"] > before["ap50"] + 0.4
    assert hist["loss"][-1] < hist["loss"][0]


def test_learning_rate_warms_up_linearly_then_steps_down_at_the_milestones():
    f = [lr_factor(it, 10, 20, (3,), 0.1) for it in range(40)]
    assert f[0] == pytest.approx(0.1) and f[10] == pytest.approx(0.55)
    assert f[20] == f[29] == 1.0 and f[30] == pytest.approx(0.1)
    assert DetectorConfig.scaled_lr(4) == pytest.approx(0.005)  # 0.02 per 16 images


def test_generated_split_is_valid_coco_with_one_based_ids(small_test_set):
    from pycocotools.coco import COCO

    d = small_test_set.coco
    c = COCO()
    c.dataset = d
    c.createIndex()
    assert sorted(c.getCatIds()) == list(range(1, 7))
    assert len(c.getAnnIds()) == len(d["annotations"]) > 0
    assert sorted(set(small_test_set.levels)) == ["easy", "hard", "medium"]
    assert small_test_set.images.shape == (9, 64, 64, 3)
    t = small_test_set.target(0)  # network boxes = camera boxes / factor, as x0 y0 x1 y1
    a = [a for a in d["annotations"] if a["image_id"] == small_test_set.ids[0]][0]
    np.testing.assert_allclose(
        t["boxes"][0],
        np.array(
            [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
        )
        / 2,
    )


def test_generation_is_deterministic_per_seed():
    a, b = generate("train", 4, img_size=48, seed=5), generate("train", 4, img_size=48, seed=5)
    assert np.array_equal(a.images, b.images) and a.coco == b.coco
    assert [im["camera"] for im in a.coco["images"]] == ["top", "45deg", "30deg", "horizontal"]


# ------------------------------------------------------------------ COCO validation and loaders
def _tiny_coco():
    return {
        "images": [{"id": 1, "width": 100, "height": 80, "file_name": "a.jpg"}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 30]}],
    }


@pytest.mark.parametrize(
    "break_it, message",
    [
        (lambda d: d["annotations"][0].pop("id"), "has no 'id'"),
        (lambda d: d["images"][0].pop("id"), "image entry has no 'id'"),
        (lambda d: d["annotations"][0].update(bbox=[90, 10, 20, 30]), "outside"),
        (lambda d: d["annotations"][0].update(bbox=[10, 10, 0, 30]), "zero-area"),
        (lambda d: d["annotations"][0].update(category_id=5), "category_id 5"),
        (lambda d: d["annotations"][0].update(image_id=2), "image_id 2"),
        (lambda d: d.pop("categories"), "'categories'"),
    ],
)
def test_malformed_coco_is_rejected_with_a_clear_error(tmp_path, break_it, message):
    d = _tiny_coco()
    validate_coco(d)
    break_it(d)
    path = tmp_path / "instances_val2019.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=message) as e:
        load_coco_json(path)
    assert "instances_val2019.json" in str(e.value)


def test_invalid_json_names_the_file(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json: not valid JSON"):
        load_coco_json(p)


def _write_rpc_fixture(root, split="val"):
    """A two-image RPC split in its published layout: instances_val2019.json + val2019/*.jpg."""
    (root / f"{split}2019").mkdir(parents=True)
    images, anns = [], []
    for k, (level, w, h) in enumerate([("easy", 200, 200), ("hard", 210, 200)], start=1):
        img = np.full((h, w, 3), 230, np.uint8)
        cv2.rectangle(img, (40, 60), (99, 139), (0, 0, 200), -1)
        cv2.imwrite(str(root / f"{split}2019" / f"img{k}.jpg"), img)
        images.append(
            {"id": k, "file_name": f"img{k}.jpg", "width": w, "height": h, "level": level}
        )
        anns.append(
            {
                "id": k,
                "image_id": k,
                "category_id": 3,
                "bbox": [40, 60, 60, 80],
                "area": 4800,
                "iscrowd": 0,
                "point_xy": [70, 100],
            }
        )
    cats = [{"id": i, "name": f"{i}_product", "supercategory": "drink"} for i in range(1, 5)]
    (root / f"instances_{split}2019.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats})
    )


def test_rpc_loader_downscales_images_and_rescales_boxes(tmp_path):
    _write_rpc_fixture(tmp_path)
    ds = load_rpc(tmp_path, "val", img_size=50)
    assert len(ds) == 2 and ds.levels == ["easy", "hard"] and ds.num_classes == 4
    assert ds.image(0).shape == (50, 50, 3) and ds.image(1).shape == (48, 50, 3)
    np.testing.assert_allclose(ds.target(0)["boxes"][0], [10, 15, 25, 35])  # factor 4
    np.testing.assert_allclose(ds.target(1)["boxes"][0], np.array([40, 60, 100, 140]) / 4.2)
    px = ds.image(0)[20, 15]
    # RGB: red product, light tray
    assert px[0] > 150 and px[2] < 60 and ds.image(0)[2, 2].min() > 200
    assert len(load_rpc(tmp_path, "val", img_size=50, levels=("hard",))) == 1


def test_rpc_loader_without_data_raises_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="instances_test2019.json"):
        load_rpc(tmp_path, "test")


def test_real_coco_ground_truth_scored_as_detections_gives_ap_1():
    d = load_coco_json(embedded_path("coco-mini", "annotations", "instances_val2017.json"))
    r = coco_evaluate(d, gt_as_detections(d))
    assert (
        r["ap"] == pytest.approx(1.0)
        and r["ap50"] == pytest.approx(1.0)
        and r["ar100"] == pytest.approx(1.0)
    )


# ------------------------------------------------------------------ metrics
def test_checkout_metrics_on_a_hand_made_count_table():
    P = np.array([[1, 0], [2, 1]])
    G = np.array([[1, 0], [1, 1]])
    m = checkout_metrics(P, G)
    assert m["cacc"] == pytest.approx(0.5)  # image 0 right, image 1 one product too many
    assert m["acd"] == pytest.approx(0.5)  # (0 + 1) / 2
    assert m["mccd"] == pytest.approx((1 / 2 + 0 / 1) / 2)
    assert m["mciou"] == pytest.approx((2 / 3 + 1 / 1) / 2)
    with pytest.raises(ValueError, match="count tables"):
        checkout_metrics(P, G[:1])


def test_ground_truth_as_predictions_gives_ap_1_and_cacc_1(small_test_set):
    dets = gt_as_detections(small_test_set.coco)
    assert coco_evaluate(small_test_set.coco, dets)["ap"] == pytest.approx(1.0)
    P = count_table(dets, small_test_set.ids, small_test_set.num_classes, 0.5)
    m = checkout_metrics(P, small_test_set.counts())
    assert m == {"cacc": 1.0, "acd": 0.0, "mccd": 0.0, "mciou": 1.0}


def test_threshold_is_the_one_that_gets_most_bills_right():
    dets = [
        {"image_id": 1, "category_id": 1, "score": 0.9},
        {"image_id": 1, "category_id": 1, "score": 0.3},
        {"image_id": 2, "category_id": 2, "score": 0.6},
        {"image_id": 2, "category_id": 1, "score": 0.2},
    ]
    G = np.array([[1, 0], [0, 1]])
    t, cacc = choose_threshold(dets, [1, 2], G)
    assert 0.3 < t <= 0.6 and cacc.max() == 1.0
    assert count_table(dets, [1, 2], 2, t).tolist() == [[1, 0], [0, 1]]


# ------------------------------------------------------------------ detector
def test_paper_anchor_and_sampling_configuration_reaches_the_model():
    cfg = DetectorConfig.small(num_classes=8)
    m = build_detector(cfg)
    # the paper's 128/256/512 x 1/4
    assert m.rpn.anchor_generator.sizes == ((32, 64, 128),)
    assert m.rpn.anchor_generator.aspect_ratios == ((0.5, 2.0, 1.0),)  # 1:2, 2:1, 1:1
    assert (
        m.rpn.fg_bg_sampler.batch_size_per_image == 64
        and m.rpn.fg_bg_sampler.positive_fraction == 0.5
    )
    assert isinstance(m.rpn, CrossBoundaryRPN) and m.rpn.ignore_cross_boundary
    assert (
        isinstance(m.roi_heads.box_roi_pool, RoIMaxPool)
        and m.roi_heads.box_roi_pool.output_size == 7
    )
    assert m.roi_heads.fg_bg_sampler.batch_size_per_image == 64
    assert m.roi_heads.box_predictor.cls_score.out_features == 9  # 8 products + background
    feats = m.backbone(torch.zeros(1, 3, 112, 112))
    # 9 x 14 x 14 = 1,764 anchors
    assert feats.shape[-2:] == (14, 14)
    p = DetectorConfig.paper(pretrained_backbone=False)
    assert p.anchor_sizes == (128, 256, 512) and p.backbone == "resnet50" and p.batch_size == 4
    assert p.momentum == 0.9 and p.weight_decay > 0 and p.lr_milestones


def test_cross_boundary_anchors_are_ignored_in_rpn_training():
    m = build_detector(DetectorConfig.small(num_classes=3, img_size=64))
    images = [torch.rand(3, 64, 64)]
    targets = [{"boxes": torch.tensor([[2.0, 2.0, 40.0, 40.0]]), "labels": torch.tensor([1])}]
    il, _ = m.transform(images, targets)
    feats = {"0": m.backbone(il.tensors)}
    anchors = m.rpn.anchor_generator(il, list(feats.values()))
    m.rpn._image_sizes = il.image_sizes
    labels, _ = m.rpn.assign_targets_to_anchors(anchors, [{"boxes": t["boxes"]} for t in targets])
    out = cross_boundary(anchors[0], il.image_sizes[0])
    assert out.any() and (~out).any()
    assert (labels[0][out] == -1).all()  # never sampled
    assert (labels[0][~out] >= 0).any()
    m.rpn.ignore_cross_boundary = False
    labels2, _ = m.rpn.assign_targets_to_anchors(anchors, [{"boxes": t["boxes"]} for t in targets])
    assert (labels2[0][out] >= 0).any()


def test_roi_max_pool_takes_the_maximum_of_each_cell():
    pool = RoIMaxPool(2)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = pool({"0": x}, [torch.tensor([[0.0, 0.0, 3.0, 3.0]])], [(4, 4)])
    assert out.flatten().tolist() == [5.0, 7.0, 13.0, 15.0]


def test_training_step_gives_finite_losses_and_gradients_everywhere(small_test_set):
    torch.manual_seed(0)
    m = build_detector(DetectorConfig.small(num_classes=6, img_size=64)).train()
    batch = next(iter(make_loader(small_test_set, 2, seed=0)))
    loss, parts = detection_loss(m, batch)
    assert set(parts) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for n, p in m.backbone.named_parameters())
    preds = predict(m, small_test_set, "cpu")
    assert len(preds) == len(small_test_set) and set(preds[0]) == {"boxes", "scores", "labels"}
    preds[0] = {
        "boxes": np.array([[1.0, 2.0, 11.0, 22.0]]),
        "scores": np.array([0.5]),
        "labels": np.array([2]),
    }
    res = [
        r
        for r in to_coco_detections(small_test_set, preds)
        if r["image_id"] == small_test_set.ids[0]
    ]
    assert res[0]["bbox"] == [2.0, 4.0, 20.0, 40.0]  # x factor 2, back to camera pixels, xywh


def test_bad_detector_settings_are_rejected():
    with pytest.raises(ValueError, match="backbone"):
        DetectorConfig(backbone="vgg16")
    with pytest.raises(ValueError, match="roi_pool"):
        DetectorConfig(roi_pool="avg")


# ------------------------------------------------------------------ baseline
def test_colour_blob_baseline_finds_and_names_separate_products_on_a_plain_light_tray():
    """The baseline works where its colour rule holds: saturated products apart on a light,
    untextured tray (boxes found, classes named by a k-NN fitted on the same products)."""
    red, blue = (next(q for q in catalogue(8) if q.name == n) for n in ("red box", "blue bottle"))

    def plain_tray(items):
        img = np.full((112, 112, 3), 228, np.uint8)
        boxes = []
        for p, (x, y) in items:
            sprite, m = render_upright(p, 0.25)
            img[y : y + m.shape[0], x : x + m.shape[1]][m] = sprite[m]
            boxes.append([x, y, x + m.shape[1], y + m.shape[0]])
        return img, np.array(boxes, np.float32)

    class Images:  # the two methods ColourBlobDetector reads
        def __init__(self, items, labels):
            self.items, self.labels = items, labels

        def __len__(self):
            return len(self.items)

        def image(self, i):
            return plain_tray(self.items[i])[0]

        def target(self, i):
            return {"labels": np.array(self.labels[i])}

    train = Images([[(red, (10 + 7 * k, 20))] for k in range(3)] + [[(blue, (60, 10 + 5 * k))]
                    for k in range(3)], [[1]] * 3 + [[5]] * 3)  # fmt: skip
    det = ColourBlobDetector(k=3).fit(train)
    img, truth = plain_tray([(red, (8, 30)), (blue, (70, 20))])
    (pred,) = det.predict(Images([[(red, (8, 30)), (blue, (70, 20))]], [[1, 5]]))
    assert sorted(pred["labels"].tolist()) == [1, 5]
    from torchvision.ops import box_iou

    iou = box_iou(torch.from_numpy(pred["boxes"]), torch.from_numpy(truth)).max(0).values
    assert (iou > 0.8).all()


# ----------------------------------------------------------- receptive field (Eq. 1) and copy-paste
def test_receptive_field_eq1_on_hand_cases_and_the_papers_backbones():
    from neurovis.checkout import receptive_field, receptive_fields

    assert receptive_field([(3, 1), (3, 1)]) == 5
    assert receptive_field([(7, 2), (3, 2)]) == 11  # (1-1)*2+3 = 3, then (3-1)*2+7 = 11
    rf = receptive_fields()
    assert rf["VGG16 (through pool5)"] == 212  # Section 3.2
    assert rf["ResNet-50, original (stride in 1x1)"] == 483  # Section 3.2
    assert rf["ResNet-50, torchvision (stride in 3x3)"] == 427


# ------------------------------------------- the paper path: backbone, loader, RPC cache, resume
def test_paper_backbone_is_resnet50_with_frozen_batchnorm_stem_and_layer1():
    from torch import nn
    from torchvision.ops import FrozenBatchNorm2d

    torch.manual_seed(0)
    m = build_detector(DetectorConfig.paper(num_classes=5, pretrained_backbone=False)).train()
    bb = m.backbone
    assert not any(isinstance(x, nn.BatchNorm2d) for x in bb.modules())
    assert sum(isinstance(x, FrozenBatchNorm2d) for x in bb.modules()) == 53  # 1 + 16 x 3 + 4
    conv1, layer1, later = bb[0], bb[4], (bb[5], bb[6], bb[7])
    assert not any(p.requires_grad for mod in (conv1, layer1) for p in mod.parameters())
    assert all(p.requires_grad for mod in later for p in mod.parameters())
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, 448, 448, generator=g) for _ in range(2)]
    targets = [
        {"boxes": torch.tensor([[40.0, 60.0, 200.0, 260.0]]), "labels": torch.tensor([1])},
        {
            "boxes": torch.tensor([[10.0, 10.0, 150.0, 120.0], [220.0, 200.0, 430.0, 440.0]]),
            "labels": torch.tensor([2, 5]),
        },
    ]
    feats = {}
    bb.register_forward_hook(lambda mod, inp, out: feats.setdefault("map", out))
    losses = m(images, targets)
    assert feats["map"].shape == (2, 2048, 14, 14)  # 448 / 32: the paper's 14x14 feature map
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert bb[0].weight.grad is None and bb[4][0].conv1.weight.grad is None
    assert bb[5][0].conv1.weight.grad is not None and bb[7][-1].conv3.weight.grad.abs().sum() > 0


def test_trainable_layers_is_checked_and_counts_from_the_top():
    from neurovis.checkout.detector import resnet50_trunk

    with torch.device("meta"):
        t5 = resnet50_trunk(trainable_layers=5)
        t0 = resnet50_trunk(trainable_layers=0)
    assert all(p.requires_grad for p in t5.parameters())
    assert not any(p.requires_grad for p in t0.parameters())
    with pytest.raises(ValueError, match="trainable_layers"):
        resnet50_trunk(trainable_layers=6)


def _write_rpc_train(root, boxes=((40, 60, 60, 80), (20, 30, 50, 40))):
    """RPC's train split as published: single-product images, JSON images WITHOUT 'level'."""
    (root / "train2019").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for k, ((w, h), box) in enumerate(zip([(200, 200), (210, 190)], boxes), start=1):
        img = np.full((h, w, 3), 230, np.uint8)
        cv2.rectangle(img, (40, 60), (99, 139), (200, 0, 0), -1)  # BGR: a blue product
        cv2.imwrite(str(root / "train2019" / f"2018-{k}.jpg"), img)
        images.append({"id": k, "file_name": f"2018-{k}.jpg", "width": w, "height": h})
        anns.append({"id": 10 + k, "image_id": k, "category_id": 2, "bbox": list(box)})
    cats = [{"id": i, "name": f"{i}_p", "supercategory": "drink"} for i in (1, 2, 3)]
    (root / "instances_train2019.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats})
    )


def test_rpc_train_split_loads_and_its_resize_cache_is_lossless(tmp_path):
    _write_rpc_train(tmp_path / "rpc")
    ds = load_rpc(tmp_path / "rpc", "train", img_size=50)
    assert len(ds) == 2 and ds.levels == ["single", "single"] and ds.num_classes == 3
    assert ds.factor == 210 / 50 and ds.factor_of(0) == 4.0
    im = ds.image(0)
    assert im.shape == (50, 50, 3) and ds.image(1).shape == (45, 50, 3)
    assert im[25, 17, 2] > 150 and im[25, 17, 0] < 60 and im[2, 2].min() > 200  # RGB: blue
    np.testing.assert_allclose(ds.target(0)["boxes"][0], [10, 15, 25, 35])

    cache = tmp_path / "cache"
    first = load_rpc(tmp_path / "rpc", "train", img_size=50, cache_dir=cache)
    assert np.array_equal(first.image(0), im)  # decoded, downscaled, written
    assert (cache / "50" / "train2019" / "2018-1.png").is_file()
    assert first.fill_cache(threads=2) == 1 and first.fill_cache() == 0
    # the second read comes from the cache: the source may even change
    cv2.imwrite(str(tmp_path / "rpc" / "train2019" / "2018-1.jpg"), np.zeros((200, 200, 3)))
    again = load_rpc(tmp_path / "rpc", "train", img_size=50, cache_dir=cache)
    assert np.array_equal(again.image(0), im) and np.array_equal(again.image(1), ds.image(1))
    assert not list(cache.rglob("*.tmp"))  # no temporary file left behind
    assert again.subset(first=1).cache_dir == cache


def test_rpc_box_past_its_image_is_clipped_with_one_warning(tmp_path):
    # image 1 is 200 wide: its box ends 1 px past the edge; image 2's lies entirely outside
    _write_rpc_train(tmp_path, boxes=((150, 60, 51, 80), (215, 30, 10, 40)))
    with pytest.warns(UserWarning) as rec:
        ds = load_rpc(tmp_path, "train", img_size=50)
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 2 and all("instances_train2019.json" in m for m in msgs)
    assert "1 box(es)" in msgs[0] and "clipped" in msgs[0] and "11" in msgs[0]
    assert "dropped" in msgs[1] and "12" in msgs[1]
    np.testing.assert_allclose(ds.target(0)["boxes"][0], [37.5, 15, 50, 35])  # x1 200 / 4
    assert len(ds.target(1)["boxes"]) == 0
    # the strict path (generated data, plain COCO) still rejects it
    with pytest.raises(ValueError, match="outside"):
        load_coco_json(tmp_path / "instances_train2019.json")


@pytest.mark.parametrize("bad", [[40, 60, 0, 80], [40, float("nan"), 60, 80]])
def test_rpc_malformed_box_still_raises_naming_the_file(tmp_path, bad):
    _write_rpc_train(tmp_path, boxes=(bad, (20, 30, 50, 40)))
    with pytest.raises(ValueError, match="instances_train2019.json: annotation 11"):
        load_rpc(tmp_path, "train", img_size=50)


def test_loader_workers_give_the_same_batches_in_the_same_order():
    data = generate("train", 10, num_classes=3, img_size=32, factor=2, seed=1)

    def epochs(loader, n=3):
        return [
            [(torch.stack(im), [t["image_id"] for t in ts]) for im, ts in loader] for _ in range(n)
        ]

    one = epochs(make_loader(data, 3, seed=4))
    two = epochs(make_loader(data, 3, seed=4, num_workers=2))  # persistent workers
    assert len(one[0]) == 4 and [i for _, ids in one[0] for i in ids] != list(range(1, 11))
    for a, b in zip(one, two):
        assert [ids for _, ids in a] == [ids for _, ids in b]
        assert all(torch.equal(x, y) for (x, _), (y, _) in zip(a, b))
    assert [ids for _, ids in one[0]] != [ids for _, ids in one[1]]  # reshuffled per epoch
    # a resumed run (fit calls set_epoch) gets the epoch's order from a fresh loader
    fresh = make_loader(data, 3, seed=4, num_workers=2)
    fresh.sampler.set_epoch(2)
    assert [[t["image_id"] for t in ts] for _, ts in fresh] == [ids for _, ids in one[2]]
    # the order of earlier versions: a DataLoader shuffling with the same seeded generator
    ref = torch.utils.data.DataLoader(
        range(10), 3, shuffle=True, generator=torch.Generator().manual_seed(4)
    )
    for e in range(3):
        assert [i + 1 for b in ref for i in b.tolist()] == [i for _, ids in one[e] for i in ids]


def test_resumed_training_matches_an_uninterrupted_run(tmp_path):
    from neurovis.checkout import train_detector

    train = generate("train", 8, num_classes=3, img_size=64, factor=2)
    cfg3 = DetectorConfig.small(3, 64, num_epochs=3, lr_milestones=(2,))
    cfg2 = DetectorConfig.small(3, 64, num_epochs=2, lr_milestones=(2,))
    torch.manual_seed(0)
    full = build_detector(cfg3)
    h_full = train_detector(full, train, cfg3, "cpu", seed=1)
    torch.manual_seed(0)
    part = build_detector(cfg2)
    ckpt = tmp_path / "ckpt.pt"
    train_detector(part, train, cfg2, "cpu", seed=1, checkpoint_path=ckpt)
    torch.manual_seed(123)  # a fresh model: every weight comes from the checkpoint
    resumed = build_detector(cfg3)
    h_res = train_detector(resumed, train, cfg3, "cpu", seed=1, checkpoint_path=ckpt)
    assert h_res["loss"] == h_full["loss"] and len(h_res["loss"]) == 3
    a, b = full.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_checkout_metrics_by_level_on_a_hand_made_case():
    from neurovis.checkout import checkout_by_level

    data = generate("test", 1, num_classes=4, img_size=64, factor=2, seed=2)
    assert data.levels == ["easy", "medium", "hard"]
    dets = gt_as_detections(data.coco)
    hard = data.ids[2]
    missing = next(d for d in dets if d["image_id"] == hard)
    dets.remove(missing)
    r = checkout_by_level(data, dets, threshold=0.5)
    assert r.loc["easy", "cacc"] == 1 and r.loc["medium", "cacc"] == 1
    assert r.loc["hard", "cacc"] == 0 and r.loc["all", "cacc"] == pytest.approx(2 / 3)
    assert r.loc["hard", "acd"] == 1 and r.loc["all", "acd"] == pytest.approx(1 / 3)
    g = data.counts()[2]
    c = missing["category_id"] - 1
    present = int((g > 0).sum())
    assert r.loc["hard", "mccd"] == pytest.approx(1 / g[c] / present)
    assert r.loc["hard", "mciou"] == pytest.approx((present - 1 + (g[c] - 1) / g[c]) / present)
    assert r.loc["easy", "mccd"] == 0 and r.loc["easy", "mciou"] == 1


def test_threshold_on_validation_falls_between_false_and_true_scores():
    from neurovis.checkout import checkout_by_level, threshold_on_validation

    data = generate("val", 1, num_classes=4, img_size=64, factor=2, seed=2)
    true = [{**d, "score": 0.9} for d in gt_as_detections(data.coco)]
    false = [
        {"image_id": i, "category_id": 1 + k % 4, "bbox": [1.0, 1.0, 9.0, 9.0], "score": 0.2}
        for k, i in enumerate(data.ids)
    ]
    t, curve = threshold_on_validation(data, true + false)
    assert 0.2 < t <= 0.9
    assert checkout_by_level(data, true + false, t).loc["all", "cacc"] == 1
    assert checkout_by_level(data, true + false, 0.2).loc["all", "cacc"] == 0
    assert curve.max() == 1 and curve[0] == 0  # 0.05: every false detection counted
