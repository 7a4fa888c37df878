"""neurovis.restoration: operators, closed forms, grouping, one MS-GSRC run, input checks."""
import math

import numpy as np
import pytest
import torch

from neurovis.restoration import (BlockCS, Identity, Mask, MSGSRCConfig, add_gaussian_noise, block_matching,
                                  group_sparse_codes, load_grey, low_rank_codes, msgsrc, pca_dictionary, psnr,
                                  singular_value_threshold, soft_threshold)
from neurovis.restoration.grouping import extract_patches
from neurovis.restoration.msgsrc import x_update


def smooth_image(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, n), torch.linspace(0, 1, n), indexing="ij")
    img = 120 + 60 * torch.sin(6 * xx) * torch.cos(4 * yy) + 40 * (xx > 0.5).float()
    return img + 2 * torch.randn(n, n, generator=g)


@pytest.mark.parametrize("make", [
    lambda: Identity((32, 32)),
    lambda: Mask.random((32, 32), 0.6, torch.Generator().manual_seed(1)),
    lambda: BlockCS((64, 64), 0.25, block=32, generator=torch.Generator().manual_seed(2)),
])
def test_operators_are_adjoint(make):
    op = make()
    g = torch.Generator().manual_seed(3)
    shape = (64, 64) if isinstance(op, BlockCS) else (32, 32)
    x = torch.randn(shape, generator=g)
    y = torch.randn(op.forward(x).shape, generator=g)
    assert torch.allclose((op.forward(x) * y).sum(), (x * op.adjoint(y)).sum(), rtol=1e-4, atol=1e-3)
    assert torch.allclose(op.gram(x), op.adjoint(op.forward(x)), atol=1e-4)


def test_mask_and_projection_shapes():
    m = Mask.random((40, 50), 0.7, torch.Generator().manual_seed(0))
    assert m.mask.shape == (40, 50) and int((m.mask == 0).sum()) == round(0.7 * 2000)
    cs = BlockCS((64, 96), 0.1, generator=torch.Generator().manual_seed(0))
    assert cs.phi.shape == (round(0.1 * 1024), 1024)
    assert torch.allclose(cs.phi @ cs.phi.T, torch.eye(cs.phi.shape[0]), atol=1e-5)
    assert cs.forward(torch.zeros(64, 96)).shape == (6, cs.phi.shape[0])


def test_soft_threshold_closed_form():
    x = torch.tensor([-3.0, -0.5, 0.0, 0.4, 2.0])
    assert torch.equal(soft_threshold(x, 1.0), torch.tensor([-2.0, 0.0, 0.0, 0.0, 1.0]))


def test_svt_solves_the_nuclear_norm_problem():
    """SVT(Y, τ) minimises ½‖Y − X‖²_F + τ‖X‖_* : no random perturbation does better."""
    g = torch.Generator().manual_seed(0)
    Y = torch.randn(6, 9, generator=g, dtype=torch.float64)
    tau = 1.3
    X = singular_value_threshold(Y, tau)
    f = lambda Z: 0.5 * (Y - Z).pow(2).sum() + tau * torch.linalg.svdvals(Z).sum()
    for _ in range(50):
        assert f(X) <= f(X + 1e-3 * torch.randn(6, 9, generator=g, dtype=torch.float64)) + 1e-12
    S = torch.linalg.svdvals(Y)
    assert torch.allclose(torch.linalg.svdvals(X), (S - tau).clamp_min(0), atol=1e-10)


def test_pca_dictionary_is_orthonormal_and_sorted():
    Y = torch.randn(5, 16, 30, generator=torch.Generator().manual_seed(0))
    D, ev = pca_dictionary(Y - Y.mean(-1, keepdim=True))
    eye = torch.eye(16).expand(5, 16, 16)
    assert torch.allclose(D.transpose(1, 2) @ D, eye, atol=1e-5)
    assert (ev[:, :-1] >= ev[:, 1:] - 1e-5).all()


def test_low_rank_codes_equal_svt_of_the_codes():
    """In the PCA basis the row-scaling shortcut equals a batched SVT with the same thresholds."""
    g = torch.Generator().manual_seed(0)
    Y = torch.randn(4, 12, 40, generator=g) * torch.linspace(8, 0.5, 12)[:, None]
    Yc = Y - Y.mean(-1, keepdim=True)
    D, ev = pca_dictionary(Yc)
    P = D.transpose(1, 2) @ Yc
    B = low_rank_codes(P, ev, sigma_e=1.0, beta=1.0, eps=1e-8)
    n_ij = torch.sqrt(torch.clamp(ev / 40 - 1.0, min=0))
    theta = 2 * math.sqrt(2) * 1.0 / (n_ij + 1e-8)
    ref = singular_value_threshold(P, theta)
    assert torch.allclose(B, ref, atol=1e-3)


def test_group_sparse_codes_shrink_residual_towards_B():
    P, B = torch.tensor([[[3.0, 0.2]]]), torch.tensor([[[1.0, 0.0]]])
    A = group_sparse_codes(P, B, sigma_e=1.0, alpha=0.0, eps=1e-8)
    assert torch.allclose(A, P)                          # α = 0: no shrinkage
    A = group_sparse_codes(P, B, sigma_e=10.0, alpha=10.0, eps=1e-8)
    assert torch.allclose(A, B)                          # huge threshold: A = B


def test_block_matching_finds_planted_copies():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(40, 40, generator=g) * 255
    patch = img[5:12, 5:12].clone()
    for (r, c) in [(20, 22), (30, 8)]:
        img[r:r + 7, c:c + 7] = patch
    groups = block_matching(img, patch=7, window=61, k=3, step=5, scales=(1.0,))
    pw = 40 - 7 + 1
    ref = (groups.ref_index == 5 * pw + 5).nonzero()[0, 0]
    assert set(groups.index[ref].tolist()) == {5 * pw + 5, 20 * pw + 22, 30 * pw + 8}
    table = extract_patches(img, 7)
    assert torch.allclose(table[groups.index[ref]], patch.reshape(1, -1).expand(3, -1))


def test_block_matching_multiscale_uses_the_coarse_copy():
    img = smooth_image(48)
    groups = block_matching(img, patch=6, window=15, k=20, step=6, scales=(1.0, 0.8))
    assert groups.index.shape == (len(groups.ref_index), 20)
    assert (~groups.is_fine).any() and groups.is_fine[:, 0].all()
    assert groups.gather(img).shape == (len(groups.ref_index), 36, 20)


def test_x_update_closed_form_and_gradient_step_agree_at_the_fixed_point():
    x = smooth_image(32)
    op = Mask.random(x.shape, 0.5, torch.Generator().manual_seed(0))
    y, s, c = op.forward(x), x + 1.0, torch.zeros_like(x)
    closed = x_update(op, y, s, c, x, sigma=2.0, zeta=3.0)
    grad = (op.gram(closed) - op.adjoint(y)) / 4.0 + (closed - s - c) / 3.0
    assert grad.abs().max() < 1e-4
    cs = BlockCS((64, 64), 0.3, generator=torch.Generator().manual_seed(0))
    xx = torch.rand(64, 64) * 255
    yy, ss = cs.forward(xx), xx + 5
    exact = x_update(cs, yy, ss, torch.zeros_like(xx), xx, 2.0, 3.0, steps=0)
    iterated = x_update(cs, yy, ss, torch.zeros_like(xx), xx.clone(), 2.0, 3.0, steps=300)
    assert torch.allclose(exact, iterated, atol=1e-2)


def test_one_iteration_does_not_lower_psnr_and_denoising_gains_4db():
    g = torch.Generator().manual_seed(0)
    x = smooth_image(64)
    y = add_gaussian_noise(x, 20.0, g)
    one = msgsrc(y, Identity(x.shape), MSGSRCConfig.denoising(20, iters=1), clean=x)
    assert one.history["psnr"][0] > psnr(y, x)
    full = msgsrc(y, Identity(x.shape), MSGSRCConfig.denoising(20, iters=4), clean=x)
    assert psnr(full.image, x) > psnr(y, x) + 4.0
    assert full.history["psnr"][-1] >= full.history["psnr"][0] - 0.1


def test_inpainting_beats_its_interpolated_start():
    from neurovis.restoration import interpolate_missing
    x = smooth_image(64)
    op = Mask.random(x.shape, 0.7, torch.Generator().manual_seed(0))
    y = op.forward(x)
    x0 = interpolate_missing(y, op)
    out = msgsrc(y, op, MSGSRCConfig.inpainting(0.7, iters=4), x0=x0)
    assert psnr(out.image, x) > psnr(x0, x)


@pytest.mark.parametrize("bad, err, msg", [
    (torch.zeros(2, 8, 8), ValueError, "2-D"),
    (torch.full((16, 16), float("nan")), ValueError, "NaN"),
    (torch.zeros(16, 16, dtype=torch.uint8), TypeError, "floating-point"),
    (np.zeros((16, 16)), TypeError, "torch.Tensor"),
])
def test_bad_images_are_rejected(bad, err, msg):
    with pytest.raises(err, match=msg):
        msgsrc(bad, Identity((16, 16)), MSGSRCConfig.denoising(25))


def test_bad_parameters_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="sigma"):
        MSGSRCConfig.denoising(0)
    with pytest.raises(ValueError, match="sigma"):
        add_gaussian_noise(torch.zeros(4, 4), -1.0)
    with pytest.raises(ValueError, match="missing_ratio"):
        Mask.random((8, 8), 1.0)
    with pytest.raises(ValueError, match="missing_ratio"):
        MSGSRCConfig.inpainting(1.0)
    with pytest.raises(ValueError, match="subrate"):
        BlockCS((32, 32), 0.0)
    with pytest.raises(ValueError, match="multiple of the CS block"):
        BlockCS((40, 32), 0.1)
    with pytest.raises(ValueError, match="scales"):
        MSGSRCConfig(scales=(1.0, 1.5))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png: not a readable image"):
        load_grey(broken)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_grey(tmp_path / "missing.png")


def test_luminance_of_colour_images(tmp_path):
    from PIL import Image
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 1] = 200
    Image.fromarray(rgb).save(tmp_path / "green.png")
    y = load_grey(tmp_path / "green.png")
    assert y.shape == (8, 8) and abs(float(y.mean()) - 0.587 * 200) < 1.5


def test_paper_scale_folder_loader(tmp_path, monkeypatch):
    from PIL import Image
    from neurovis.core import DataNotFoundError
    from neurovis.restoration import folder_images
    monkeypatch.delenv("NEUROVIS_DATA_ROOT", raising=False)
    with pytest.raises(DataNotFoundError, match="BSD68"):
        folder_images(None, "BSD68", "get it")
    (tmp_path / "BSD68").mkdir()
    Image.fromarray(np.full((10, 12), 7, np.uint8)).save(tmp_path / "BSD68" / "test001.png")
    imgs = folder_images(tmp_path, "BSD68", "get it")
    assert list(imgs) == ["test001"] and imgs["test001"].shape == (10, 12)


def test_embedded_set12_is_complete():
    from neurovis.restoration import embedded_images
    imgs = embedded_images()
    assert len(imgs) == 12 and all(v.shape == (256, 256) for v in imgs.values())
