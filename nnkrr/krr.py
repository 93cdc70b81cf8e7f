"""Kernel ridge regression with an exact ridge ``lam``: by Cholesky of a stored K, or
matrix-free by preconditioned conjugate gradients on kernel matvecs (:func:`solve_cg`).

Given a training kernel K (n x n), targets Y (n,) or (n, k) and lam > 0,

    alpha = (K + lam I)^{-1} Y,          f*(x) = K(x, X) alpha.

This is the minimiser of 1/2 ||Y - f(X)||^2 + lam/2 ||f||_H^2, the objective of the
paper's regularised network (Lee et al. 2020, Thm. 4.1) with the same lam.  Unlike
neural-tangents' ``predict.gp_inference`` / ``gradient_descent_mse``, which scale
``diag_reg`` by the mean trace of K unless ``diag_reg_absolute_scale=True``, lam here
is added to the diagonal exactly as given.

Both functions are jit-able (checks on values run only on concrete arrays); the
dtype follows the inputs, so pass float64 arrays (``jax_enable_x64``) for
ill-conditioned kernels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from nnkrr import _checks, kernels
from nnkrr._linalg import mm
from nnkrr.kernels import _relu_ntk_diagonal, _relu_ntk_formula

__all__ = [
    "SOLVERS",
    "CGInfo",
    "Factor",
    "Nystrom",
    "factor",
    "cg",
    "choose_solver",
    "device_memory",
    "device_mesh",
    "fit_predict",
    "kernel_matvec",
    "nystrom",
    "nystrom_statistical_dimension",
    "predict",
    "solve",
    "solve_cg",
    "statistical_dimension_estimate",
]


def _as_targets(name: str, y, n: int, dtype) -> jax.Array:
    if y is None or not hasattr(y, "shape") and not isinstance(y, list | tuple):
        raise ValueError(f"{name} must be an array of shape (n,) or (n, k)")
    y = jnp.asarray(y, dtype=dtype)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, k), got {tuple(y.shape)}")
    _checks.check_finite(name, y)
    return y


@jax.jit
def _cholesky_solve(k_train: jax.Array, y: jax.Array, lam: jax.Array) -> jax.Array:
    n = k_train.shape[0]
    a = k_train + lam * jnp.eye(n, dtype=k_train.dtype)
    factor = jsl.cho_factor(a, lower=True)
    return jsl.cho_solve(factor, y)


class Factor(NamedTuple):
    r"""The Cholesky factor of :math:`K + \lambda I` (lower), for several solves with one K."""

    chol: jax.Array  # (n, n) lower triangular
    lam: float


@jax.jit
def _cholesky(k_train: jax.Array, lam: jax.Array) -> jax.Array:
    n = k_train.shape[0]
    return jsl.cho_factor(k_train + lam * jnp.eye(n, dtype=k_train.dtype), lower=True)[0]


_solve_factored = jax.jit(lambda chol, y: jsl.cho_solve((chol, True), y))


def factor(k_train, lam) -> Factor:
    r"""Factor :math:`K + \lambda I` once (:class:`Factor`); ``solve(f, y)`` then reuses it.

    Raises:
      ValueError: as :func:`solve`, when K + lam I is not numerically positive definite.
    """
    k_train = _checks.as_matrix("k_train", k_train, dtype=_checks.float_dtype_of(k_train))
    if k_train.shape[0] != k_train.shape[1]:
        raise ValueError(f"k_train must be square, got shape {tuple(k_train.shape)}")
    _checks.check_positive("lam", lam)
    chol = _cholesky(k_train, jnp.asarray(lam, dtype=k_train.dtype))
    if _checks.is_concrete(chol) and not bool(jnp.all(jnp.isfinite(chol))):
        raise ValueError(_not_pd(lam, k_train.dtype))
    return Factor(chol, float(lam))


def _not_pd(lam, dtype) -> str:
    return (
        f"Cholesky factorisation of k_train + lam * I failed (lam={lam}, dtype="
        f"{dtype}): the matrix is not numerically positive definite. Use float64 "
        "(jax.config.update('jax_enable_x64', True) and float64 inputs) or a larger lam."
    )


def solve(k_train, y, lam=None) -> jax.Array:
    r"""Ridge coefficients :math:`\alpha = (K + \lambda I)^{-1} Y` by Cholesky.

    Args:
      k_train: training kernel matrix K, shape ``(n, n)``, symmetric positive semi-definite.
      y: targets, shape ``(n,)`` or ``(n, k)`` (several outputs solved at once).
      lam: ridge :math:`\lambda > 0`, added to the diagonal as is; omitted when
        ``k_train`` is a :class:`Factor` (:func:`factor`), whose factorisation is reused.

    Returns:
      ``alpha`` with the shape of ``y``, in the dtype of ``k_train``.

    Raises:
      ValueError: on a non-square or non-finite ``k_train``, ``y`` of the wrong
        shape, ``lam <= 0``, or when K + lam I is not numerically positive definite
        (the message suggests float64 or a larger lam).

    Example:
      >>> import jax.numpy as jnp
      >>> solve(jnp.eye(2), jnp.array([1.0, 2.0]), 1.0).round(6)
      Array([0.5, 1. ], dtype=float32)
    """
    if isinstance(k_train, Factor):
        if lam is not None:
            raise ValueError("lam is the factor's own: omit it when k_train is a Factor")
        y = _as_targets("y", y, k_train.chol.shape[0], k_train.chol.dtype)
        return _solve_factored(k_train.chol, y)
    k_train = _checks.as_matrix("k_train", k_train, dtype=_checks.float_dtype_of(k_train))
    if k_train.shape[0] != k_train.shape[1]:
        raise ValueError(f"k_train must be square, got shape {tuple(k_train.shape)}")
    y = _as_targets("y", y, k_train.shape[0], k_train.dtype)
    _checks.check_positive("lam", lam)
    alpha = _cholesky_solve(k_train, y, jnp.asarray(lam, dtype=k_train.dtype))
    if _checks.is_concrete(alpha) and not bool(jnp.all(jnp.isfinite(alpha))):
        raise ValueError(_not_pd(lam, k_train.dtype))
    return alpha


def predict(k_test_train, alpha) -> jax.Array:
    r"""KRR prediction :math:`f^*(x) = K(x, X)\,\alpha`.

    Args:
      k_test_train: kernel between test and training points, shape ``(n_test, n)``.
      alpha: coefficients from :func:`solve`, shape ``(n,)`` or ``(n, k)``.

    Returns:
      Predictions, shape ``(n_test,)`` or ``(n_test, k)``.
    """
    k_test_train = _checks.as_matrix(
        "k_test_train", k_test_train, dtype=_checks.float_dtype_of(k_test_train)
    )
    alpha = _as_targets("alpha", alpha, k_test_train.shape[1], k_test_train.dtype)
    return mm(k_test_train, alpha)


def fit_predict(k_train, y, k_test_train, lam) -> jax.Array:
    """``predict(k_test_train, solve(k_train, y, lam))``."""
    return predict(k_test_train, solve(k_train, y, lam))


# --------------------------------------------------------------------------- matrix-free

#: Rows of K per block of :func:`kernel_matvec`: a (block, n) float64 block is 8 * block * n
#: bytes (2 GiB at n = 2^20), the only n-sized temporary of a matvec.
MATVEC_BLOCK = 256
#: ``shard_map`` moved from ``jax.experimental`` to ``jax`` (the oldest supported stack,
#: jax 0.5.3, has only the former).
try:
    _shard_map = jax.shard_map
except AttributeError:  # jax < 0.7
    from jax.experimental.shard_map import shard_map as _shard_map


@functools.partial(jax.jit, static_argnames=("kernel", "diagonal", "block", "mesh"))
def _matvec(x, v, kernel, diagonal, block, mesh, rows=None):
    n = x.shape[0]
    own = rows is None  # K(x, x): the blocks hold the diagonal
    rows = x if own else rows
    n_rows = rows.shape[0]
    devices = 1 if mesh is None else mesh.size
    per_device = -(-n_rows // (block * devices))
    starts = jnp.arange(devices * per_device) * block
    xp = jnp.pad(rows, [(0, devices * per_device * block - n_rows), (0, 0)])
    exact = None if diagonal is None or not own else jnp.pad(diagonal(x), (0, xp.shape[0] - n))

    def block_product(start):
        xb = jax.lax.dynamic_slice_in_dim(xp, start, block)
        kb = kernel(xb, x)
        if exact is not None:  # the block's own diagonal entries, exactly
            i = jnp.arange(block, dtype=start.dtype)
            col = jnp.minimum(start + i, n - 1)
            on = (start + i < n)[:, None] & (
                jnp.arange(n, dtype=start.dtype)[None, :] == col[:, None]
            )
            kb = jnp.where(on, jax.lax.dynamic_slice_in_dim(exact, start, block)[:, None], kb)
        return mm(kb, v)

    def local(s):
        out = jax.lax.map(block_product, s)  # (blocks, block, k)
        return out.reshape(-1, *out.shape[2:])

    if mesh is None:
        out = local(starts)
    else:
        spec = PartitionSpec(mesh.axis_names[0])
        out = _shard_map(local, mesh=mesh, in_specs=spec, out_specs=spec)(starts)
    return out[:n_rows]


def device_mesh(devices=None) -> Mesh | None:
    """A one-axis ``("rows",)`` :class:`jax.sharding.Mesh` over ``devices`` (default: all of the
    process's) for :func:`kernel_matvec` and :func:`solve_cg`, or ``None`` for one device."""
    devices = jax.devices() if devices is None else list(devices)
    return None if len(devices) == 1 else Mesh(np.array(devices), ("rows",))


def kernel_matvec(
    x,
    v,
    *,
    kernel: Callable = _relu_ntk_formula,
    diagonal: Callable | None = _relu_ntk_diagonal,
    block: int = MATVEC_BLOCK,
    mesh: Mesh | None = None,
    rows=None,
) -> jax.Array:
    r""":math:`K v` for :math:`K_{ij} = k(x_i, x_j)` without storing K: row blocks
    :math:`K(x_{I}, X)\,v` of ``block`` rows each, computed from the kernel's closed form and
    discarded (memory O(block · n)); with a ``mesh``, the blocks are split over its devices
    (``shard_map`` over the mesh's first axis; x and v replicated).

    Args:
      x: inputs, shape ``(n, d)``.
      v: vectors, shape ``(n,)`` or ``(n, k)``, in x's dtype.
      kernel: ``kernel(x1, x2) -> (n1, n2)``, jit-able (default: the two-layer ReLU NTK,
        :func:`nnkrr.kernels.relu_ntk_closed_form`).
      diagonal: ``diagonal(x) -> (n,)``, the exact K(x_i, x_i) set in place of the formula's
        (default: the ReLU NTK's |x|^2 / 2); ``None``: the formula's.
      block: rows per block.
      mesh: a :class:`jax.sharding.Mesh`; ``None``: one device.
      rows: other inputs ``(n_r, d)``: :math:`K(\mathrm{rows}, X)\,v` (predictions at test
        points; no diagonal set); ``None``: x.

    Returns:
      ``K v``, shape ``(n,)`` or ``(n, k)`` (``n_r`` rows with ``rows``).

    Example:
      >>> import jax.numpy as jnp
      >>> kernel_matvec(jnp.array([[3.0, 4.0]]), jnp.array([2.0]))  # |x|^2 / 2 * 2
      Array([25.], dtype=float32)
    """
    x = _checks.as_matrix("x", x, dtype=_checks.float_dtype_of(x))
    v = _as_targets("v", v, x.shape[0], x.dtype)
    block = _checks.check_positive_int("block", block)
    if rows is not None:
        rows = _checks.as_matrix("rows", rows, dtype=x.dtype)
        _checks.check_same_features("rows", rows, "x", x)
    n_rows = x.shape[0] if rows is None else rows.shape[0]
    return _matvec(x, v, kernel, diagonal, min(block, n_rows), mesh, rows)


class Nystrom(NamedTuple):
    r"""A Nyström preconditioner of :math:`K + \lambda I` (FALKON's, Rudi et al. 2017):
    :math:`P = U U^\top + \lambda I` with :math:`U = K_{nr} L^{-\top}`,
    :math:`L L^\top = K_{rr}` on r landmarks; :math:`P^{-1} v = (v - U C^{-1} U^\top v)/\lambda`,
    :math:`C = \lambda I_r + U^\top U` (Woodbury), applied in O(n r)."""

    u: jax.Array  # (n, r)
    chol_c: jax.Array  # (r, r) lower Cholesky factor of C
    lam: jax.Array

    def apply(self, v: jax.Array) -> jax.Array:
        """:math:`P^{-1} v` for ``v`` (n,) or (n, k)."""
        w = jsl.cho_solve((self.chol_c, True), mm(self.u.T, v))
        return (v - mm(self.u, w)) / self.lam


#: Landmarks of the KRR entry point's preconditioner (``rank``): at n = 65,536 (d = 40) CG
#: took 14 iterations with 2,048 (U: 1 GiB; docs/scaling-out.md); at n = 16,384 (d = 8)
#: 13 against 1,024's 17, in 36 s against 34 s (``experiments/krr.py data.n_train=16384
#: solver=cg rank=2048|1024``).
NYSTROM_RANK = 2048
#: Rows of U per block while :func:`nystrom` builds it: K(x_b, x_r) is (block, r), so its
#: memory beyond U itself is 8 * block * r bytes (64 MiB at r = 2048), not U's again.
NYSTROM_BLOCK = 4096


def nystrom(key, x, lam, rank: int, *, kernel: Callable = _relu_ntk_formula) -> Nystrom:
    r"""The :class:`Nystrom` preconditioner of :math:`K + \lambda I` on ``rank`` landmarks drawn
    uniformly without replacement (``key``); its cost O(n r d + n r^2), memory O(n r).

    A jitter of ``1e-10 * trace(K_rr) / r`` keeps :math:`K_{rr}`'s factor defined when
    landmarks coincide; P stays positive definite whatever it approximates (only CG's
    iteration count depends on how well).  U is built :data:`NYSTROM_BLOCK` rows at a time."""
    x = _checks.as_matrix("x", x, dtype=_checks.float_dtype_of(x))
    _checks.check_positive("lam", lam)
    rank = min(_checks.check_positive_int("rank", rank), x.shape[0])
    return _nystrom(key, x, jnp.asarray(lam, x.dtype), rank, kernel)


@functools.partial(jax.jit, static_argnames=("rank", "kernel"))
def _nystrom(key, x, lam, rank, kernel):
    idx = jax.random.choice(key, x.shape[0], (rank,), replace=False)
    xr = x[idx]
    k_rr = kernel(xr, None)
    jitter = 1e-10 * jnp.trace(k_rr) / rank
    chol = jnp.linalg.cholesky(k_rr + jitter * jnp.eye(rank, dtype=x.dtype))
    n, block = x.shape[0], NYSTROM_BLOCK

    def rows(xb):  # (K(x_b, x_r) L^{-T}), one block of U's rows, K_nr never whole
        return jsl.solve_triangular(chol, kernel(xr, xb), lower=True).T

    blocks = -(-n // block)
    xp = jnp.pad(x, [(0, blocks * block - n), (0, 0)]).reshape(blocks, block, -1)
    u = jax.lax.map(rows, xp).reshape(blocks * block, rank)[:n]  # K_nr L^{-T}
    c = lam * jnp.eye(rank, dtype=x.dtype) + mm(u.T, u)
    return Nystrom(u, jnp.linalg.cholesky(c), lam)


class CGInfo(NamedTuple):
    r"""How a :func:`solve_cg` ended: ``iterations`` run and the final ``residual``
    :math:`\max_j \|y_j - (K + \lambda I)\alpha_j\| / \|y_j\|` (recomputed from α, not the
    recursion's estimate)."""

    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array  # residual <= CONVERGED_SLACK * tol


#: solve_cg's defaults: the relative residual (float64; in a lower precision, 100 of its
#: machine epsilons when that is larger: 1.2e-5 in float32) and the cap on iterations.
CG_TOL = 1e-8
CG_MAXITER = 1000
#: The recomputed residual may exceed the recursion's by round-off: within this factor of
#: ``tol`` a solve counts as converged.
CONVERGED_SLACK = 10.0


def solve_cg(
    x,
    y,
    lam,
    *,
    kernel: Callable = _relu_ntk_formula,
    diagonal: Callable | None = _relu_ntk_diagonal,
    preconditioner: Nystrom | None = None,
    tol: float | None = None,
    maxiter: int = CG_MAXITER,
    block: int = MATVEC_BLOCK,
    mesh: Mesh | None = None,
) -> tuple[jax.Array, CGInfo]:
    r"""Ridge coefficients :math:`\alpha = (K + \lambda I)^{-1} Y` without forming K:
    preconditioned conjugate gradients (Hestenes & Stiefel 1952) on
    :math:`A = K + \lambda I`, whose matvecs are :func:`kernel_matvec`'s (memory
    O(block · n), time O(n^2 d) each), preconditioned by ``preconditioner``
    (:func:`nystrom`; ``None``: none).  ``tol``: the relative residual to reach (``None``:
    :data:`CG_TOL`, or 100 machine epsilons of x's dtype when larger).  Each column of ``y`` runs its own recursion; all
    stop once every column's relative residual is below ``tol`` (or after ``maxiter``).

    Precision: the recursion runs in x's dtype (float64 under ``jax_enable_x64``) and every
    product at ``Precision.HIGHEST`` (no TF32 on accelerators).

    Returns:
      ``(alpha, info)``: alpha with the shape of ``y``; :class:`CGInfo`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> alpha, info = solve_cg(x, jnp.array([1.0, 1.0]), 0.5)
      >>> alpha.round(6)  # K = diag(0.5, 2): alpha = 1 / (K_ii + 0.5)
      Array([1. , 0.4], dtype=float32)
      >>> bool(info.converged), bool(info.residual < 1e-5)
      (True, True)
    """
    x = _checks.as_matrix("x", x, dtype=_checks.float_dtype_of(x))
    y = _as_targets("y", y, x.shape[0], x.dtype)
    _checks.check_positive("lam", lam)
    if tol is None:
        tol = max(CG_TOL, 100 * float(jnp.finfo(x.dtype).eps))
    _checks.check_positive("tol", tol)
    maxiter = _checks.check_positive_int("maxiter", maxiter)
    block = min(_checks.check_positive_int("block", block), x.shape[0])
    vector = y.ndim == 1
    y2 = y[:, None] if vector else y
    lam = jnp.asarray(lam, x.dtype)
    alpha, info = _cg(x, y2, lam, preconditioner, jnp.asarray(tol, x.dtype), maxiter,
                      kernel, diagonal, block, mesh)  # fmt: skip
    return (alpha[:, 0] if vector else alpha), info


@functools.partial(jax.jit, static_argnames=("maxiter", "kernel", "diagonal", "block", "mesh"))
def _cg(x, y, lam, precond, tol, maxiter, kernel, diagonal, block, mesh):
    def a(v):
        return _matvec(x, v, kernel, diagonal, block, mesh) + lam * v

    return _pcg(a, None if precond is None else precond.apply, y, tol, maxiter)


def _pcg(a: Callable, m: Callable | None, y, tol, maxiter: int):
    """Preconditioned CG on ``a`` (the whole operator, ridge included) for every column of
    ``y`` (n, k), preconditioner ``m`` (``None``: none); traced inside its callers' jit."""
    m = (lambda r: r) if m is None else m
    norm_y = jnp.linalg.norm(y, axis=0)
    scale = jnp.where(norm_y > 0, norm_y, 1)
    x0 = jnp.zeros_like(y)
    r0 = y
    z0 = m(r0)
    rz0 = jnp.sum(r0 * z0, axis=0)

    def cond(state):
        i, _, r, _, _, _ = state
        return (i < maxiter) & jnp.any(jnp.linalg.norm(r, axis=0) / scale > tol)

    def body(state):
        i, xk, r, z, p, rz = state
        ap = a(p)
        step = rz / jnp.where(rz != 0, jnp.sum(p * ap, axis=0), 1)
        xk = xk + step[None, :] * p
        r = r - step[None, :] * ap
        z = m(r)
        rz_new = jnp.sum(r * z, axis=0)
        p = z + (rz_new / jnp.where(rz != 0, rz, 1))[None, :] * p
        return i + 1, xk, r, z, p, rz_new

    i, alpha, *_ = jax.lax.while_loop(cond, body, (0, x0, r0, z0, z0, rz0))
    residual = jnp.max(jnp.linalg.norm(y - a(alpha), axis=0) / scale)
    return alpha, CGInfo(i, residual, residual <= CONVERGED_SLACK * tol)


def cg(
    matvec: Callable[[jax.Array], jax.Array],
    y,
    lam,
    *,
    preconditioner: Nystrom | None = None,
    tol: float | None = None,
    maxiter: int = CG_MAXITER,
) -> tuple[jax.Array, CGInfo]:
    r""":math:`\alpha = (M + \lambda I)^{-1} Y` for any symmetric PSD operator
    :math:`M v` = ``matvec(v)`` (``v`` of shape (n, k)): the preconditioned conjugate gradients
    of :func:`solve_cg` (same ``tol``, ``maxiter``, :class:`CGInfo`), for kernels without a
    closed form here, such as the random-feature :math:`K_m`
    (:func:`nnkrr.features.rf_matvec`).  Pass ``matvec`` as a :class:`jax.tree_util.Partial`
    of a module-level function and its arrays: the arrays are then arguments of one compiled
    program, reused for every operator of the same shapes (a closure is traced and compiled
    again on each call, its arrays embedded as constants).

    Example:
      >>> import jax.numpy as jnp
      >>> alpha, info = cg(lambda v: jnp.array([[1.0], [3.0]]) * v, jnp.array([2.0, 4.0]), 1.0)
      >>> alpha.round(6)  # (diag(1, 3) + I)^-1 y
      Array([1., 1.], dtype=float32)
    """
    y = jnp.asarray(y)
    y = _as_targets("y", y, y.shape[0] if y.ndim else 0, _checks.float_dtype_of(y))
    _checks.check_positive("lam", lam)
    if tol is None:
        tol = max(CG_TOL, 100 * float(jnp.finfo(y.dtype).eps))
    _checks.check_positive("tol", tol)
    maxiter = _checks.check_positive_int("maxiter", maxiter)
    vector = y.ndim == 1
    y2 = y[:, None] if vector else y
    args = (y2, jnp.asarray(lam, y.dtype), preconditioner, jnp.asarray(tol, y.dtype), maxiter)
    if isinstance(matvec, jax.tree_util.Partial):
        alpha, info = _cg_operator_jit(matvec, *args)
    else:  # a closure: traced and compiled on each call, its arrays embedded as constants
        alpha, info = jax.jit(_cg_operator, static_argnums=(0, 5))(matvec, *args)
    return (alpha[:, 0] if vector else alpha), info


def _cg_operator(matvec, y, lam, precond, tol, maxiter):
    return _pcg(
        lambda v: matvec(v) + lam * v,
        None if precond is None else precond.apply,
        y,
        tol,
        maxiter,
    )


_cg_operator_jit = jax.jit(_cg_operator, static_argnames="maxiter")


def nystrom_statistical_dimension(precond: Nystrom) -> jax.Array:
    r""":math:`s_\lambda(\tilde K) = \sum_i \sigma_i / (\sigma_i + \lambda)` of the Nyström
    approximation :math:`\tilde K = U U^\top` (:math:`\sigma_i` the eigenvalues of
    :math:`U^\top U`): :math:`r - \lambda\,\mathrm{tr}\,C^{-1}`, from the stored factor of
    :math:`C = \lambda I + U^\top U`; a lower bound of :math:`s_\lambda(K)` (:math:`\tilde K
    \preceq K`)."""
    r = precond.u.shape[1]
    inv = jsl.solve_triangular(precond.chol_c, jnp.eye(r, dtype=precond.u.dtype), lower=True)
    return r - precond.lam * jnp.sum(inv * inv)


#: Rademacher probes of :func:`statistical_dimension_estimate`'s Hutchinson term.
S_LAMBDA_PROBES = 16


def statistical_dimension_estimate(precond: Nystrom, probes, solved) -> tuple[float, float]:
    r""":math:`s_\lambda = \mathrm{tr}[K (K + \lambda I)^{-1}] = n - \lambda\,\mathrm{tr}(K +
    \lambda I)^{-1}` without K's spectrum: the Nyström preconditioner P as a control variate
    (its trace exact, :func:`nystrom_statistical_dimension`) and Hutchinson's estimator
    (1989) for the rest,

    .. math:: s_\lambda = s_\lambda(\tilde K) - \lambda\,
              \mathbb{E}_z\big[z^\top\big((K + \lambda I)^{-1} - P^{-1}\big) z\big],

    :math:`z` Rademacher (``probes``, (n, k)), ``solved`` = :math:`(K + \lambda I)^{-1}`
    ``probes`` (one CG with the targets).  Returns the estimate and its standard error over
    the k probes."""
    terms = jnp.sum(probes * (solved - precond.apply(probes)), axis=0)  # (k,)
    k = terms.shape[0]
    base = nystrom_statistical_dimension(precond)
    est = base - precond.lam * jnp.mean(terms)
    se = precond.lam * jnp.std(terms, ddof=1) / np.sqrt(k) if k > 1 else jnp.nan
    return float(est), float(se)


# --------------------------------------------------------------------------- the choice

#: The exact-KRR paths: ``cholesky`` (K stored and factored), ``cg`` (:func:`solve_cg` with a
#: :func:`nystrom` preconditioner), ``auto`` (:func:`choose_solver`).
SOLVERS = ("auto", "cholesky", "cg")
#: ``auto`` takes Cholesky while XLA's planned bytes for K and its factor
#: (:func:`nnkrr.kernels.peak_bytes_kernel_and_cholesky`) are at most this fraction of the
#: device's memory, with room left for the rest of the job, and CG beyond.
DENSE_MEMORY_FRACTION = 0.5
#: ... and, on a backend listed here, CG from this n on, where it was measured to be faster
#: (``experiments/krr.py``, rank 2,048, 2 CPU cores, d = 40: 28.0 s against the Cholesky's 32.5 s at
#: n = 12,288; 2.2x slower at 8,192 with rank 512: ``benchmarks/results/cpu_krr_solvers.txt``).
CG_FASTER_FROM_N = {"cpu": 12288}


def device_memory(device=None) -> int:
    """Bytes of memory of ``device`` (default: the first): an accelerator's ``bytes_limit``,
    or the host's physical memory for a CPU."""
    import os

    device = jax.devices()[0] if device is None else device
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def choose_solver(
    n: int,
    d: int,
    dtype,
    solver: str = "auto",
    memory: int | None = None,
    backend: str | None = None,
) -> str:
    """``solver`` if it is ``cholesky`` or ``cg``; for ``auto``, ``cg`` from
    :data:`CG_FASTER_FROM_N` points on ``backend`` (default: jax's), else ``cholesky`` while K
    and its factor fit :data:`DENSE_MEMORY_FRACTION` of ``memory`` (default
    :func:`device_memory`), else ``cg``.

    Example:
      >>> choose_solver(1000, 8, "float64", memory=2**30, backend="cpu")  # 8 MB of K
      'cholesky'
      >>> choose_solver(20_000, 8, "float64", memory=2**40, backend="gpu")  # 3.2 GB of 1 TB
      'cholesky'
      >>> choose_solver(20_000, 8, "float64", memory=2**40, backend="cpu")  # CG is faster
      'cg'
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    if solver != "auto":
        return solver
    n, d = _checks.check_positive_int("n", n), _checks.check_positive_int("d", d)
    backend = jax.default_backend() if backend is None else backend
    if n >= CG_FASTER_FROM_N.get(backend, n + 1):
        return "cg"
    memory = device_memory() if memory is None else memory
    if n * n * jnp.dtype(dtype).itemsize > DENSE_MEMORY_FRACTION * memory:
        return "cg"  # K alone does not fit: no need to ask XLA
    fits = kernels.peak_bytes_kernel_and_cholesky(n, d, dtype) <= DENSE_MEMORY_FRACTION * memory
    return "cholesky" if fits else "cg"
