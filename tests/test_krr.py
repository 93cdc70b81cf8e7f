"""Kernel ridge regression against direct NumPy solves; the matrix-free solver against the
stored kernel's."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnkrr import kernels, krr


def closed_form(x):
    """The ReLU NTK K(x, x) in NumPy, independent of nnkrr (u = 1 on the diagonal)."""
    dot = x @ x.T
    norms = np.linalg.norm(x, axis=1)
    u = np.clip(dot / np.outer(norms, norms), -1, 1)
    np.fill_diagonal(u, 1.0)
    return dot * (np.pi - np.arccos(u)) / (2 * np.pi)


def problem(seed, n=30, n_test=12, d=5, outputs=None):
    rng = np.random.default_rng(seed)
    x, xt = rng.standard_normal((n, d)), rng.standard_normal((n_test, d))
    shape = (n,) if outputs is None else (n, outputs)
    y = rng.standard_normal(shape)
    return x, xt, y


@pytest.mark.parametrize("outputs", [None, 1, 4])
@pytest.mark.parametrize("lam", [1e-3, 0.1, 10.0])
def test_predict_equals_numpy_solve(x64, outputs, lam):
    x, xt, y = problem(0, outputs=outputs)
    k = np.asarray(kernels.relu_ntk_closed_form(x))
    kt = np.asarray(kernels.relu_ntk_closed_form(xt, x))
    expected = kt @ np.linalg.solve(k + lam * np.eye(len(x)), y)
    alpha = krr.solve(k, y, lam)
    assert alpha.shape == y.shape and alpha.dtype == jnp.float64
    got = krr.predict(kt, alpha)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(krr.fit_predict(k, y, kt, lam), expected, rtol=1e-9, atol=1e-12)


def test_multi_output_equals_column_solves(x64):
    x, xt, y = problem(1, outputs=3)
    k = kernels.relu_ntk_closed_form(x)
    alpha = krr.solve(k, y, 0.05)
    for j in range(3):
        np.testing.assert_allclose(alpha[:, j], krr.solve(k, y[:, j], 0.05), rtol=1e-12)


def test_ridge_is_absolute_not_trace_scaled(x64):
    """lam is added as is: (K + lam I) alpha = y holds exactly (neural-tangents would scale it)."""
    x, _, y = problem(2)
    k = 50.0 * np.asarray(kernels.relu_ntk_closed_form(x))  # mean trace far from 1
    alpha = np.asarray(krr.solve(k, y, 0.3))
    np.testing.assert_allclose((k + 0.3 * np.eye(len(y))) @ alpha, y, atol=1e-9)


def test_float32_close_to_float64():
    x, xt, y = problem(3)
    k32 = kernels.relu_ntk_closed_form(x)
    alpha32 = krr.solve(k32, y, 0.1)
    assert alpha32.dtype == jnp.float32
    k64 = np.asarray(k32, np.float64)
    expected = np.linalg.solve(k64 + 0.1 * np.eye(len(y)), y)
    np.testing.assert_allclose(alpha32, expected, rtol=2e-3, atol=2e-4)


def test_jit_and_vmap_over_lam(x64):
    x, _, y = problem(4)
    k = kernels.relu_ntk_closed_form(x)
    lams = jnp.array([0.01, 0.1, 1.0])
    batched = jax.jit(jax.vmap(krr.solve, in_axes=(None, None, 0)))(k, y, lams)
    for i, lam in enumerate(lams):
        np.testing.assert_allclose(batched[i], krr.solve(k, y, float(lam)), rtol=1e-10)


@pytest.mark.parametrize("lam", [0.0, -1.0])
def test_nonpositive_lam(lam):
    with pytest.raises(ValueError, match="lam"):
        krr.solve(np.eye(3), np.ones(3), lam)


def test_factorisation_failure_suggests_float64():
    k = -np.eye(4)  # K + lam I is negative definite for lam < 1
    with pytest.raises(ValueError, match="float64.*larger lam"):
        krr.solve(k, np.ones(4), 0.5)


@pytest.mark.parametrize(
    "name,call",
    [
        ("k_train", lambda: krr.solve(np.ones((3, 4)), np.ones(3), 1.0)),
        ("k_train", lambda: krr.solve(np.ones(3), np.ones(3), 1.0)),
        ("k_train", lambda: krr.solve(np.full((2, 2), np.nan), np.ones(2), 1.0)),
        ("y", lambda: krr.solve(np.eye(3), np.ones(4), 1.0)),
        ("y", lambda: krr.solve(np.eye(3), np.ones((3, 2, 1)), 1.0)),
        ("y", lambda: krr.solve(np.eye(2), np.array([1.0, np.inf]), 1.0)),
        ("alpha", lambda: krr.predict(np.ones((5, 3)), np.ones(4))),
        ("k_test_train", lambda: krr.predict(np.ones(3), np.ones(3))),
    ],
)
def test_bad_inputs_name_the_argument(name, call):
    with pytest.raises(ValueError, match=name):
        call()


# --------------------------------------------------------------------------- matrix-free


@pytest.mark.parametrize("block", [1, 64, 97, 1000])
@pytest.mark.parametrize("outputs", [None, 3])
def test_kernel_matvec_equals_the_stored_kernels_product(x64, block, outputs):
    """Row blocks of any size (n = 300 is no multiple of 64 or 97: padded rows drop out)."""
    x, _, v = problem(1, n=300, outputs=outputs)
    k = np.asarray(kernels.relu_ntk_closed_form(x))
    got = np.asarray(krr.kernel_matvec(x, v, block=block))
    assert got.shape == v.shape
    np.testing.assert_allclose(got, k @ v, rtol=1e-12, atol=1e-12 * np.abs(k @ v).max())


def test_kernel_matvec_sets_the_diagonal_exactly(x64):
    """K(x, x) = |x|^2 / 2 exactly on every block's own rows (arccos at u = 1 - ulp is off by
    ~1e-8 relative), for a point whose row lands in the last, padded block."""
    x, _, _ = problem(2, n=70)
    for i in (0, 63, 64, 69):
        e = np.zeros(70)
        e[i] = 1.0
        got = float(krr.kernel_matvec(x, e, block=64)[i])
        assert got == pytest.approx(float(np.sum(x[i] ** 2) / 2), rel=4e-16)  # summation order


@pytest.mark.parametrize("outputs", [None, 2])
@pytest.mark.parametrize("lam", [1e-2, 1.0])
def test_solve_cg_equals_cholesky_and_reports_its_residual(x64, outputs, lam):
    x, _, y = problem(3, n=400, outputs=outputs)
    k = np.asarray(kernels.relu_ntk_closed_form(x))
    exact = np.linalg.solve(k + lam * np.eye(400), y)
    alpha, info = krr.solve_cg(x, y, lam, tol=1e-10)
    assert alpha.shape == y.shape and bool(info.converged)
    a = k + lam * np.eye(400)
    res = np.linalg.norm((y - a @ np.asarray(alpha)).reshape(400, -1), axis=0)
    want = np.max(res / np.linalg.norm(y.reshape(400, -1), axis=0))
    np.testing.assert_allclose(float(info.residual), want, rtol=1e-3)
    assert float(info.residual) < 1e-10
    cond = np.linalg.cond(a)
    np.testing.assert_allclose(alpha, exact, atol=10 * cond * 1e-10 * np.abs(exact).max())


def test_the_nystrom_preconditioner_is_its_woodbury_inverse_and_cuts_iterations(x64):
    """P^-1 v equals the dense inverse of U U^T + lam I; with 60 landmarks of 500 points CG
    needs under half the iterations (the same tolerance, the same answer)."""
    x, _, y = problem(4, n=500)
    lam = 0.01
    pre = krr.nystrom(jax.random.key(0), x, lam, 60)
    u = np.asarray(pre.u)
    assert u.shape == (500, 60)
    dense = np.linalg.solve(u @ u.T + lam * np.eye(500), y)
    np.testing.assert_allclose(pre.apply(jnp.asarray(y)), dense, rtol=1e-9, atol=1e-9)
    plain_alpha, plain = krr.solve_cg(x, y, lam)
    pre_alpha, info = krr.solve_cg(x, y, lam, preconditioner=pre)
    assert bool(plain.converged) and bool(info.converged)
    assert int(info.iterations) < int(plain.iterations) / 2
    np.testing.assert_allclose(pre_alpha, plain_alpha, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("block", [64, 4096])
def test_the_nystrom_factor_is_the_nystrom_approximation_in_any_blocks(x64, monkeypatch, block):
    """U U^T = K_nr K_rr^-1 K_rn on the landmarks jax.random.choice draws, whether U is built
    in one block or in eight (the last one padded)."""
    x, _, _ = problem(6, n=500)
    monkeypatch.setattr(krr, "NYSTROM_BLOCK", block)
    pre = krr.nystrom(jax.random.key(3), x, 0.1, 20)
    idx = np.asarray(jax.random.choice(jax.random.key(3), 500, (20,), replace=False))
    k = closed_form(np.asarray(x))
    approx = k[:, idx] @ np.linalg.solve(k[np.ix_(idx, idx)], k[idx, :])
    u = np.asarray(pre.u)
    np.testing.assert_allclose(u @ u.T, approx, rtol=1e-7, atol=1e-9 * np.abs(k).max())


def test_solve_cg_stops_at_maxiter_and_says_so(x64):
    x, _, y = problem(5, n=200)
    _, info = krr.solve_cg(x, y, 1e-4, maxiter=3)
    assert int(info.iterations) == 3 and not bool(info.converged) and float(info.residual) > 1e-3


def test_matvec_and_cg_sharded_over_four_devices_equal_one_device():
    """The row blocks split over 4 host devices (shard_map): the same numbers."""
    script = textwrap.dedent("""
        import jax
        jax.config.update("jax_enable_x64", True)
        import numpy as np
        from jax.sharding import Mesh
        from nnkrr import krr
        assert len(jax.devices()) == 4
        mesh = krr.device_mesh()
        assert isinstance(mesh, Mesh) and mesh.size == 4 and krr.device_mesh(jax.devices()[:1]) is None
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((301, 6)), rng.standard_normal(301)
        one = np.asarray(krr.kernel_matvec(x, y, block=32))
        four = np.asarray(krr.kernel_matvec(x, y, block=32, mesh=mesh))
        assert np.abs(one - four).max() <= 1e-12 * np.abs(one).max(), np.abs(one - four).max()
        a1, i1 = krr.solve_cg(x, y, 0.1, block=32)
        a4, i4 = krr.solve_cg(x, y, 0.1, block=32, mesh=mesh)
        # products summed in another order can move the last step across the tolerance
        assert abs(int(i1.iterations) - int(i4.iterations)) <= 1, (i1, i4)
        assert bool(i4.converged) and float(i4.residual) <= 1e-8
        assert np.abs(np.asarray(a1) - np.asarray(a4)).max() <= 1e-7 * np.abs(a1).max()
        # predictions at other points: the two solves stop at different points within tol
        xt = rng.standard_normal((50, 6))
        p1 = np.asarray(krr.kernel_matvec(x, a1, rows=xt, block=32))
        p4 = np.asarray(krr.kernel_matvec(x, a4, rows=xt, block=32, mesh=mesh))
        assert np.abs(p1 - p4).max() <= 1e-8 * np.abs(p1).max(), np.abs(p1 - p4).max()
        # solved to 1e-13 (155 iterations each here), the predictions agree to 1e-12 relative
        a1, i1 = krr.solve_cg(x, y, 0.1, block=32, tol=1e-13, maxiter=1000)
        a4, i4 = krr.solve_cg(x, y, 0.1, block=32, mesh=mesh, tol=1e-13, maxiter=1000)
        assert bool(i1.converged) and bool(i4.converged), (i1, i4)
        p1 = np.asarray(krr.kernel_matvec(x, a1, rows=xt, block=32))
        p4 = np.asarray(krr.kernel_matvec(x, a4, rows=xt, block=32, mesh=mesh))
        assert np.abs(p1 - p4).max() <= 1e-12 * np.abs(p1).max(), np.abs(p1 - p4).max()
        print("ok")
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x, y: krr.solve_cg(x, y, 0.0), "lam"),
        (lambda x, y: krr.solve_cg(x, y, 0.1, tol=0), "tol"),
        (lambda x, y: krr.solve_cg(x, y, 0.1, maxiter=0), "maxiter"),
        (lambda x, y: krr.solve_cg(x, y[:-1], 0.1), "y"),
        (lambda x, y: krr.kernel_matvec(x, y, block=0), "block"),
        (lambda x, y: krr.nystrom(jax.random.key(0), x, 0.1, 0), "rank"),
    ],
)
def test_matrix_free_bad_inputs_name_the_argument(call, message):
    x, _, y = problem(6, n=20)
    with pytest.raises(ValueError, match=f"^{message}"):
        call(x, y)


@pytest.mark.parametrize("outputs", [None, 2])
def test_cg_on_an_operator_equals_the_dense_solve(x64, outputs):
    """krr.cg with a matvec closure: the same answer as NumPy's solve, to its tolerance."""
    x, _, y = problem(6, n=300, outputs=outputs)
    k = np.asarray(kernels.relu_ntk_closed_form(x))
    kj = jnp.asarray(k)
    pre = krr.nystrom(jax.random.key(1), x, 0.05, 40)
    alpha, info = krr.cg(lambda v: kj @ v, y, 0.05, preconditioner=pre, tol=1e-11)
    assert alpha.shape == y.shape and bool(info.converged) and int(info.iterations) > 1
    exact = np.linalg.solve(k + 0.05 * np.eye(300), y)
    np.testing.assert_allclose(alpha, exact, rtol=1e-7, atol=1e-8 * np.abs(exact).max())


@pytest.mark.parametrize("lam", [1e-2, 1.0])
def test_s_lambda_estimate_is_unbiased_and_its_nystrom_part_a_lower_bound(x64, lam):
    """s_lambda(U U^T) = sum sigma/(sigma + lam) from U's singular values (NumPy) and below
    K's s_lambda; the control-variate Hutchinson estimate within 4 of its standard errors of
    the exact s_lambda (eigvalsh), over 5 probe keys, and its mean over them within 4 / sqrt(5)."""
    x, _, _ = problem(7, n=500, d=6)
    k = np.asarray(kernels.relu_ntk_closed_form(x))
    mu = np.linalg.eigvalsh(k)
    exact = np.sum(mu / (mu + lam))
    pre = krr.nystrom(jax.random.key(2), x, lam, 50)
    sigma = np.linalg.svd(np.asarray(pre.u), compute_uv=False) ** 2
    nys = float(krr.nystrom_statistical_dimension(pre))
    np.testing.assert_allclose(nys, np.sum(sigma / (sigma + lam)), rtol=1e-9)
    assert nys < exact
    ests, ses = [], []
    for seed in range(5):
        z = jax.random.rademacher(jax.random.key(10 + seed), (500, 16), jnp.float64)
        solved = jnp.asarray(np.linalg.solve(k + lam * np.eye(500), np.asarray(z)))
        est, se = krr.statistical_dimension_estimate(pre, z, solved)
        assert abs(est - exact) < 4 * se and se < 0.05 * exact
        ests.append(est)
        ses.append(se)
    assert abs(np.mean(ests) - exact) < 4 * np.mean(ses) / np.sqrt(5)
