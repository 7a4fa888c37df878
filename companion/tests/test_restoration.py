"""neurovis.restoration: operators, closed forms, grouping, one MS-GSRC run, input checks."""

import math

import numpy as np
import pytest
import torch

from neurovis.restoration import (
    BlockCS,
    Identity,
    Mask,
    MSGSRCConfig,
    add_gaussian_noise,
    block_matching,
    group_sparse_codes,
    load_grey,
    low_rank_codes,
    msgsrc,
    pca_dictionary,
    psnr,
    singular_value_threshold,
    soft_threshold,
)
from neurovis.restoration.grouping import extract_patches
from neurovis.restoration.msgsrc import x_update


def smooth_image(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, n), torch.linspace(0, 1, n), indexing="ij")
    img = 120 + 60 * torch.sin(6 * xx) * torch.cos(4 * yy) + 40 * (xx > 0.5).float()
    return img + 2 * torch.randn(n, n, generator=g)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Identity((32, 32)),
        lambda: Mask.random((32, 32), 0.6, torch.Generator().manual_seed(1)),
        lambda: BlockCS((64, 64), 0.25, block=32, generator=torch.Generator().manual_seed(2)),
    ],
)
def test_operators_are_adjoint(make):
    op = make()
    g = torch.Generator().manual_seed(3)
    shape = (64, 64) if isinstance(op, BlockCS) else (32, 32)
    x = torch.randn(shape, generator=g)
    y = torch.randn(op.forward(x).shape, generator=g)
    assert torch.allclose(
        (op.forward(x) * y).sum(), (x * op.adjoint(y)).sum(), rtol=1e-4, atol=1e-3
    )
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
    assert torch.allclose(A, P)  # α = 0: no shrinkage
    A = group_sparse_codes(P, B, sigma_e=10.0, alpha=10.0, eps=1e-8)
    assert torch.allclose(A, B)  # huge threshold: A = B


def test_block_matching_finds_planted_copies():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(40, 40, generator=g) * 255
    patch = img[5:12, 5:12].clone()
    for r, c in [(20, 22), (30, 8)]:
        img[r : r + 7, c : c + 7] = patch
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


@pytest.mark.parametrize(
    "bad, err, msg",
    [
        (torch.zeros(2, 8, 8), ValueError, "2-D"),
        (torch.full((16, 16), float("nan")), ValueError, "NaN"),
        (torch.zeros(16, 16, dtype=torch.uint8), TypeError, "floating-point"),
        (np.zeros((16, 16)), TypeError, "torch.Tensor"),
    ],
)
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


# ---- chapter 11 at the reference scale: tuning, options, matching, real images ------------------
def test_soft_threshold_matches_the_sign_formula():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 7, generator=g) * 3
    tau = torch.rand(50, 1, generator=g) * 2
    assert torch.allclose(soft_threshold(x, tau), torch.sign(x) * torch.clamp(x.abs() - tau, min=0))


def test_coarse_scale_matching_equals_brute_force_distances():
    """The multi-scale group of a reference patch holds its k nearest patches over both scales,
    by squared distances computed by brute force over the search windows."""
    from neurovis.restoration.grouping import resize

    noise = torch.rand(48, 48, generator=torch.Generator().manual_seed(4))
    img = smooth_image(48, seed=3) + 20 * noise
    p, window, k, scale = 5, 11, 12, 0.75
    groups = block_matching(img, patch=p, window=window, k=k, step=7, scales=(1.0, scale))
    fine, coarse = extract_patches(img, p), extract_patches(resize(img, scale), p)
    table = torch.cat([fine, coarse])
    pw, hc = 48 - p + 1, resize(img, scale).shape[0]
    pwc, half = hc - p + 1, window // 2
    half_c = max(1, int(round(scale * half)))
    for g_i in (0, len(groups.ref_index) // 2, len(groups.ref_index) - 1):
        ref = int(groups.ref_index[g_i])
        ry, rx = divmod(ref, pw)
        cand = [
            cy * pw + cx
            for cy in range(max(0, ry - half), min(pw, ry + half + 1))
            for cx in range(max(0, rx - half), min(pw, rx + half + 1))
        ]
        cy0, cx0 = min(round(ry * scale), pwc - 1), min(round(rx * scale), pwc - 1)
        cand += [
            len(fine) + cy * pwc + cx
            for cy in range(max(0, cy0 - half_c), min(pwc, cy0 + half_c + 1))
            for cx in range(max(0, cx0 - half_c), min(pwc, cx0 + half_c + 1))
        ]
        d = ((table[cand] - fine[ref]) ** 2).sum(1)
        kth = torch.sort(d).values[k - 1]
        got = ((table[groups.index[g_i]] - fine[ref]) ** 2).sum(1)
        assert int(groups.index[g_i, 0]) == ref
        assert got.max() <= kth * (1 + 1e-4) + 1e-3  # no member farther than the k-th nearest
        assert len(set(groups.index[g_i].tolist())) == k


def test_eq21_and_dual_options():
    with pytest.raises(ValueError, match="rho"):
        MSGSRCConfig.denoising(25, eq21=True)
    assert not MSGSRCConfig.denoising(25).use_dual
    assert MSGSRCConfig.denoising(25, dual=True).use_dual
    assert MSGSRCConfig.inpainting(0.5).use_dual
    # Eq. 9's threshold 2λµ: with 2µ = 2 the residual is shrunk twice as far as with 2µ = 1
    P = torch.randn(3, 4, 20, generator=torch.Generator().manual_seed(0)) * 10
    B = torch.zeros_like(P)
    one = group_sparse_codes(P, B, 5.0, 0.2, 1e-8)
    two = group_sparse_codes(P, B, 5.0, 0.2, 1e-8, two_mu=2.0)
    assert torch.allclose(group_sparse_codes(P, B, 5.0, 0.4, 1e-8), two)
    assert (two.abs() <= one.abs() + 1e-6).all() and (two.abs() < one.abs()).any()
    x = smooth_image(48)
    y = add_gaussian_noise(x, 20.0, torch.Generator().manual_seed(1))
    base = MSGSRCConfig.denoising(20, iters=3)
    for cfg in (
        MSGSRCConfig.denoising(20, iters=3, dual=True),
        MSGSRCConfig.denoising(
            20, iters=3, eq21=True, rho=base.zeta / 400, alpha=base.alpha / (2 * base.zeta)
        ),
    ):
        assert psnr(msgsrc(y, Identity(x.shape), cfg).image, x) > psnr(y, x) + 3.0


def test_sigma_schedules():
    from neurovis.restoration.msgsrc import scheduled_sigma

    assert scheduled_sigma((20.0, 2.0), 0, 5) == 20.0
    assert math.isclose(scheduled_sigma((20.0, 2.0), 4, 5), 2.0)
    sched = [scheduled_sigma((20.0, 2.0, 0.9), t, 100) for t in range(60)]
    assert sched[0] == 20.0 and math.isclose(sched[1], 18.0) and min(sched) == 2.0
    assert all(a >= b for a, b in zip(sched, sched[1:]))


def test_coordinate_search_finds_the_optimum_and_prefers_cheap_speed_settings():
    from neurovis.restoration.tuning import coordinate_search

    f = lambda p: (-((p["a"] - 2) ** 2) - 0.001 * p["iters"], p["iters"] * 1.0)
    best, score, log = coordinate_search(
        f, {"a": 0, "iters": 8}, {"a": [1, 2, 3], "iters": [4, 6]}, speed_keys=("iters",)
    )
    assert best == {"a": 2, "iters": 4} and len(log) >= 5


def test_tuning_and_evaluation_sets_are_disjoint():
    from neurovis.restoration.tuning import CS_EVAL, DENOISE_EVAL, INPAINT_EVAL, check_disjoint

    check_disjoint(DENOISE_EVAL + INPAINT_EVAL + CS_EVAL)
    for bad in (["Barbara"], ["boats"], ["foreman"], ["Starfish", "Foreman"]):
        with pytest.raises(ValueError, match="tuning scenes"):
            check_disjoint(bad)


def test_baselines_wavelet_levels_and_biharmonic():
    from neurovis.restoration.baselines import (
        biharmonic_inpaint,
        interpolate_missing,
        wavelet_denoise,
    )

    x = smooth_image(64)
    y = add_gaussian_noise(x, 25.0, torch.Generator().manual_seed(0))
    assert psnr(wavelet_denoise(y, 25.0, levels=3), x) > psnr(y, x) + 2
    op = Mask.random(x.shape, 0.6, torch.Generator().manual_seed(0))
    obs = op.forward(x)
    bi = biharmonic_inpaint(obs, op)
    assert torch.allclose(bi[op.mask > 0], x[op.mask > 0], atol=1e-3)
    assert psnr(bi, x) > psnr(obs, x) + 10
    assert psnr(interpolate_missing(obs, op), x) > psnr(obs, x) + 10


def test_real_image_denoising_is_within_0p2_db_of_bm3d():
    """96×96 crop of an evaluation image (Starfish) at σ = 25: MS-GSRC within 0.2 dB of BM3D
    or better."""
    pytest.importorskip("bm3d")
    from neurovis.restoration import bm3d_denoise, embedded_images

    x = embedded_images(["Starfish"])["Starfish"][80:176, 80:176].contiguous()
    y = add_gaussian_noise(x, 25.0, torch.Generator().manual_seed(0))
    ours = psnr(msgsrc(y, Identity(x.shape), MSGSRCConfig.denoising(25)).image, x)
    assert ours >= psnr(bm3d_denoise(y, 25.0), x) - 0.2


def test_compressed_sensing_end_to_end_beats_its_bcs_start():
    from neurovis.restoration import bcs_spl, embedded_images

    x = embedded_images(["Airplane"])["Airplane"][96:160, 96:160].contiguous()
    op = BlockCS(x.shape, 0.3, generator=torch.Generator().manual_seed(0))
    y = op.forward(x)
    x0 = bcs_spl(y, op)
    out = msgsrc(y, op, MSGSRCConfig.compressed_sensing(0.3, iters=15), x0=x0, clean=x)
    assert psnr(out.image, x) > psnr(x0, x) + 0.5
    assert out.history["psnr"][-1] > out.history["psnr"][0]
