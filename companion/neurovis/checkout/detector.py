"""The detector: torchvision's Faster R-CNN configured as the paper (Section 3.3) and trained with
the book's ``fit``. What the paper adds to the library's detector is written here and only that:

- anchors of 128, 256, 512 px with aspect ratios 1:2, 2:1, 1:1 (nine per feature-map point);
- RPN training on 64 sampled anchors, up to half positive, negatives filling the rest (Eq. 2-5);
- anchors that cross the image boundary ignored in training (``CrossBoundaryRPN``);
- RoI *max* pooling to 7x7 on the last ResNet stage (``RoIMaxPool``, Section 3.3.2), 64 RoIs per
  image;
- SGD, momentum 0.9, weight decay, a decaying learning rate, batch 4 (Section 4.2); the rate the
  paper leaves open follows the linear-scaling rule (Goyal et al. 2017: 0.02 per 16 images, so
  0.005 at batch 4) with a linear warmup, the multiplier chosen on validation trays.

For training the paper's ResNet-50 on RPC (on a GPU), torchvision's detection practice:

- ``resnet50_trunk``: FrozenBatchNorm2d everywhere, stem and layer1 frozen (``trainable_layers``
  = 3), ImageNet weights through torchvision's weights API;
- ``make_loader``: optional persistent worker processes and pinned memory, with a shuffle
  (``EpochShuffle``) that depends on (seed, epoch) only, so batches are the same with or without
  workers and after a checkpoint resume; images decoded once into ``load_rpc``'s ``cache_dir``.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, replace

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.models.resnet import BasicBlock
from torchvision.ops import FrozenBatchNorm2d

from ..core.training import TrainConfig, fit


@dataclass(frozen=True)
class DetectorConfig:
    """Faster R-CNN settings. ``paper()``: ResNet-50, ~450-px inputs, the paper's anchors;
    ``small()``: a three-stage mini ResNet at 112 px with the anchors scaled by the same 1/4."""

    num_classes: int = 200  # product classes (background excluded)
    backbone: str = "resnet50"  # "resnet50" | "mini_resnet"
    widths: tuple = (32, 64, 128)  # mini_resnet stage widths
    # ImageNet ResNet-50 (the paper's start); needs internet once
    pretrained_backbone: bool = False
    trainable_backbone_layers: int = 3  # ResNet-50: of (conv1, layer1..4), the last ones learn
    num_workers: int = 0  # data-loading processes (the paper path: ``default_workers()``)
    img_size: int = 448
    anchor_sizes: tuple = (128, 256, 512)
    aspect_ratios: tuple = (0.5, 2.0, 1.0)  # height/width: 1:2, 2:1, 1:1
    rpn_batch_size: int = 64
    rpn_positive_fraction: float = 0.5
    ignore_cross_boundary: bool = True
    # "max" (the paper's RoI pooling) | "align" (torchvision's RoIAlign)
    roi_pool: str = "max"
    roi_size: int = 7
    box_batch_size: int = 64
    representation: int = 1024
    rpn_pre_nms_train: int = 2000
    rpn_post_nms_train: int = 2000
    rpn_pre_nms_test: int = 1000
    rpn_post_nms_test: int = 1000
    detections_per_img: int = 100
    lr: float = 0.005  # linear-scaling rule: 0.02 x batch_size / 16
    warmup_iters: int = 200  # linear warmup from lr / 10 over the first optimiser steps
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 4
    num_epochs: int = 40
    lr_milestones: tuple = (30, 36)
    lr_gamma: float = 0.1
    clip_grad_norm: float | None = None

    def __post_init__(self):
        if self.backbone not in ("resnet50", "mini_resnet"):
            raise ValueError(f"backbone must be 'resnet50' or 'mini_resnet', got {self.backbone!r}")
        if self.roi_pool not in ("max", "align"):
            raise ValueError(f"roi_pool must be 'max' or 'align', got {self.roi_pool!r}")
        if self.lr <= 0 or self.warmup_iters < 0:
            raise ValueError(
                f"need lr > 0 and warmup_iters >= 0, got {self.lr}, {self.warmup_iters}"
            )
        if not 0 < self.rpn_positive_fraction <= 1:
            raise ValueError(
                f"rpn_positive_fraction must be in (0, 1], got {self.rpn_positive_fraction}"
            )

    @staticmethod
    def scaled_lr(batch_size: int, per_16: float = 0.02) -> float:
        """The linear-scaling rule (Goyal et al. 2017): ``per_16`` for 16 images per batch, scaled
        with the batch (0.005 at the paper's batch 4)."""
        return per_16 * batch_size / 16

    @classmethod
    def paper(cls, num_classes: int = 200, **kw) -> "DetectorConfig":
        """Section 3-4: ResNet-50 (ImageNet start, frozen BatchNorm, stem and layer1 frozen),
        ~450-px inputs, 40 epochs, batch 4, a pool of data-loading workers."""
        base = cls(num_classes=num_classes, pretrained_backbone=True, num_workers=default_workers())
        return replace(base, **kw)

    @classmethod
    def small(cls, num_classes: int = 8, img_size: int = 112, **kw) -> "DetectorConfig":
        """CPU scale: a mini ResNet (7x7/2 stem, 3x3/2 max pool, three residual stages, stride 8) at
        112 px, so the feature map is 14x14 and there are 9 x 14 x 14 = 1,764 anchors as in the
        paper; anchors scaled with the image (x 1/4); fewer proposals."""
        s = img_size / 448
        base = cls(
            num_classes=num_classes,
            backbone="mini_resnet",
            img_size=img_size,
            anchor_sizes=tuple(int(round(a * s)) for a in (128, 256, 512)),
            representation=256,
            rpn_pre_nms_train=300,
            rpn_post_nms_train=150,
            rpn_pre_nms_test=200,
            rpn_post_nms_test=60,
            detections_per_img=40,
            warmup_iters=100,
            num_epochs=6,
            lr_milestones=(5,),
        )
        return replace(base, **kw)


class MiniResNet(nn.Sequential):
    """ResNet in miniature (Figure 2): 7x7/2 conv, 3x3/2 max pool, then residual stages of
    ``widths`` (BasicBlock, the second one with stride 2): output stride 8, ``out_channels`` =
    widths[-1]."""

    def __init__(self, widths=(32, 64, 128)):
        w0, w1, w2 = widths

        def down(cin, cout, stride):
            return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        super().__init__(
            nn.Conv2d(3, w0, 7, 2, 3, bias=False),
            nn.BatchNorm2d(w0),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
            BasicBlock(w0, w0),
            BasicBlock(w0, w1, stride=2, downsample=down(w0, w1, 2)),
            BasicBlock(w1, w2, downsample=down(w1, w2, 1)),
        )
        self.out_channels = w2


def resnet50_trunk(pretrained: bool = False, trainable_layers: int = 3) -> nn.Module:
    """torchvision's ResNet-50 up to its last stage (2048 channels, stride 32): the paper's
    backbone, set up as torchvision's detection models do. Every BatchNorm is a
    ``FrozenBatchNorm2d`` (batch-4 statistics are too noisy to update; ImageNet's stay), and only
    the last ``trainable_layers`` of (conv1, layer1, ..., layer4) learn; the default 3 freezes the
    stem and layer1 (torchvision's ``trainable_backbone_layers=3``). ``pretrained``: ImageNet
    weights (Section 4.2: "we loaded the pre-trained parameters of ResNet50"), loaded by
    torchvision's weights API (downloaded once into the torch hub cache). Without them the frozen
    layers stay at their random start: that is only for tests and shape checks."""
    if not 0 <= trainable_layers <= 5:
        raise ValueError(f"trainable_layers must be in 0..5, got {trainable_layers}")
    weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V1 if pretrained else None
    r = torchvision.models.resnet50(weights=weights, norm_layer=FrozenBatchNorm2d)
    train = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    for name, p in r.named_parameters():
        if not any(name.startswith(layer) for layer in train):
            p.requires_grad_(False)
    trunk = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1, r.layer2, r.layer3, r.layer4)
    trunk.out_channels = 2048
    return trunk


def cross_boundary(anchors: torch.Tensor, image_size, border: float = 0.0) -> torch.Tensor:
    """(A,) bool: anchors (A, 4; x0 y0 x1 y1) reaching past the (h, w) image by more than
    ``border``."""
    h, w = image_size
    return (
        (anchors[:, 0] < -border)
        | (anchors[:, 1] < -border)
        | (anchors[:, 2] > w + border)
        | (anchors[:, 3] > h + border)
    )


class CrossBoundaryRPN(RegionProposalNetwork):
    """torchvision's RPN whose training ignores anchors that cross the image boundary (Section
    3.3.1: "some of the anchor boxes ... may span across boundaries, but we ignore those"): their
    label is set to -1 (neither positive nor negative) before the 64 anchors are sampled, so they
    never enter L_RPN (Eq. 5). At inference all anchors propose (their boxes are clipped), as in Ren
    et al."""

    def __init__(self, *args, ignore_cross_boundary: bool = True, **kw):
        super().__init__(*args, **kw)
        self.ignore_cross_boundary = ignore_cross_boundary
        self._image_sizes = None

    def forward(self, images, features, targets=None):
        self._image_sizes = images.image_sizes
        return super().forward(images, features, targets)

    def assign_targets_to_anchors(self, anchors, targets):
        labels, matched = super().assign_targets_to_anchors(anchors, targets)
        if self.ignore_cross_boundary:
            for lab, a, size in zip(labels, anchors, self._image_sizes):
                lab[cross_boundary(a, size)] = -1.0
        return labels, matched


class RoIMaxPool(nn.Module):
    """RoI pooling (Section 3.3.2): each proposal's feature-map region cut into 7x7 cells,
    max-pooled (``torchvision.ops.roi_pool``); the spatial scale is inferred like torchvision's
    MultiScaleRoIAlign."""

    def __init__(self, output_size: int = 7):
        super().__init__()
        self.output_size = output_size

    def forward(self, features: dict, proposals: list, image_shapes: list) -> torch.Tensor:
        x = features["0"]
        approx = x.shape[-2] / max(s[0] for s in image_shapes)
        scale = 2.0 ** round(math.log2(approx))
        return torchvision.ops.roi_pool(x, proposals, self.output_size, scale)


def build_detector(cfg: DetectorConfig) -> FasterRCNN:
    """torchvision Faster R-CNN with the paper's anchors, RPN sampling, cross-boundary rule and RoI
    pool."""
    if cfg.backbone == "resnet50":
        backbone, stride = (
            resnet50_trunk(cfg.pretrained_backbone, cfg.trainable_backbone_layers),
            32,
        )
    else:
        backbone, stride = MiniResNet(cfg.widths), 8
    anchors = AnchorGenerator(
        sizes=(tuple(cfg.anchor_sizes),), aspect_ratios=(tuple(cfg.aspect_ratios),)
    )
    align = torchvision.ops.MultiScaleRoIAlign(["0"], cfg.roi_size, sampling_ratio=2)
    c = backbone.out_channels
    model = FasterRCNN(
        backbone,
        num_classes=None,
        min_size=cfg.img_size,
        max_size=cfg.img_size,
        rpn_anchor_generator=anchors,
        box_roi_pool=align,
        box_head=TwoMLPHead(c * cfg.roi_size**2, cfg.representation),
        box_predictor=FastRCNNPredictor(cfg.representation, cfg.num_classes + 1),
        box_batch_size_per_image=cfg.box_batch_size,
        box_detections_per_img=cfg.detections_per_img,
    )
    model.rpn = CrossBoundaryRPN(
        anchors,
        RPNHead(c, anchors.num_anchors_per_location()[0]),
        fg_iou_thresh=0.7,
        bg_iou_thresh=0.3,
        batch_size_per_image=cfg.rpn_batch_size,
        positive_fraction=cfg.rpn_positive_fraction,
        pre_nms_top_n=dict(training=cfg.rpn_pre_nms_train, testing=cfg.rpn_pre_nms_test),
        post_nms_top_n=dict(training=cfg.rpn_post_nms_train, testing=cfg.rpn_post_nms_test),
        nms_thresh=0.7,
        ignore_cross_boundary=cfg.ignore_cross_boundary,
    )
    # the constructor only accepts RoIAlign; swap in the paper's max pooling
    if cfg.roi_pool == "max":
        model.roi_heads.box_roi_pool = RoIMaxPool(cfg.roi_size)
    model.transform.size_divisible = stride
    return model


class DetectionDataset(torch.utils.data.Dataset):
    """(image (3, H, W) float in [0, 1], target {boxes, labels, image_id}) pairs of a
    CheckoutSet."""

    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        img = (
            torch.from_numpy(np.ascontiguousarray(self.data.image(i))).permute(2, 0, 1).float()
            / 255
        )
        t = self.data.target(i)
        return img, {
            "boxes": torch.from_numpy(t["boxes"]),
            "labels": torch.from_numpy(t["labels"]),
            "image_id": t["image_id"],
        }


def collate(batch):
    return tuple(zip(*batch))


def detection_loss(model, batch):
    """Faster R-CNN's four losses summed: L_RPN (Eq. 5: objectness Eq. 2 + smooth-L1 Eq. 3-4) and
    the Fast R-CNN head's classification and box regression; returned with each term for the
    history."""
    images, targets = batch
    dev = next(model.parameters()).device
    losses = model(
        [im.to(dev, non_blocking=True) for im in images],
        [
            {
                "boxes": t["boxes"].to(dev, non_blocking=True),
                "labels": t["labels"].to(dev, non_blocking=True),
            }
            for t in targets
        ],
    )
    return sum(losses.values()), {k: v.item() for k, v in losses.items()}


class EpochShuffle(torch.utils.data.Sampler):
    """A seeded shuffle whose order is a function of (seed, epoch) alone, so that it is the same
    with or without worker processes (persistent ones included) and after a resume (``fit`` calls
    ``set_epoch``). Epoch e's order is the one a ``DataLoader(shuffle=True,
    generator=torch.Generator().manual_seed(seed))`` iterated in one process gives in its e-th
    pass (per pass: one int64 drawn for the worker seed, then ``RandomSampler``'s permutation), so
    the in-process order of earlier versions is kept. Without ``set_epoch`` each pass is the next
    epoch."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0
        self._gen, self._next = None, None  # replay state: generator positioned before epoch _next

    def __len__(self):
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self, epoch: int) -> list:
        if self._next is None or epoch < self._next:
            self._gen, self._next = torch.Generator().manual_seed(self.seed), 0
        g = self._gen
        while True:
            torch.empty((), dtype=torch.int64).random_(generator=g)  # the loader's worker seed
            order = list(torch.utils.data.RandomSampler(range(self.n), generator=g))
            self._next += 1
            if self._next > epoch:
                return order

    def __iter__(self):
        order = self._order(self.epoch)
        self.epoch += 1
        return iter(order)


def _seed_worker(worker_id: int) -> None:
    """numpy's and Python's RNGs in a loader worker seeded from torch's per-worker seed (which the
    loader derives from its seeded generator), as PyTorch's reproducibility notes advise."""
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def make_loader(
    data,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    num_workers: int = 0,
    pin_memory: bool | None = None,
    prefetch_factor: int | None = None,
):
    """Batches of (images, targets) from a CheckoutSet, shuffled by ``EpochShuffle(seed)``.

    ``num_workers`` > 0 (the paper path on RPC: e.g. ``min(8, os.cpu_count())``) decodes images in
    persistent worker processes; ``pin_memory`` (default: when CUDA is available) puts batches in
    page-locked memory so the copies to the GPU overlap compute. The batches and their order do
    not depend on ``num_workers``. In-memory generated sets need neither (default 0)."""
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    extra = {}
    if num_workers > 0:
        extra = dict(
            persistent_workers=True,
            worker_init_fn=_seed_worker,
            prefetch_factor=prefetch_factor or 2,
        )
    return torch.utils.data.DataLoader(
        DetectionDataset(data),
        batch_size=batch_size,
        sampler=EpochShuffle(len(data), seed) if shuffle else None,
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),
        **extra,
    )


def default_workers() -> int:
    """Loader workers for the paper path on RPC: up to 8, one per CPU core available."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(8, n or 1)


def train_detector(
    model,
    train_set,
    cfg: DetectorConfig,
    device,
    seed: int = 0,
    evaluate=None,
    checkpoint_path=None,
    on_epoch_end=None,
) -> dict:
    """Train with SGD (momentum 0.9, weight decay) at ``cfg.lr``, batch ``cfg.batch_size``: a linear
    warmup from lr/10 over the first ``cfg.warmup_iters`` steps, the rate divided by 10 at each of
    ``cfg.lr_milestones`` (epochs); ``evaluate(model)`` and then ``on_epoch_end(epoch, history)``
    after every epoch (e.g. ``core.training.KeepBest``); ``checkpoint_path``: save after every epoch
    and resume from there (``core.training.fit``)."""
    torch.manual_seed(seed)
    loader = make_loader(train_set, cfg.batch_size, seed, num_workers=cfg.num_workers)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    steps = len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda it: lr_factor(it, steps, cfg.warmup_iters, cfg.lr_milestones, cfg.lr_gamma)
    )
    tc = TrainConfig(
        num_epochs=cfg.num_epochs,
        clip_grad_norm=cfg.clip_grad_norm,
        checkpoint_path=checkpoint_path,
        desc="Faster R-CNN",
    )
    return fit(
        model,
        detection_loss,
        loader,
        opt,
        tc,
        device,
        step_scheduler=sched,
        evaluate=evaluate,
        on_epoch_end=on_epoch_end,
    )


def lr_factor(it: int, steps_per_epoch: int, warmup: int, milestones, gamma: float) -> float:
    """The learning-rate multiplier of optimiser step ``it`` (0-based): linear from 0.1 to 1 over
    ``warmup`` steps, times ``gamma`` for each epoch milestone passed."""
    w = 1.0 if it >= warmup else 0.1 + 0.9 * it / warmup
    return w * gamma ** sum(it >= m * steps_per_epoch for m in milestones)


@torch.no_grad()
def predict(model, data, device, batch_size: int = 8) -> list[dict]:
    """Detections for every image of ``data`` at network resolution: [{boxes (n, 4), scores,
    labels}]."""
    model.eval().to(device)
    out = []
    for imgs, _ in make_loader(data, batch_size, 0, shuffle=False):
        for d in model([im.to(device) for im in imgs]):
            out.append({k: v.cpu().numpy() for k, v in d.items()})
    return out


def to_coco_detections(data, preds: list[dict]) -> list[dict]:
    """COCO result entries in camera pixels: the network's boxes multiplied by the downscale factor
    (Section 3.1: "the predicted coordinates ... are multiplied by four")."""
    res = []
    for i, d in enumerate(preds):
        f = data.factor_of(i)
        for b, s, c in zip(d["boxes"], d["scores"], d["labels"]):
            x0, y0, x1, y1 = (float(v) * f for v in b)
            res.append(
                {
                    "image_id": data.ids[i],
                    "category_id": int(c),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(s),
                }
            )
    return res


def conv_path(module: nn.Module) -> list[tuple[int, int]]:
    """(kernel, stride) of every convolution and pooling layer on the main path of ``module``, in
    order (residual ``downsample`` shortcuts skipped: they do not widen the receptive field)."""
    out = []
    for name, m in module.named_modules():
        if "downsample" in name:
            continue
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            k, s = m.kernel_size, m.stride
            out.append((k[0] if isinstance(k, tuple) else k, s[0] if isinstance(s, tuple) else s))
    return out


def receptive_field(layers) -> int:
    """Eq. 1 from the output back to the input: RF_i = (RF_{i+1} - 1) * Stride_i + Ksize_i, starting
    from one output unit. ``layers``: (kernel, stride) pairs in forward order, or a module."""
    if isinstance(layers, nn.Module):
        layers = conv_path(layers)
    rf = 1
    for k, s in reversed(list(layers)):
        rf = (rf - 1) * s + k
    return rf


def receptive_fields(widths=(32, 64, 128)) -> dict:
    """Eq. 1 for the backbones the paper compares (Section 3.2) and ours. The paper's 483 for
    ResNet-50 is the original ResNet (stride 2 in each stage's first 1x1 conv); torchvision's
    ResNet-50 ("v1.5", stride in the 3x3 conv) has 427. VGG16's 212 is through its last pooling
    layer."""
    with torch.device("meta"):  # only the layer shapes are needed: no memory, no init cost
        return _receptive_fields(widths)


def _receptive_fields(widths):
    v1 = torchvision.models.resnet50()
    for layer in (v1.layer2, v1.layer3, v1.layer4):
        layer[0].conv1.stride, layer[0].conv2.stride = (2, 2), (1, 1)
    trunk_v1 = nn.Sequential(
        v1.conv1, v1.bn1, v1.relu, v1.maxpool, v1.layer1, v1.layer2, v1.layer3, v1.layer4
    )
    return {
        "VGG16 (through pool5)": receptive_field(torchvision.models.vgg16().features),
        "ResNet-50, original (stride in 1x1)": receptive_field(trunk_v1),
        "ResNet-50, torchvision (stride in 3x3)": receptive_field(resnet50_trunk()),
        "mini ResNet (small scale)": receptive_field(MiniResNet(widths)),
    }


@torch.no_grad()
def anchor_summary(model, img_size: int) -> "pd.DataFrame":  # noqa: F821 (imported inside)
    """Anchors of ``model`` on an ``img_size`` square image: per anchor size, how many there are and
    how many cross the image boundary (ignored in RPN training)."""
    import pandas as pd
    from torchvision.models.detection.image_list import ImageList

    model = model.eval()
    x = torch.zeros(1, 3, img_size, img_size, device=next(model.parameters()).device)
    il = ImageList(x, [(img_size, img_size)])
    feats = model.backbone(x)
    a = model.rpn.anchor_generator(il, [feats])[0].cpu()
    side = np.sqrt(((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])).numpy()).round().astype(int)
    out = cross_boundary(a, (img_size, img_size)).numpy()
    rows = {
        int(s): {"anchors": int((side == s).sum()), "cross the boundary": int(out[side == s].sum())}
        for s in sorted(set(side.tolist()))
    }
    rows["all"] = {"anchors": len(a), "cross the boundary": int(out.sum())}
    df = pd.DataFrame(rows).T
    df.index.name = "anchor size (px)"
    return df
