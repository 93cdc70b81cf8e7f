r"""The problem a job solves: the data, the exact kernel and the NTK-KRR target.

For inputs X (n, d), targets Y (n,), output scale :math:`\kappa` and ridge :math:`\lambda`:

.. math:: f^*(x) = \kappa^2 K(x, X) (\kappa^2 K + \lambda I)^{-1} Y, \qquad
          s_\lambda = \sum_i \frac{\mu_i}{\mu_i + \lambda},

with :math:`\mu_i` the eigenvalues of :math:`\kappa^2 K`.  Two paths, chosen once by
:func:`nnkrr.krr.choose_solver` (``solver`` of the sweep config):

* ``cholesky``: K stored, :math:`\kappa^2 K + \lambda I` factored once (:func:`nnkrr.krr.factor`;
  every later solve with the same K, such as the flips prediction's, reuses it), its spectrum
  by ``eigvalsh`` (:math:`s_\lambda` and :math:`\mu_{\min}` exact);
* ``cg``: nothing n x n: :math:`(\kappa^2 K + \lambda I)^{-1}` applied by
  :func:`nnkrr.krr.solve_cg` on the kernel's closed form with a Nyström preconditioner built
  once; :math:`f^*` by row-block matvecs; :math:`s_\lambda` estimated
  (:func:`nnkrr.krr.statistical_dimension_estimate`, its standard error kept) in the same CG
  as the target; :math:`\mu_{\min}` not computed (the horizon takes its lower bound, 0).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from nnkrr import data as data_lib
from nnkrr import krr
from nnkrr.scale import Scale

__all__ = ["Formula", "Problem", "Solved", "make_problem", "target_key"]


@dataclasses.dataclass(frozen=True)
class Formula:
    """A kernel's closed form for :func:`nnkrr.krr.kernel_matvec`: ``kernel(x1, x2) -> (n1, n2)``
    and the exact ``diagonal(x) -> (n,)`` (module-level functions: static under jit)."""

    kernel: Callable
    diagonal: Callable | None


@dataclasses.dataclass(frozen=True, eq=False)
class Solved:
    r"""What the ``cg`` path's one CG gives, at the ridge on K (no :math:`\kappa`): the
    coefficients :math:`(K + \mathrm{ridge}\, I)^{-1} Y` (n,), :math:`f^*` on the test points
    (n_t,), :math:`s_\lambda` and its standard error, the CG's iterations and residual.  The
    jobs of a sweep that share a :func:`target_key` share it (a cache the shell keeps)."""

    alpha: np.ndarray
    f_star: np.ndarray
    s_lambda: float
    s_lambda_se: float
    iterations: int
    residual: float


def target_key(x, y, x_test, ridge: float, formula: Formula, rank: int, key) -> str:
    """A digest of everything that determines :class:`Solved`: the data's bytes (training
    inputs and targets, test inputs, float64), the ridge on K, the kernel's closed form, the
    preconditioner's rank and key."""
    import hashlib

    h = hashlib.sha256()
    for a in (x, y, x_test):
        a = np.ascontiguousarray(np.asarray(a, np.float64))
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    names = [getattr(f, "__qualname__", repr(f)) for f in (formula.kernel, formula.diagonal)]
    h.update(repr((float(ridge), names, int(rank))).encode())
    h.update(np.asarray(jax.random.key_data(key)).tobytes())
    return h.hexdigest()[:32]


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """One job's data, exact kernel (times :math:`\\kappa^2`) and NTK-KRR target, float64.

    Shapes: ``x`` (n, d), ``y`` (n,), ``x_test`` (n_t, d), ``y_test`` (n_t,),
    ``f_star`` (n_t,), ``beta`` (n,); on the ``cholesky`` path ``k_train`` (n, n),
    ``k_test`` (n_t, n) and ``factor``; on the ``cg`` path those are ``None`` and
    ``formula``, ``preconditioner`` and ``info`` (the target's :class:`nnkrr.krr.CGInfo`) set.
    """

    dataset: data_lib.Dataset
    x: jax.Array
    y: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    lam: float
    kappa: float
    solver: str  # cholesky | cg
    beta: jax.Array  # (kappa^2 K + lam I)^-1 y
    f_star: jax.Array  # kappa^2 K(x_test, X) beta
    s_lambda: float
    s_lambda_se: float  # standard error of an estimated s_lambda (0: exact)
    mu_min: float  # smallest eigenvalue of kappa^2 K (0, its lower bound, on the cg path)
    k_train: jax.Array | None = None
    k_test: jax.Array | None = None
    factor: krr.Factor | None = None  # of k_train + lam I
    formula: Formula | None = None
    preconditioner: krr.Nystrom | None = None
    info: krr.CGInfo | None = None

    def solve(self, y: jax.Array) -> jax.Array:
        """:math:`(\\kappa^2 K + \\lambda I)^{-1} y` for ``y`` (n,) or (n, k): the stored factor,
        or CG with the problem's preconditioner (to the default tolerance)."""
        if self.factor is not None:
            return krr.solve(self.factor, y)
        return self._cg(y)[0]

    def _cg(self, y):
        k2 = self.kappa**2
        alpha, info = krr.solve_cg(
            self.x,
            jnp.asarray(y) / k2,
            self.lam / k2,
            kernel=self.formula.kernel,
            diagonal=self.formula.diagonal,
            preconditioner=self.preconditioner,
        )
        return alpha, info


def make_problem(
    ds: data_lib.Dataset,
    target: int,
    kernel: Callable,
    scale: Scale,
    *,
    solver: str = "cholesky",
    formula: Formula | None = None,
    rank: int = krr.NYSTROM_RANK,
    key: jax.Array | None = None,
    cache=None,
) -> Problem:
    r"""The :class:`Problem` of data set ``ds``'s output column ``target`` at ``scale``: the
    kernel :math:`\kappa^2 K` and the ridge :math:`\lambda = \kappa^2 \cdot \mathrm{ridge}`.

    Args:
      ds, target: the data set and the column of Y.
      kernel: ``kernel(x, x_test) -> (K, K_test)``, the exact kernel (a model kind's,
        ``nnkrr.models.KINDS[kind].kernel`` with its model config); the ``cholesky`` path.
      scale: the job's :class:`nnkrr.scale.Scale`.
      solver: ``cholesky`` or ``cg`` (:func:`nnkrr.krr.choose_solver` resolves ``auto``).
      formula: the kernel's closed form (the ``cg`` path; the model kind's ``formula``).
      rank: the ``cg`` path's Nyström landmarks (at most n).
      key: the landmarks' and the :math:`s_\lambda` probes' key (default ``key(0)``).
      cache: the ``cg`` path's store of :class:`Solved` (``get(key) -> Solved | None``,
        ``put(key, solved)``, keyed by :func:`target_key`), so the jobs of a sweep that share
        a target solve it once; ``None``: none.

    Needs ``jax_enable_x64`` (the references are float64)."""
    x, xt = jnp.asarray(ds.x_train, jnp.float64), jnp.asarray(ds.x_test, jnp.float64)
    y = jnp.asarray(ds.y_train[:, target], jnp.float64)
    yt = jnp.asarray(ds.y_test[:, target], jnp.float64)
    kappa, lam = scale.kappa, scale.lam
    common = dict(dataset=ds, x=x, y=y, x_test=xt, y_test=yt, lam=lam, kappa=kappa)
    if solver == "cholesky":
        k_train, k_test = kernel(x, xt)
        k_train, k_test = kappa**2 * k_train, kappa**2 * k_test
        fac = krr.factor(k_train, lam)
        beta = krr.solve(fac, y)
        mu = np.linalg.eigvalsh(np.asarray(k_train))
        return Problem(
            **common,
            solver=solver,
            beta=beta,
            f_star=krr.predict(k_test, beta),
            s_lambda=float(np.sum(mu / (mu + lam))),
            s_lambda_se=0.0,
            mu_min=float(mu[0]),
            k_train=k_train,
            k_test=k_test,
            factor=fac,
        )
    if solver != "cg":
        raise ValueError(f"solver must be 'cholesky' or 'cg', got {solver!r}")
    if formula is None:
        raise ValueError("solver='cg' needs the kernel's closed form (formula)")
    key = jax.random.key(0) if key is None else key
    k_landmarks, k_probes = jax.random.split(key)
    ridge = lam / kappa**2  # KRR with (kappa^2 K, lam) is KRR with (K, ridge)
    precond = krr.nystrom(k_landmarks, x, ridge, rank, kernel=formula.kernel)
    digest = None if cache is None else target_key(x, y, xt, ridge, formula, rank, key)
    solved = None if cache is None else cache.get(digest)
    if solved is None:
        solved = _solve_target(x, y, xt, ridge, formula, precond, k_probes)
        if cache is not None:
            cache.put(digest, solved)
    beta = jnp.asarray(solved.alpha) / kappa**2
    f_star = jnp.asarray(solved.f_star)
    info = krr.CGInfo(
        jnp.asarray(solved.iterations),
        jnp.asarray(solved.residual),
        jnp.asarray(solved.residual <= krr.CONVERGED_SLACK * krr.CG_TOL),
    )
    s_lam, s_se = solved.s_lambda, solved.s_lambda_se
    return Problem(
        **common,
        solver=solver,
        beta=beta,
        f_star=f_star,
        s_lambda=s_lam,
        s_lambda_se=s_se,
        mu_min=0.0,
        formula=formula,
        preconditioner=precond,
        info=info,
    )


def _solve_target(x, y, xt, ridge, formula: Formula, precond, key) -> Solved:
    r"""The target and the :math:`s_\lambda` probes in one CG (right-hand sides [y, z_1..z_k])."""
    probes = jax.random.rademacher(key, (x.shape[0], krr.S_LAMBDA_PROBES), jnp.float64)
    alpha, info = krr.solve_cg(
        x,
        jnp.concatenate([y[:, None], probes], axis=1),
        ridge,
        kernel=formula.kernel,
        diagonal=formula.diagonal,
        preconditioner=precond,
    )
    s_lam, s_se = krr.statistical_dimension_estimate(precond, probes, alpha[:, 1:])
    f_star = krr.kernel_matvec(
        x, alpha[:, 0], kernel=formula.kernel, diagonal=formula.diagonal, rows=xt
    )
    return Solved(
        np.asarray(alpha[:, 0]),
        np.asarray(f_star),
        s_lam,
        s_se,
        int(info.iterations),
        float(info.residual),
    )
