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
    validate_coco,
)
from neurovis.checkout.baselines import foreground


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
    # the topmost product's pixels are the product's, not the tray's: strongly coloured or dark
    top = sc.masks[-1]
    px = sc.image[top].astype(float)
    assert ((px.max(1) - px.min(1) > 60) | (px.max(1) < 120)).mean() > 0.6


def test_clutter_levels_respect_count_and_occlusion_limits():
    rng = np.random.default_rng(0)
    for level, lo, hidden in (("easy", 2, 0.0), ("medium", 4, 0.15), ("hard", 6, 0.4)):
        sc = render_scene(catalogue(8), 448, rng, level=level)
        assert len(sc.boxes) >= lo - 1  # at most one product may find no room
        assert min(sc.visible) >= 1 - hidden - 1e-9
        if level == "easy":
            assert np.sum(sc.masks, axis=0).max() == 1  # no two products touch the same pixel


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
def test_colour_blob_baseline_finds_separate_products():
    train = generate("train", 48, num_classes=4, img_size=96, seed=0)
    det = ColourBlobDetector().fit(train)
    rng = np.random.default_rng(0)
    sc = render_scene(catalogue(4), 384, rng, level="easy")
    fg = foreground(cv2.resize(sc.image, (96, 96), interpolation=cv2.INTER_AREA))
    truth = cv2.resize(
        np.any(sc.masks, 0).astype(np.uint8), (96, 96), interpolation=cv2.INTER_NEAREST
    ).astype(bool)
    assert (fg & truth).sum() / (fg | truth).sum() > 0.7
    easy = generate("test", 6, num_classes=4, img_size=96, levels=("easy",), seed=1)
    preds = det.predict(easy)
    counts = count_table(to_coco_detections(easy, preds), easy.ids, 4, 0.0)
    assert np.abs(counts.sum(1) - easy.counts().sum(1)).mean() <= 1.0


# ----------------------------------------------------------- receptive field (Eq. 1) and copy-paste
def test_receptive_field_eq1_on_hand_cases_and_the_papers_backbones():
    from neurovis.checkout import receptive_field, receptive_fields

    assert receptive_field([(3, 1), (3, 1)]) == 5
    assert receptive_field([(7, 2), (3, 2)]) == 11  # (1-1)*2+3 = 3, then (3-1)*2+7 = 11
    rf = receptive_fields()
    assert rf["VGG16 (through pool5)"] == 212  # Section 3.2
    assert rf["ResNet-50, original (stride in 1x1)"] == 483  # Section 3.2
    assert rf["ResNet-50, torchvision (stride in 3x3)"] == 427


def test_copy_paste_trays_are_valid_and_made_of_training_products():
    from neurovis.checkout import copy_paste

    train = generate("train", 24, num_classes=4, img_size=64, seed=0)
    cp = copy_paste(train, 5, seed=0, count=(3, 4))
    validate_coco(cp.coco)
    assert len(cp) == 5 and cp.images.shape == (5, 64, 64, 3)
    assert set(cp.counts().sum(1)) <= {2, 3, 4} and cp.counts().sum() >= 12
    assert {a["category_id"] for a in cp.coco["annotations"]} <= {1, 2, 3, 4}
    for i in range(len(cp)):
        for b in cp.target(i)["boxes"]:
            x0, y0, x1, y1 = b.astype(int)
            crop = cp.images[i, y0:y1, x0:x1].astype(int)
            # a product is there
            assert (crop.max(-1) - crop.min(-1) > 60).any() or (crop.max(-1) < 120).any()


def test_fit_trains_the_detector_for_an_epoch_and_records_validation_ap():
    from neurovis.checkout import val_evaluator

    train = generate("train", 8, num_classes=3, img_size=64, seed=0)
    val = generate("val", 1, num_classes=3, img_size=64, seed=0)
    cfg = DetectorConfig.small(num_classes=3, img_size=64, num_epochs=1, lr_milestones=(1,))
    torch.manual_seed(0)
    m = build_detector(cfg)
    from neurovis.checkout import train_detector

    hist = train_detector(m, train, cfg, "cpu", evaluate=val_evaluator(val, "cpu"))
    assert len(hist["loss"]) == 1 and np.isfinite(hist["loss"][0])
    assert {"loss_objectness", "loss_classifier", "val_ap", "val_ap50", "val_ap75"} <= set(hist)
    assert 0.0 <= hist["val_ap50"][0] <= 1.0
