"""Specifications of neurovis.nrsfm (chapter 02, MCM-RR)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io as sio
import torch

from neurovis.core import DataNotFoundError
from neurovis.nrsfm import bases as nb
from neurovis.nrsfm import data as nd
from neurovis.nrsfm import mcmrr as nm


@pytest.fixture(autouse=True)
def _float64():
    """The solvers work in float64; restore the default for the other test files."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _random_rotations(n, rng):
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


# ---------------------------------------------------------------- proximal operators (Eq. 14-15)


def test_l1_ball_projection_satisfies_the_projection_inequality():
    g = torch.Generator().manual_seed(0)
    v = 2 * torch.randn(200, 5, generator=g)
    x = nm.project_l1_ball(v)
    assert (x.abs().sum(-1) <= 1 + 1e-12).all()
    # x = P(v) iff <v - x, y - x> <= 0 for every y in the ball: check all 10 vertices +-e_j
    for j in range(5):
        for s in (1.0, -1.0):
            y = torch.zeros(5)
            y[j] = s
            assert ((v - x) * (y - x)).sum(-1).max() <= 1e-10


def test_l1_ball_projection_keeps_inside_points_and_matches_a_hand_case():
    inside = torch.tensor([[0.2, -0.3, 0.1]])
    assert torch.equal(nm.project_l1_ball(inside), inside)
    # (2, 0.5): theta = 0.75 > 0.5, so the projection is the vertex (1, 0)
    assert torch.allclose(
        nm.project_l1_ball(torch.tensor([[2.0, 0.5]])), torch.tensor([[1.0, 0.0]])
    )
    # (0.8, 0.6): theta = 0.2 -> (0.6, 0.4)
    assert torch.allclose(
        nm.project_l1_ball(torch.tensor([[0.8, -0.6]])), torch.tensor([[0.6, -0.4]])
    )


def _prox_objective(M, P, t):
    return 0.5 * ((M - P) ** 2).sum() + t * torch.linalg.matrix_norm(M, ord=2)


def test_spectral_norm_prox_beats_random_perturbations_and_closed_forms_agree():
    g = torch.Generator().manual_seed(1)
    P = torch.randn(30, 2, 3, generator=g)
    t = torch.rand(30, generator=g) * 2
    M_svd, _ = nm.prox_spectral_norm(P, t)
    M_cf = nm.prox_spectral_norm_2x3(P, t)
    assert torch.allclose(M_svd, M_cf, atol=1e-12)
    for i in range(30):
        best = _prox_objective(M_svd[i], P[i], t[i])
        for _ in range(50):
            cand = M_svd[i] + 1e-3 * torch.randn(2, 3, generator=g)
            assert _prox_objective(cand, P[i], t[i]) >= best - 1e-12


def test_spectral_norm_prox_closed_form_cases():
    u, v = torch.tensor([0.6, 0.8]), torch.tensor([1.0, 0.0, 0.0])
    P = 3.0 * torch.outer(u, v)  # rank one, sigma = 3
    assert torch.allclose(nm.prox_spectral_norm_2x3(P, torch.tensor(1.0)), 2.0 * torch.outer(u, v))
    # nuclear norm of P <= t  ->  the prox is zero (P lies in t x the dual ball)
    assert torch.allclose(nm.prox_spectral_norm_2x3(P, torch.tensor(3.5)), torch.zeros(2, 3))
    # equal singular values (a scaled 2 x 3 rotation) shrink equally: sigma = 2 -> 2 - t/2
    R = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    assert torch.allclose(nm.prox_spectral_norm_2x3(2 * R, torch.tensor(1.0)), 1.5 * R)


# ---------------------------------------------------------------- Z update (Eq. 16-17)


def test_z_update_is_the_stationary_point_of_eq16_and_zsystem_matches_it():
    g = torch.Generator().manual_seed(2)
    F, K, p = 4, 3, 10
    Bt = torch.randn(3 * K, p, generator=g)
    W = torch.randn(F, 2, p, generator=g)
    M, Y = torch.randn(F, 2, 3 * K, generator=g), torch.randn(F, 2, 3 * K, generator=g)
    mu, beta = torch.rand(F, generator=g) + 0.5, 0.3
    D2 = torch.rand(F, 3 * K, generator=g) + 1
    Z = nm.update_Z(W @ Bt.T, Bt @ Bt.T, M, Y, mu, beta, D2).requires_grad_(True)
    L = (
        0.5 * ((W - Z @ Bt) ** 2).sum()
        + (Y * (M - Z)).sum()
        + beta / 2 * ((Z**2) * D2[:, None]).sum()
        + (mu[:, None, None] / 2 * (M - Z) ** 2).sum()
    )
    (grad,) = torch.autograd.grad(L, Z)
    assert grad.abs().max() < 1e-9
    system = nm.ZSystem(Bt, F, beta, D2)  # Woodbury form, as the solver uses it
    fast = system.solve(W @ Bt.T + mu[:, None, None] * M + Y, mu)
    assert torch.allclose(fast, Z.detach(), atol=1e-10)
    # a second call with mu changed for some frames refreshes exactly those frames
    mu2 = mu * torch.tensor([1.0, 2.0, 1.0, 0.5])
    Z2 = nm.update_Z(W @ Bt.T, Bt @ Bt.T, M, Y, mu2, beta, D2)
    assert torch.allclose(system.solve(W @ Bt.T + mu2[:, None, None] * M + Y, mu2), Z2, atol=1e-10)
    # a subset of the frames (stopped frames drop out)
    idx = torch.tensor([1, 3])
    sub = system.solve((W @ Bt.T + mu2[:, None, None] * M + Y)[idx], mu2[idx], idx)
    assert torch.allclose(sub, Z2[idx], atol=1e-10)


def test_mu_update_follows_eq19():
    mu = torch.ones(3)
    out = nm.update_mu(mu, torch.tensor([1.0, 0.01, 0.5]), torch.tensor([0.01, 1.0, 0.4]), 10.0)
    assert out.tolist() == [2.0, 0.5, 1.0]


# ---------------------------------------------------------------- rotation synchronisation (Eq. 22)


def test_rotation_synchronisation_is_orthonormal_and_exact_on_consistent_input():
    rng = np.random.default_rng(3)
    R3 = torch.as_tensor(_random_rotations(5, rng))
    c = torch.as_tensor(rng.normal(size=(5, 4)))
    M = c[:, :, None, None] * R3[:, None, :2]  # M_i = c_i R~
    R, c_hat = nm.sync_rotation(
        M + 1e-3 * torch.randn(M.shape, generator=torch.Generator().manual_seed(0))
    )
    assert torch.allclose(R @ R.mT, torch.eye(2).expand(5, 2, 2), atol=1e-12)
    sign = torch.sign((R * R3[:, :2]).sum((1, 2)))  # (c, R) ~ (-c, -R)
    assert torch.allclose(sign[:, None] * c_hat, c, atol=1e-2)
    assert torch.allclose(sign[:, None, None] * R, R3[:, :2], atol=1e-2)


# ------------------------------------------------------------ ADMM on a problem with a known answer


def _synthetic(F=6, K=4, p=20, seed=4):
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(K, 3, p))
    B -= B.mean(-1, keepdims=True)
    B /= np.linalg.norm(B, axis=(1, 2), keepdims=True)
    c = np.zeros((F, K))
    for f in range(F):  # one or two active bases per frame
        idx = rng.choice(K, size=1 + f % 2, replace=False)
        c[f, idx] = rng.uniform(0.5, 1.5, size=idx.size)
    R = _random_rotations(F, rng)
    S = np.einsum("fij,fk,kjp->fip", R, c, B)
    return nb.ShapeBases(torch.as_tensor(B), torch.zeros(K, 1)), S


def test_admm_recovers_a_synthetic_shape_up_to_reflection():
    bases, S = _synthetic()
    cfg = nm.ALMConfig.cra(alpha=1e-4, tol=1e-7, max_iter=3000)
    rec = nm.reconstruct(S[:, :2], bases, cfg)
    assert (rec.alm.iterations < 3000).all(), "ADMM did not meet the stopping rule of Eq. 21"
    assert nm.normalized_error(rec.S, S) < 1e-2
    assert np.allclose(rec.S[:, :2], S[:, :2], atol=1e-2)  # it explains the observations


def test_batched_solver_equals_frame_by_frame_loop():
    bases, S = _synthetic(F=5)
    cfg = nm.ALMConfig.mcmrr(alpha=0.01, beta=0.01, gamma2=0.5, similarity="aligned")
    batched = nm.reconstruct(S[:, :2], bases, cfg).S
    looped = nm.reconstruct_frame_by_frame(S[:, :2], bases, cfg)
    assert np.allclose(batched, looped, atol=1e-9)


def test_similarity_weights_prefer_the_basis_that_made_the_observation():
    bases, _ = _synthetic(K=4, p=20)
    rng = np.random.default_rng(5)
    R = torch.as_tensor(_random_rotations(4, rng))
    W = (R @ bases.B)[:, :2]  # frame i sees basis i
    d = nm.similarity_weights(W, bases.B, gamma2=0.5, mode="aligned")
    assert d.shape == (4, 4) and (d >= 1).all()
    assert torch.equal(d.argmin(1), torch.arange(4))
    assert torch.allclose(d.diagonal(), torch.ones(4), atol=1e-3)
    with pytest.raises(ValueError, match="gamma2"):
        nm.similarity_weights(W, bases.B, gamma2=0.0)


# ---------------------------------------------------------------- elastic-net bases (Eq. 5-9)


def test_elastic_net_objective_decreases_monotonically_and_respects_constraints():
    rng = np.random.default_rng(6)
    shapes = rng.normal(size=(60, 3, 8))
    cfg = nb.BasisConfig(num_bases=5, lam=0.05, tau=0.5, iterations=40, method="palm")
    out = nb.learn_shape_bases(shapes, cfg)
    obj = np.array(out.objective)
    assert (np.diff(obj) <= 1e-10 * obj[0]).all()
    assert obj[-1] < 0.9 * obj[0]
    assert (out.X >= 0).all()
    assert (out.B.flatten(1).norm(dim=1) <= 1 + 1e-12).all()
    assert out.B.shape == (5, 3, 8) and out.stacked().shape == (15, 8)


def test_elastic_net_objective_hand_case():
    A = torch.tensor([[1.0], [0.0]])
    N = torch.tensor([[1.0], [0.0]])
    X = torch.tensor([[0.5]])
    # 1/2 * 0.25 + 0.1 * (0.5 * 0.5 + 0.5 * 0.25) = 0.125 + 0.0375
    assert nb.elastic_net_objective(A, N, X, lam=0.1, tau=0.5) == pytest.approx(0.1625)


def test_basis_learning_rejects_bad_arguments():
    with pytest.raises(ValueError, match="tau"):
        nb.learn_shape_bases(np.zeros((10, 3, 4)), nb.BasisConfig(tau=1.5))
    with pytest.raises(ValueError, match=r"\(F, 3, p\)"):
        nb.learn_shape_bases(np.zeros((10, 2, 4)), nb.BasisConfig())


# ---------------------------------------------------------------- errors (Eq. 23-24)


def test_errors_hand_cases_and_reflection():
    S = np.zeros((2, 3, 2))
    S[:, :, 0], S[:, :, 1] = [1.0, 0, 1.0], [-1.0, 0, -1.0]  # centred
    est = S.copy()
    # frame 0 off by 0.5 at one coordinate
    est[0, 0, 0] += 0.5
    est[0, 0, 1] -= 0.5  # (kept centred)
    est[1] = S[1] * np.array([1, 1, -1.0])[:, None]  # frame 1: the depth mirror image
    e = nm.frame_errors(est, S)
    assert e == pytest.approx([np.sqrt(0.5), 0.0])
    assert nm.xi(est, S, squared=True)[0] == pytest.approx(0.25)
    assert nm.xi_decrease(50.0, 40.0) == pytest.approx(20.0)
    with pytest.raises(ValueError):
        nm.frame_errors(est[:, :, :1], S)


# ---------------------------------------------------------------- loaders


def test_zhou_loader_reads_the_published_layout(tmp_path):
    shapes = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    sio.savemat(tmp_path / "walk.mat", {"allshapes": shapes.reshape(6, 4)})
    assert np.array_equal(nd.load_zhou_shapes(tmp_path / "walk.mat"), shapes)


@pytest.mark.parametrize(
    "content, message",
    [
        ({"shapes": np.zeros((6, 4))}, "allshapes"),
        ({"allshapes": np.zeros((7, 4))}, r"3F x p"),
        ({"allshapes": np.full((6, 4), np.nan)}, "NaN"),
    ],
)
def test_zhou_loader_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.mat"
    sio.savemat(path, content)
    with pytest.raises(ValueError, match=message) as err:
        nd.load_zhou_shapes(path)
    assert "bad.mat" in str(err.value)


def test_loader_rejects_a_file_that_is_not_mat(tmp_path):
    path = tmp_path / "broken.mat"
    path.write_bytes(b"not a matlab file at all")
    with pytest.raises(ValueError, match="broken.mat"):
        nd.load_zhou_shapes(path)


def test_akhter_loader_builds_camera_frame_truth_and_checks_w(tmp_path):
    rng = np.random.default_rng(7)
    S = nd.center(rng.normal(size=(3, 3, 5)))
    R = _random_rotations(3, rng)
    W = np.einsum("fij,fjp->fip", R[:, :2], S)
    sio.savemat(
        tmp_path / "seq.mat",
        {
            "S": S.reshape(9, 5),
            "W": W.reshape(6, 5),
            "Rs": R[:, :2].reshape(6, 3),
            "list": np.array([[1, 2], [2, 3]]),
        },
    )
    seq = nd.load_akhter(tmp_path / "seq.mat")
    assert np.allclose(seq.shapes, np.einsum("fij,fjp->fip", R, S))
    assert np.allclose(seq.W, W) and seq.edges == ((0, 1), (1, 2))
    sio.savemat(
        tmp_path / "bad.mat",
        {"S": S.reshape(9, 5), "W": 2 * W.reshape(6, 5), "Rs": R[:, :2].reshape(6, 3)},
    )
    with pytest.raises(ValueError, match="bad.mat.*projection"):
        nd.load_akhter(tmp_path / "bad.mat")
    sio.savemat(tmp_path / "nokeys.mat", {"S": S.reshape(9, 5)})
    with pytest.raises(ValueError, match=r"missing \['W', 'Rs'\]"):
        nd.load_akhter(tmp_path / "nokeys.mat")


ASF = """# tiny CMU-style skeleton
:version 1.10
:units
  mass 1.0
  length 1.0
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
{bones}:hierarchy
  begin
    root lhipjoint rhipjoint thorax
    lhipjoint lfemur
    lfemur ltibia
    rhipjoint rfemur
    rfemur rtibia
    thorax head lclavicle rclavicle
    lclavicle lhumerus
    lhumerus lradius
    rclavicle rhumerus
    rhumerus rradius
  end
"""
BONES = {
    "lhipjoint": (1, 0, 0),
    "lfemur": (0, -1, 0),
    "ltibia": (0, -1, 0),
    "rhipjoint": (-1, 0, 0),
    "rfemur": (0, -1, 0),
    "rtibia": (0, -1, 0),
    "thorax": (0, 1, 0),
    "head": (0, 1, 0),
    "lclavicle": (1, 0, 0),
    "lhumerus": (1, 0, 0),
    "lradius": (1, 0, 0),
    "rclavicle": (-1, 0, 0),
    "rhumerus": (-1, 0, 0),
    "rradius": (-1, 0, 0),
}


def _write_asf(path):
    text = ""
    for i, (name, d) in enumerate(BONES.items(), 1):
        text += (
            f"  begin\n     id {i}\n     name {name}\n     direction {d[0]} {d[1]} {d[2]}\n"
            f"     length 2.0\n     axis 0 0 0  XYZ\n     dof rx ry rz\n  end\n"
        )
    path.write_text(ASF.format(bones=text))


def test_asf_amc_forward_kinematics_on_a_tiny_fixture(tmp_path):
    _write_asf(tmp_path / "01.asf")
    (tmp_path / "01_01.amc").write_text(
        ":FULLY-SPECIFIED\n:DEGREES\n1\nroot 1 2 3 0 0 0\n2\nroot 0 0 0 0 90 0\nlfemur 0 0 0\n"
    )
    joints = nd.asf_amc_to_joints(
        nd.read_asf(tmp_path / "01.asf"), nd.read_amc(tmp_path / "01_01.amc"), to_meters=False
    )
    assert joints.shape == (2, 3, 15)
    # frame 1: rest pose translated by (1, 2, 3): the left knee is hip (2, 0, 0) + (0, -2, 0)
    assert np.allclose(joints[0, :, nd.ZHOU_JOINTS.index("lknee")], [1 + 2, 2 - 2, 3])
    assert np.allclose(joints[0, :, nd.ZHOU_JOINTS.index("head")], [1, 2 + 4, 3])
    # frame 2: the body turned 90 degrees about y: the left hip (+x) goes to -z
    assert np.allclose(joints[1, :, nd.ZHOU_JOINTS.index("lhip")], [0, 0, -2], atol=1e-12)
    assert np.allclose(nd.load_asf_amc_folder(tmp_path), joints * 0.0254)


def test_asf_amc_reject_malformed_files(tmp_path):
    (tmp_path / "x.asf").write_text(":bonedata\n  begin\n    length abc\n  end\n")
    with pytest.raises(ValueError, match="x.asf"):
        nd.read_asf(tmp_path / "x.asf")
    (tmp_path / "x.amc").write_text("root 0 0 0 0 0 0\n")
    with pytest.raises(ValueError, match="x.amc.*before the first frame"):
        nd.read_amc(tmp_path / "x.amc")


def test_paper_scale_without_data_raises_a_clear_error(tmp_path):
    with pytest.raises(DataNotFoundError, match="walk.mat"):
        nd.load_paper_categories(tmp_path, np.random.default_rng(0))


def test_paper_scale_loader_reads_a_fixture_root(tmp_path):
    rng = np.random.default_rng(8)
    for c in ("walk", "run"):
        sio.savemat(tmp_path / f"{c}.mat", {"allshapes": rng.normal(size=(3 * 6, 15))})
        sio.savemat(tmp_path / f"test_{c}.mat", {"allshapes": rng.normal(size=(3 * 4, 15))})
    out = nd.load_paper_categories(tmp_path, rng, categories=("walk", "run"))
    assert set(out) == {"walk", "run"}
    assert out["walk"].train_shapes.shape == (6, 3, 15) and len(out["walk"].test) == 4
    assert np.allclose(out["run"].test.W, out["run"].test.shapes[:, :2])


def test_views_are_rotations_and_observations_are_centred():
    R = nd.random_views(10, np.random.default_rng(9))
    assert np.allclose(R @ R.transpose(0, 2, 1), np.eye(3)) and np.allclose(np.linalg.det(R), 1)
    cam, W = nd.observe(np.random.default_rng(1).normal(size=(10, 3, 6)), R)
    assert np.allclose(cam.mean(-1), 0) and np.array_equal(W, cam[:, :2])


# ---------------------------------------------------------------- closed forms (issue 21)


def test_closed_form_polar_and_l1_projection_match_the_svd_and_sort_versions():
    g = torch.Generator().manual_seed(11)
    G = torch.randn(500, 2, 3, generator=g)
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    assert torch.allclose(nm.polar_2x3(G), U @ Vh, atol=1e-10)
    v = torch.sort(2 * torch.rand(500, 2, generator=g), dim=-1, descending=True).values
    assert torch.allclose(nm.project_l1_ball_2(v), nm.project_l1_ball(v), atol=1e-12)
    t = 0.3 + torch.rand(500, generator=g)
    M_svd, _ = nm.prox_spectral_norm(G, t)
    assert torch.allclose(nm.prox_spectral_norm_2x3(G, t), M_svd, atol=1e-10)


# ---------------------------------------------------------------- ALM vs an independent solver


def _fista_objective(W, Bt, alpha, beta=0.0, D2=None, iters=5000):
    """min_M 1/2||W - M B~||^2 + alpha sum_i ||M_i||_2 + beta/2 ||M D||^2 by FISTA, with the SVD
    prox (``prox_spectral_norm``), independent of the ADMM code. Returns the objective per frame."""
    F, k3 = W.shape[0], Bt.shape[0]
    D2 = torch.zeros(F, k3) if D2 is None else D2

    def f(M):
        smooth = 0.5 * ((W - M @ Bt) ** 2).sum((1, 2)) + beta / 2 * (M**2 * D2[:, None]).sum((1, 2))
        blocks = M.reshape(F, 2, k3 // 3, 3).transpose(1, 2)
        return smooth + alpha * torch.linalg.matrix_norm(blocks, ord=2).sum(1)

    L = torch.linalg.matrix_norm(Bt @ Bt.T, ord=2) + beta * D2.max()
    M = torch.zeros(F, 2, k3)
    Y, t = M, 1.0
    for _ in range(iters):
        grad = (Y @ Bt - W) @ Bt.T + beta * Y * D2[:, None]
        P = (Y - grad / L).reshape(F, 2, k3 // 3, 3).transpose(1, 2)
        Mn, _ = nm.prox_spectral_norm(P, alpha / L)
        Mn = Mn.transpose(1, 2).reshape(F, 2, k3)
        tn = (1 + (1 + 4 * t * t) ** 0.5) / 2
        Y, M, t = Mn + ((t - 1) / tn) * (Mn - M), Mn, tn
    return f(M), f


@pytest.mark.parametrize("beta", [0.0, 0.05])
def test_alm_objective_is_within_two_percent_of_fista_at_a_realistic_alpha(beta):
    from neurovis.core import embedded_path

    shapes = nd.load_zhou_shapes(embedded_path("nrsfm", "zhou-format", "acrobatics.mat"))
    bases = nb.learn_shape_bases(
        shapes[::10], nb.BasisConfig(num_bases=16, tau=1.0, iterations=200), seed=0
    )
    test = nd.zhou_sequence("t", shapes[5::120][:20], np.random.default_rng(0))
    W = torch.as_tensor(test.W) - torch.as_tensor(test.W).mean(-1, keepdim=True)
    W = W / W.flatten(1).norm(dim=1)[:, None, None]  # as ``reconstruct`` scales it
    cfg = nm.ALMConfig(
        alpha=0.01, beta=beta, gamma2=0.2, similarity="aligned", relative=True, scaled_dual=True
    )
    D2 = None
    if beta:
        D2 = (
            nm.similarity_weights(W, bases.B, cfg.gamma2, "aligned", relative=True) ** 2
        ).repeat_interleave(3, 1)
    alm = nm.solve_alm(W, bases, cfg, D2, record_history=False)
    f_ref, f = _fista_objective(W, bases.stacked(), cfg.alpha, beta, D2)
    f_alm = f(alm.M)
    total = float((f_alm.sum() - f_ref.sum()) / f_ref.sum())  # the batched problem's objective
    assert -1e-6 < total < 0.02, f"ALM objective off by {total:.3%}"
    assert ((f_alm - f_ref) / f_ref).abs().max() < 0.05  # and no frame far off (tol 1e-3)


# ---------------------------------------------------------------- dictionaries (Eq. 5)


def test_dictionary_learning_stops_on_the_relative_change_and_converges():
    rng = np.random.default_rng(5)
    shapes = rng.normal(size=(200, 3, 10))
    cfg = nb.BasisConfig(num_bases=6, lam=0.05, tau=0.5, iterations=5000, rel_tol=1e-6)
    bases = nb.learn_shape_bases(shapes, cfg, seed=0)
    obj = np.array(bases.objective)
    assert bases.converged and bases.iterations < 5000
    # stopped at the first
    assert abs(obj[-2] - obj[-1]) < 1e-6 * obj[-1] <= abs(obj[-3] - obj[-2])
    assert (np.diff(obj) <= 1e-9 * obj[0]).all()  # monotone
    capped = nb.learn_shape_bases(shapes, nb.BasisConfig(num_bases=6, iterations=10), seed=0)
    assert not capped.converged and capped.iterations == 10


def test_elastic_net_codes_match_sklearn_elasticnet_positive():
    from sklearn.linear_model import ElasticNet

    g = torch.Generator().manual_seed(6)
    N = nb.project_columns_unit_ball(torch.randn(30, 8, generator=g))
    codes = torch.rand(8, 12, generator=g) * (torch.rand(8, 12, generator=g) < 0.4)
    A = N @ codes + 0.05 * torch.randn(30, 12, generator=g)
    lam, tau = 0.1, 0.6
    X = nb.elastic_net_codes(A, N, lam, tau, iters=3000)
    # sklearn: 1/(2n)||y - Xw||^2 + a r ||w||_1 + a (1 - r)/2 ||w||^2; times n it is Eq. 5's column
    # problem when n a r = lam tau and n a (1 - r) = 2 lam (1 - tau)
    n = A.shape[0]
    a, r = lam * (2 - tau) / n, tau / (2 - tau)
    ref = ElasticNet(
        alpha=a, l1_ratio=r, positive=True, fit_intercept=False, tol=1e-12, max_iter=100000
    )
    Xs = np.stack([ref.fit(N.numpy(), A[:, j].numpy()).coef_ for j in range(A.shape[1])], 1)
    assert np.abs(X.numpy() - Xs).max() < 1e-6
    assert (X >= 0).all() and (X == 0).any()  # non-negative and sparse


# ---------------------------------------------------------------- output paths (Eq. 1)


def _planted_per_basis(F=5, K=2, p=20, seed=8):
    """Shapes S = sum_i c_i R_i B_i with a different rotation for each basis."""
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(K, 3, p))
    B -= B.mean(-1, keepdims=True)
    B /= np.linalg.norm(B, axis=(1, 2), keepdims=True)
    c = rng.uniform(0.5, 1.5, size=(F, K))
    R = _random_rotations(F * K, rng).reshape(F, K, 3, 3)
    S = np.einsum("fk,fkij,kjp->fip", c, R, B)
    return nb.ShapeBases(torch.as_tensor(B), torch.zeros(K, 1)), S


def test_per_basis_composition_recovers_a_shape_with_one_rotation_per_basis():
    bases, S = _planted_per_basis()
    cfg = nm.ALMConfig.cra(alpha=1e-5, tol=1e-8, max_iter=5000)
    per_basis = nm.reconstruct(S[:, :2], bases, cfg)
    assert nm.normalized_error(per_basis.S, S) < 1e-3
    assert per_basis.R.shape == (5, 2, 3, 3)
    assert np.allclose(per_basis.R @ per_basis.R.transpose(0, 1, 3, 2), np.eye(3), atol=1e-3)
    synced = nm.reconstruct(S[:, :2], bases, replace_output(cfg, "sync"))
    assert nm.normalized_error(synced.S, S) > 0.05  # one rotation cannot represent it


def replace_output(cfg, output):
    from dataclasses import replace

    return replace(cfg, output=output)


def test_compose_per_basis_is_exact_on_consistent_motion_matrices():
    rng = np.random.default_rng(9)
    bases, S = _planted_per_basis(F=3, K=3, seed=9)
    c = torch.as_tensor(rng.uniform(0.5, 1.5, size=(3, 3)))
    R = torch.as_tensor(_random_rotations(9, rng).reshape(3, 3, 3, 3))
    M = c[..., None, None] * R[..., :2, :]
    S_hat, c_hat, R_hat = nm.compose_per_basis(M, bases.B)
    assert torch.allclose(c_hat, c) and torch.allclose(R_hat, R)
    assert torch.allclose(S_hat, torch.einsum("fk,fkab,kbp->fap", c, R, bases.B))


def test_refinement_never_increases_its_objective():
    bases, S = _synthetic(F=6)
    W = torch.as_tensor(S[:, :2]) + 0.01 * torch.randn(
        6, 2, 20, generator=torch.Generator().manual_seed(0)
    )
    alm = nm.solve_alm(W, bases, nm.ALMConfig.cra(alpha=0.05), record_history=False)
    R, c = nm.sync_rotation(alm.M.reshape(6, 2, 4, 3).transpose(1, 2))

    def f(R_, c_):
        return 0.5 * ((W - R_ @ torch.einsum("fk,kap->fap", c_, bases.B)) ** 2).sum(
            (1, 2)
        ) + 0.05 * c_.abs().sum(1)

    R2, c2 = nm.refine(W, bases.B, R, c, 0.05)
    assert (f(R2, c2) <= f(R, c) + 1e-12).all()
    assert torch.allclose(R2 @ R2.mT, torch.eye(2).expand(6, 2, 2), atol=1e-10)


def test_hyper_defaults_hold_the_committed_tuning_choice():
    from neurovis.nrsfm import Hyper, tuning

    record = tuning.load_tuning()
    if record is None:
        pytest.skip("no tuning record (run python -m neurovis.nrsfm.tuning)")
    hyper = Hyper()
    assert {k: getattr(hyper, k) for k in record["chosen"]} == record["chosen"]
