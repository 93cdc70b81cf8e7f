"""Random features of kernels K(x, z) = E_{w ~ p}[phi(x, w)^T phi(z, w)], and their error.

A :class:`FeatureKernel` is the small spec that the paper's generalised leverage
sampler (Lee et al. 2020, Sec. 3) needs: a vector-valued feature map phi(x, w) in R^P,
a base density p with its sampler, the exact kernel for checking, and a bound on the
ridge leverage score (see :mod:`nnkrr.sampling`).  Three instances ship:

============  =====================================  =========  ==========================
name           phi(x, w)                              p          exact kernel
============  =====================================  =========  ==========================
relu_ntk       x 1[w^T x >= 0]            (P = d)     N(0, I)    two-layer ReLU NTK
arccos1        relu(w^T x)                (P = 1)     N(0, I)    arc-cosine kernel, order 1
rff_gaussian   [cos w^T x, sin w^T x]     (P = 2)     N(0, I/s^2) Gaussian, bandwidth s
============  =====================================  =========  ==========================

For ``relu_ntk`` the features are the first-layer gradients of the paper's network at
initialisation, so the number of features m is the network's width.

A sample ``(w_r, c_r)``, r = 1..m, gives the random-feature kernel

    K_m(x, z) = (1/m) sum_r c_r^2 phi(x, w_r)^T phi(z, w_r),

with c_r = 1 for w_r ~ p and c_r = sqrt(p(w_r) / q(w_r)) for w_r ~ q, so E[K_m] = K.
Its quality is the spectral error :func:`spectral_epsilon`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from nnkrr import _checks, kernels
from nnkrr._linalg import HIGHEST, mm

__all__ = [
    "ARCCOS1",
    "KERNELS",
    "RELU_NTK",
    "SPECTRAL_METHODS",
    "FeatureKernel",
    "get_kernel",
    "largest_eigenvalue",
    "rf_kernel",
    "rf_matvec",
    "rf_spectral_epsilon",
    "ridge_whitener",
    "rff_gaussian",
    "spectral_epsilon",
]


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureKernel:
    r"""A kernel :math:`K(x, z) = E_{w \sim p}[\phi(x, w)^\top \phi(z, w)]` with P-dim features.

    Instances are hashable by identity, so they can be static arguments of ``jax.jit``.

    Attributes:
      name: registry name.
      features: ``(x (n, d), w (m, d)) -> (n, m, P)``, phi(x_i, w_r).
      exact: ``(x1, x2=None) -> (n1, n2)``, the exact kernel.
      sample_base: ``(key, m, d, dtype) -> (m, d)``, draws from p.
      proposal: ``"base"`` (rejection proposes from p) or ``"tilted"`` (from
        q0(w) = t(w) p(w) / E_p[t], for scores unbounded in w).
      score_bound: ``(x, a, lam_max_a) -> C`` with score(w) <= C t(w) for every w,
        where score(w) = tr[Phi(w)^T A Phi(w)], A = (K + lam I)^{-1} and t = 1 for
        ``proposal="base"``.  ``lam_max_a`` is the largest eigenvalue of A.
      tilt: ``w (m, d) -> t(w) (m,)`` (tilted proposals only).
      tilt_mean: ``d -> E_p[t(w)]``, the normaliser of q0 (tilted proposals only).
      sample_tilted: ``(key, m, d, dtype) -> (m, d)``, exact draws from q0.
      gram: ``(x1, x2, w, c2) -> sum_r c2_r phi(x1, w_r) phi(x2, w_r)^T`` without the
        (n, m, P) feature tensor; ``None`` falls back to :attr:`features`.
      prepare: ``(x, a) -> aux``, precomputation for :attr:`fast_scores`.
      fast_scores: ``(aux, x, w) -> score (m,)``, a faster exact score; ``None`` uses
        the generic tr[Phi^T A Phi].
      gram_matvec: ``(x_rows, x, w, c2, v) -> sum_r c2_r phi(x_rows, w_r) phi(x, w_r)^T v``
        for ``v`` (n, k), in O((n_rows + n) m (P + k)) without an (n_rows, n) block
        (``x_rows`` ``None``: x, its features computed once);
        ``None`` falls back to :attr:`features` (:func:`rf_matvec`).
    """

    name: str
    features: Callable
    exact: Callable
    sample_base: Callable
    proposal: Literal["base", "tilted"]
    score_bound: Callable
    tilt: Callable | None = None
    tilt_mean: Callable | None = None
    sample_tilted: Callable | None = None
    gram: Callable | None = None
    prepare: Callable | None = None
    fast_scores: Callable | None = None
    gram_matvec: Callable | None = None

    def __repr__(self) -> str:
        return f"FeatureKernel({self.name!r})"


def _normal(key, m, d, dtype):
    return jax.random.normal(key, (m, d), dtype=dtype)


# --------------------------------------------------------------------------- relu_ntk


def _relu_ntk_features(x, w):
    return x[:, None, :] * (mm(x, w.T) >= 0)[:, :, None].astype(x.dtype)


def _relu_ntk_gram(x1, x2, w, c2):
    s1 = (mm(x1, w.T) >= 0).astype(x1.dtype)
    s2 = (mm(x2, w.T) >= 0).astype(x2.dtype)
    return mm(x1, x2.T) * mm(s1 * c2[None, :], s2.T)


def _relu_ntk_gram_matvec(x_rows, x, w, c2, v):
    # sum_r c2_r s_r(x_i) x_i^T sum_j s_r(x_j) x_j v_j: the (chunk, k d) sums, then back
    n, k = v.shape
    s = (mm(x, w.T) >= 0).astype(x.dtype)  # (n, chunk) activation patterns
    t = mm(s.T, (v[:, :, None] * x[:, None, :]).reshape(n, -1)) * c2[:, None]  # (chunk, k d)
    s_rows = s if x_rows is None else (mm(x_rows, w.T) >= 0).astype(x.dtype)
    x_rows = x if x_rows is None else x_rows
    out = mm(s_rows, t).reshape(x_rows.shape[0], k, -1)
    return jnp.sum(out * x_rows[:, None, :], axis=2)


def _relu_ntk_prepare(x, a):
    return a * mm(x, x.T)  # M = A o (X X^T)


def _relu_ntk_fast_scores(m_mat, x, w):
    s = (mm(w, x.T) >= 0).astype(m_mat.dtype)  # (B, n) activation patterns
    return jnp.sum(mm(s, m_mat) * s, axis=1)  # s^T M s, row by row


def _relu_ntk_bound(x, a, lam_max_a):
    r"""An upper bound on score(w) = s^T M s over every pattern s in {0, 1}^n.

    M = A o X X^T is PSD (a Schur product of PSD matrices).  Three bounds, the least taken:

    * the sum of M's positive entries;
    * tr[Phi^T A Phi] <= lam_max(A) ||Phi||_F^2 <= lam_max(A) sum_i |x_i|^2;
    * with s = (1 + z) / 2, z in {-1, 1}^n:
      s^T M s = (1^T M 1 + 2 z^T M 1 + z^T M z) / 4 with z^T M z <= n lam_max(M) and
      z^T M 1 <= min(||M 1||_1, sqrt(n lam_max(M) 1^T M 1)) (Cauchy-Schwarz in M's inner
      product).  This one is 4x below the others on the sphere and the cone at n = 2048 and
      4096 (``benchmarks/sampling.py --large-only``: bound / s_lam 25.6 against 102 on the
      cone at n = 2048), so rejection accepts 4x more proposals.

    Round-off: lam_max(M) by ``eigvalsh`` and the sums are exact to a few ulps of n terms;
    the bound is raised by 16 n ulps, and every proposal's ratio is checked against 1.
    """
    m_mat = _relu_ntk_prepare(x, a)
    n = x.shape[0]
    lam_max_m = jnp.maximum(jnp.linalg.eigvalsh(m_mat)[-1], 0)
    ones = jnp.sum(m_mat)
    cross = jnp.minimum(
        jnp.sum(jnp.abs(jnp.sum(m_mat, axis=1))), jnp.sqrt(n * lam_max_m * jnp.maximum(ones, 0))
    )
    centred = (ones + 2 * cross + n * lam_max_m) / 4
    bound = jnp.minimum(jnp.sum(jnp.maximum(m_mat, 0)), lam_max_a * jnp.sum(x * x))
    return jnp.minimum(bound, centred) * (1 + 16 * n * jnp.finfo(m_mat.dtype).eps)


#: The paper's kernel: phi(x, w) = x 1[w^T x >= 0], p = N(0, I_d).
RELU_NTK = FeatureKernel(
    name="relu_ntk",
    features=_relu_ntk_features,
    exact=kernels.relu_ntk_closed_form,
    sample_base=_normal,
    proposal="base",
    score_bound=_relu_ntk_bound,
    gram=_relu_ntk_gram,
    prepare=_relu_ntk_prepare,
    fast_scores=_relu_ntk_fast_scores,
    gram_matvec=_relu_ntk_gram_matvec,
)


# --------------------------------------------------------------------------- arccos1


def _arccos1_gram(x1, x2, w, c2):
    return mm(jax.nn.relu(mm(x1, w.T)) * c2[None, :], jax.nn.relu(mm(x2, w.T)).T)


def _arccos1_gram_matvec(x_rows, x, w, c2, v):
    phi = jax.nn.relu(mm(x, w.T))
    phi_rows = phi if x_rows is None else jax.nn.relu(mm(x_rows, w.T))
    return mm(phi_rows, c2[:, None] * mm(phi.T, v))


def _arccos1_bound(x, a, lam_max_a):
    # relu(Xw)^T A relu(Xw) <= lam_max(A) |Xw|^2 <= lam_max(A) ||X||_2^2 |w|^2.
    return lam_max_a * jnp.linalg.norm(x, ord=2) ** 2


def _sample_norm_tilted(key, m, d, dtype):
    """Exact draws from q0(w) ∝ |w|^2 N(w; 0, I): w = r u, u uniform, r^2 ~ chi^2_{d+2}."""
    ku, kr = jax.random.split(key)
    u = jax.random.normal(ku, (m, d), dtype=dtype)
    u = u / jnp.linalg.norm(u, axis=1, keepdims=True)
    r = jnp.linalg.norm(jax.random.normal(kr, (m, d + 2), dtype=dtype), axis=1)
    return u * r[:, None]


#: ReLU random features: phi(x, w) = relu(w^T x), p = N(0, I_d); unbounded in w,
#: so rejection proposes from q0(w) ∝ |w|^2 p(w).
ARCCOS1 = FeatureKernel(
    name="arccos1",
    features=lambda x, w: jax.nn.relu(mm(x, w.T))[:, :, None],
    exact=kernels.arccos1_kernel,
    sample_base=_normal,
    proposal="tilted",
    score_bound=_arccos1_bound,
    tilt=lambda w: jnp.sum(w * w, axis=1),
    tilt_mean=lambda d: float(d),  # E|w|^2 under N(0, I_d)
    sample_tilted=_sample_norm_tilted,
    gram=_arccos1_gram,
    gram_matvec=_arccos1_gram_matvec,
)


# --------------------------------------------------------------------------- rff_gaussian


def rff_gaussian(bandwidth: float = 1.0) -> FeatureKernel:
    """Random Fourier features of the Gaussian kernel of width ``bandwidth`` (Avron et al. 2017).

    phi(x, w) = [cos w^T x, sin w^T x], w ~ N(0, I / bandwidth^2):
    E[phi(x)^T phi(z)] = E[cos w^T (x - z)] = exp(-|x - z|^2 / (2 bandwidth^2)).
    Since |phi| = 1, score(w) <= lam_max(A) n, Avron et al.'s bound n / lam.
    """
    _checks.check_positive("bandwidth", bandwidth)
    bandwidth = float(bandwidth)

    def features(x, w):
        t = mm(x, w.T)
        return jnp.stack([jnp.cos(t), jnp.sin(t)], axis=-1)

    def gram(x1, x2, w, c2):
        t1, t2 = mm(x1, w.T), mm(x2, w.T)
        return mm(jnp.cos(t1) * c2[None, :], jnp.cos(t2).T) + mm(
            jnp.sin(t1) * c2[None, :], jnp.sin(t2).T
        )

    return FeatureKernel(
        name="rff_gaussian",
        features=features,
        exact=lambda x1, x2=None: kernels.gaussian_kernel(x1, x2, bandwidth=bandwidth),
        sample_base=lambda key, m, d, dtype: _normal(key, m, d, dtype) / bandwidth,
        proposal="base",
        score_bound=lambda x, a, lam_max_a: lam_max_a * x.shape[0],
        gram=gram,
    )


RFF_GAUSSIAN = rff_gaussian(1.0)

#: Registry of the shipped instances, by name.
KERNELS: dict[str, FeatureKernel] = {
    "relu_ntk": RELU_NTK,
    "arccos1": ARCCOS1,
    "rff_gaussian": RFF_GAUSSIAN,
}


def get_kernel(kernel: str | FeatureKernel) -> FeatureKernel:
    """A :class:`FeatureKernel` from its registry name (or itself)."""
    if isinstance(kernel, FeatureKernel):
        return kernel
    if kernel not in KERNELS:
        raise ValueError(
            f"kernel must be one of {sorted(KERNELS)} or a FeatureKernel, got {kernel!r}"
        )
    return KERNELS[kernel]


# --------------------------------------------------------------------------- K_m and eps


def _generic_gram(spec: FeatureKernel, x1, x2, w, c2):
    f1 = spec.features(x1, w) * c2[None, :, None]
    f2 = spec.features(x2, w)
    return jnp.einsum("irp,jrp->ij", f1, f2, precision=HIGHEST)


def _rf_kernel(spec: FeatureKernel, x1, x2, w, scale, chunk: int):
    m = w.shape[0]
    gram = spec.gram or (lambda a, b, ww, cc: _generic_gram(spec, a, b, ww, cc))
    c2 = scale * scale
    n_chunks = -(-m // chunk)
    pad = n_chunks * chunk - m
    # Padded features get weight c^2 = 0 and so add nothing.
    w = jnp.pad(w, ((0, pad), (0, 0))).reshape(n_chunks, chunk, -1)
    c2 = jnp.pad(c2, (0, pad)).reshape(n_chunks, chunk)

    def body(acc, wc):
        return acc + gram(x1, x2, wc[0], wc[1]), None

    init = jnp.zeros((x1.shape[0], x2.shape[0]), x1.dtype)
    total, _ = jax.lax.scan(body, init, (w, c2))
    return total / m


_rf_kernel_jit = jax.jit(_rf_kernel, static_argnums=(0, 5))


def rf_kernel(
    x1, x2, sample, kernel: str | FeatureKernel = "relu_ntk", *, chunk: int = 4096
) -> jax.Array:
    r"""Random-feature kernel :math:`K_m(x, z) = \frac1m \sum_r c_r^2 \phi(x, w_r)^\top \phi(z, w_r)`.

    Computed ``chunk`` features at a time from the kernel's ``gram`` (for ``relu_ntk``:
    :math:`(X_1 X_2^\top) \circ (S_1 \,\mathrm{diag}(c^2)\, S_2^\top) / m` with
    :math:`S = 1[X W^\top \ge 0]`), so neither an ``(n, m d)`` feature matrix nor more
    than ``n * chunk`` activations are held at once.

    Args:
      x1: inputs, shape ``(n1, d)``.
      x2: inputs, shape ``(n2, d)``, or ``None`` for ``x1``.
      sample: a :class:`nnkrr.sampling.FeatureSample` (``w`` of shape ``(m, d)``,
        ``scale`` of shape ``(m,)``), or any object with those fields.
      kernel: a registry name or :class:`FeatureKernel`.
      chunk: features per step.

    Returns:
      ``K_m``, shape ``(n1, n2)``.
    """
    spec = get_kernel(kernel)
    x1 = _checks.as_matrix("x1", x1)
    x2 = x1 if x2 is None else _checks.as_matrix("x2", x2)
    _checks.check_same_features("x1", x1, "x2", x2)
    w = _checks.as_matrix("sample.w", sample.w)
    scale = _checks.as_matrix("sample.scale", sample.scale, ndim=1)
    _checks.check_same_features("x1", x1, "sample.w", w)
    if scale.shape[0] != w.shape[0]:
        raise ValueError(
            f"sample.scale has {scale.shape[0]} entries but sample.w has {w.shape[0]} rows"
        )
    chunk = min(_checks.check_positive_int("chunk", chunk), w.shape[0])
    return _rf_kernel_jit(spec, x1, x2, w, scale, chunk)


#: Activations per step of :func:`rf_matvec`: ``chunk = RF_MATVEC_ENTRIES / n`` features (a
#: power of two, at least 64), so a step's (n, chunk) patterns are 64 MiB in float64.
RF_MATVEC_ENTRIES = 2**23


def _generic_gram_matvec(spec: FeatureKernel, x_rows, x, w, c2, v):
    phi = spec.features(x, w)
    t = jnp.einsum("irp,ik->rkp", phi, v, precision=HIGHEST) * c2[:, None, None]
    phi_rows = phi if x_rows is None else spec.features(x_rows, w)
    return jnp.einsum("jrp,rkp->jk", phi_rows, t, precision=HIGHEST)


@functools.partial(jax.jit, static_argnums=(0, 6))
def _rf_matvec(spec: FeatureKernel, x_rows, x, w, scale, v, chunk: int):
    m = w.shape[0]
    apply = spec.gram_matvec or (lambda *a: _generic_gram_matvec(spec, *a))
    n_chunks = -(-m // chunk)
    pad = n_chunks * chunk - m  # padded features get c^2 = 0 and add nothing
    w = jnp.pad(w, ((0, pad), (0, 0))).reshape(n_chunks, chunk, -1)
    c2 = jnp.pad(scale * scale, (0, pad)).reshape(n_chunks, chunk)

    def body(acc, wc):
        return acc + apply(x_rows, x, wc[0], wc[1], v), None

    n_rows = x.shape[0] if x_rows is None else x_rows.shape[0]
    total, _ = jax.lax.scan(body, jnp.zeros((n_rows, v.shape[1]), x.dtype), (w, c2))
    return total / m


def rf_matvec(
    x, sample, v, kernel: str | FeatureKernel = "relu_ntk", *, rows=None, chunk: int | None = None
) -> jax.Array:
    r""":math:`K_m v` for the random-feature kernel of :func:`rf_kernel`, never forming it:

    .. math:: (K_m v)_i = \frac1m \sum_r c_r^2\, \phi(x_i, w_r)^\top \sum_j \phi(x_j, w_r)\, v_j,

    ``chunk`` features at a time, O((n_rows + n) m P) work and O(n chunk) memory (for
    ``relu_ntk``, :math:`\phi(x, w) = x\, 1[w^\top x \ge 0]`: two products of the (n, chunk)
    patterns with (n, k d) and (chunk, k d) blocks), where the matrix costs O(n^2 m).

    Args:
      x: inputs, shape ``(n, d)``.
      sample: a :class:`nnkrr.sampling.FeatureSample` (``w`` (m, d), ``scale`` (m,)).
      v: vectors, shape ``(n,)`` or ``(n, k)``.
      kernel: a registry name or :class:`FeatureKernel`.
      rows: other inputs ``(n_r, d)``: :math:`K_m(\mathrm{rows}, X)\, v`; ``None``: x.
      chunk: features per step; ``None``: :data:`RF_MATVEC_ENTRIES` / n (a power of two, at
        least 64, at most m).

    Returns:
      Shape ``(n,)`` or ``(n, k)`` as ``v`` (``n_r`` rows with ``rows``).

    Example:
      >>> import jax.numpy as jnp
      >>> from nnkrr.sampling import FeatureSample
      >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> one = FeatureSample(jnp.array([[1.0, 1.0]]), jnp.array([1.0]))  # both patterns on
      >>> rf_matvec(x, one, jnp.array([1.0, 1.0]))  # K_m = X X^T = diag(1, 4)
      Array([1., 4.], dtype=float32)
    """
    spec = get_kernel(kernel)
    x = _checks.as_matrix("x", x)
    if rows is not None:  # None: x itself, its features computed once per chunk
        rows = _checks.as_matrix("rows", rows, dtype=x.dtype)
        _checks.check_same_features("rows", rows, "x", x)
    w = _checks.as_matrix("sample.w", sample.w, dtype=x.dtype)
    scale = _checks.as_matrix("sample.scale", sample.scale, dtype=x.dtype, ndim=1)
    _checks.check_same_features("x", x, "sample.w", w)
    if scale.shape[0] != w.shape[0]:
        raise ValueError(
            f"sample.scale has {scale.shape[0]} entries but sample.w has {w.shape[0]} rows"
        )
    v = jnp.asarray(v, x.dtype)
    if v.ndim not in (1, 2) or v.shape[0] != x.shape[0]:
        raise ValueError(f"v must have shape ({x.shape[0]},) or ({x.shape[0]}, k), got {v.shape}")
    if chunk is None:
        chunk = max(64, 2 ** int(np.log2(max(RF_MATVEC_ENTRIES // x.shape[0], 1))))
    chunk = min(_checks.check_positive_int("chunk", chunk), w.shape[0])
    out = _rf_matvec(spec, rows, x, w, scale, v.reshape(x.shape[0], -1), chunk)
    return out[:, 0] if v.ndim == 1 else out


@jax.jit
def _spectral_epsilon(k, k_approx, lam):
    mu, u = jnp.linalg.eigh(k)  # once, for every approximation in the batch
    inv_sqrt = mm(u / jnp.sqrt(jnp.maximum(mu, 0) + lam)[None, :], u.T)

    def eps(k_m):
        e = mm(mm(inv_sqrt, k_m - k), inv_sqrt)
        return jnp.max(jnp.abs(jnp.linalg.eigvalsh((e + e.T) / 2)))

    return jax.vmap(eps)(k_approx.reshape((-1,) + k.shape)).reshape(k_approx.shape[:-2])


#: ``spectral_epsilon``'s methods: ``eigh`` (an eigendecomposition of K, O(n^3) with a large
#: constant), ``lanczos`` (a Cholesky factor of K + lam I and :data:`LANCZOS_STEPS` products),
#: ``auto`` (``eigh`` below :data:`SPECTRAL_LANCZOS_FROM_N` points, ``lanczos`` from there on).
SPECTRAL_METHODS = ("auto", "eigh", "lanczos")
#: Lanczos steps (full reorthogonalisation) per approximation: the largest |eigenvalue| of the
#: whitened difference converges from below; its Ritz residual is checked (:func:`_lanczos`).
LANCZOS_STEPS = 96
#: Lanczos's relative Ritz residual at most this, or spectral_epsilon raises.
LANCZOS_TOL = 1e-6
#: ``auto`` takes Lanczos from this n on, where it was measured faster: 1.4x at n = 512 for one
#: approximation, 4.7x at 2,048 (``benchmarks/results/cpu_spectral_eps.txt``; n < 512 not measured).
SPECTRAL_LANCZOS_FROM_N = 512


def _lanczos(op, v0, steps):
    """The largest |Ritz value| of the symmetric ``op`` after ``steps`` Lanczos steps from
    ``v0`` (full reorthogonalisation), and its residual ``|beta_k s_k|`` (Parlett 1998, 13.1)."""
    n = v0.shape[0]
    q = jnp.zeros((steps + 1, n), v0.dtype).at[0].set(v0 / jnp.linalg.norm(v0))
    tiny = jnp.finfo(v0.dtype).tiny

    def body(j, carry):
        q, alpha, beta = carry
        w = op(q[j])
        alpha = alpha.at[j].set(jnp.dot(q[j], w, precision=HIGHEST))
        for _ in range(2):  # twice is enough (Kahan, Parlett)
            w = w - mm(q.T, mm(q, w))
        b = jnp.linalg.norm(w)
        beta = beta.at[j].set(b)
        return q.at[j + 1].set(jnp.where(b > tiny, w / jnp.where(b > tiny, b, 1), 0)), alpha, beta

    zeros = jnp.zeros(steps, v0.dtype)
    _, alpha, beta = jax.lax.fori_loop(0, steps, body, (q, zeros, zeros))
    t = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
    theta, s = jnp.linalg.eigh(t)
    i = jnp.argmax(jnp.abs(theta))
    return jnp.abs(theta[i]), jnp.abs(beta[-1] * s[-1, i])


#: Lanczos steps of :func:`largest_eigenvalue` (the top of a kernel's spectrum is well
#: separated: the constant mode), and the relative Ritz residual it must reach.
TOP_EIGENVALUE_STEPS = 32
TOP_EIGENVALUE_TOL = 1e-3


def largest_eigenvalue(matvec: Callable, n: int, dtype, *, steps: int = TOP_EIGENVALUE_STEPS):
    """The largest |eigenvalue| of the symmetric operator ``matvec`` ((n,) -> (n,)) by
    ``steps`` Lanczos steps (:func:`_lanczos`, from ``normal(key(0))``), for a PSD operator its
    largest eigenvalue (a Ritz value: from below).  As in :func:`nnkrr.krr.cg`, a
    :class:`jax.tree_util.Partial` ``matvec`` is compiled once per shape.

    Raises:
      ValueError: when the relative Ritz residual is above :data:`TOP_EIGENVALUE_TOL`.

    Example:
      >>> import jax.numpy as jnp
      >>> d = jnp.arange(1.0, 6.0)
      >>> round(largest_eigenvalue(lambda v: d * v, 5, jnp.float32), 4)
      5.0
    """
    steps = min(_checks.check_positive_int("steps", steps), n)
    v0 = jax.random.normal(jax.random.key(0), (n,), dtype)
    if isinstance(matvec, jax.tree_util.Partial):
        value, residual = _lanczos_jit(matvec, v0, steps)
    else:  # a closure: traced and compiled on each call
        value, residual = jax.jit(lambda v: _lanczos(matvec, v, steps))(v0)
    value, residual = float(value), float(residual)
    if residual > TOP_EIGENVALUE_TOL * max(value, np.finfo(np.dtype(dtype)).tiny):
        raise ValueError(
            f"largest_eigenvalue: Lanczos did not converge in {steps} steps (relative Ritz "
            f"residual {residual / value:.2g} > {TOP_EIGENVALUE_TOL:g})"
        )
    return value


_lanczos_jit = jax.jit(_lanczos, static_argnums=2)


@functools.partial(jax.jit, static_argnames="steps")
def _spectral_epsilon_lanczos(k, k_approx, lam, steps):
    n = k.shape[0]
    chol = jnp.linalg.cholesky(k + lam * jnp.eye(n, dtype=k.dtype))
    v0 = jax.random.normal(jax.random.key(0), (n,), k.dtype)

    def eps(k_m):
        diff = k_m - k

        def op(v):  # L^-1 (K_m - K) L^-T v: similar to the whitened difference
            u = jax.scipy.linalg.solve_triangular(chol, v, lower=True, trans=1)
            return jax.scipy.linalg.solve_triangular(chol, mm(diff, u), lower=True)

        return _lanczos(op, v0, steps)

    return jax.lax.map(eps, k_approx)  # k_approx (b, n, n): eps (b,), residual (b,)


def spectral_epsilon(k, k_approx, lam, *, method: str = "auto") -> jax.Array:
    r"""Spectral error of an approximation :math:`\tilde K` of :math:`K`.

    .. math:: \epsilon = \| (K + \lambda I)^{-1/2} (\tilde K - K) (K + \lambda I)^{-1/2} \|_2,

    the smallest :math:`\epsilon` with
    :math:`(1-\epsilon)(K + \lambda I) \preceq \tilde K + \lambda I \preceq (1+\epsilon)(K + \lambda I)`
    (Avron et al. 2017, Def. 1; Lee et al. 2020, Thm. 3.3).  ``method="eigh"``: from one
    eigendecomposition of K (negative round-off eigenvalues clipped to 0), shared by a
    batch of approximations; ``"lanczos"``: the largest :math:`|\theta|` of
    :math:`L^{-1} (\tilde K - K) L^{-\top}` (the same eigenvalues; :math:`L L^\top = K + \lambda I`,
    one Cholesky) after :data:`LANCZOS_STEPS` Lanczos steps, checked by its Ritz residual;
    ``"auto"``: ``lanczos`` from :data:`SPECTRAL_LANCZOS_FROM_N` points on, else ``eigh``.

    Args:
      k: exact kernel, shape ``(n, n)``, symmetric PSD.
      k_approx: approximation, shape ``(n, n)``, or a batch ``(b, n, n)``; symmetric.
      lam: ridge, > 0.
      method: one of :data:`SPECTRAL_METHODS`.

    Returns:
      :math:`\epsilon \ge 0`: a scalar, or shape ``(b,)`` for a batch.

    Raises:
      ValueError: on bad shapes or ``lam <= 0``, and when Lanczos has not converged (its
        relative Ritz residual above :data:`LANCZOS_TOL` after :data:`LANCZOS_MAX_STEPS` steps;
        a draw not converged in :data:`LANCZOS_STEPS` runs again with twice the steps).

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(spectral_epsilon(jnp.eye(3), 1.5 * jnp.eye(3), 1.0)), 6)  # 0.5 / (1 + 1)
      0.25
    """
    k = _checks.as_matrix("k", k, dtype=_checks.float_dtype_of(k))
    batched = getattr(k_approx, "ndim", np.ndim(k_approx)) == 3
    k_approx = _checks.as_matrix("k_approx", k_approx, dtype=k.dtype, ndim=3 if batched else 2)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"k must be square, got shape {tuple(k.shape)}")
    if k_approx.shape[-2:] != k.shape:
        raise ValueError(f"k_approx has shape {tuple(k_approx.shape)}, k has {tuple(k.shape)}")
    _checks.check_positive("lam", lam)
    if method not in SPECTRAL_METHODS:
        raise ValueError(f"method must be one of {', '.join(SPECTRAL_METHODS)}, got {method!r}")
    n = k.shape[0]
    if method == "eigh" or method == "auto" and n < SPECTRAL_LANCZOS_FROM_N:
        return _spectral_epsilon(k, k_approx, jnp.asarray(lam, k.dtype))
    lam = jnp.asarray(lam, k.dtype)
    flat = k_approx.reshape((-1,) + k.shape)
    eps, residual = _spectral_epsilon_lanczos(k, flat, lam, min(LANCZOS_STEPS, n))
    if not _checks.is_concrete(residual):  # traced: one pass, unchecked
        return eps.reshape(k_approx.shape[:-2])
    eps, residual, steps = _until_converged(
        lambda index, steps: _spectral_epsilon_lanczos(k, flat[index], lam, steps),
        eps, residual, n,
    )  # fmt: skip
    _check_converged("spectral_epsilon", eps, residual, steps, "; use method='eigh'")
    return eps.reshape(k_approx.shape[:-2])


#: A draw whose Lanczos has not converged in :data:`LANCZOS_STEPS` (relative Ritz residual
#: above :data:`LANCZOS_TOL`; seen: 1 of 5 Gaussian draws at n = 4,096, m = 8,192, 3.6e-6) runs
#: again from the same start with twice the steps, up to this many (or n).
LANCZOS_MAX_STEPS = 4 * LANCZOS_STEPS


def _until_converged(run, eps, residual, n: int):
    """``(eps, residual, steps)`` after re-running ``run(index, steps) -> (eps, residual)`` for
    the draws not converged in :data:`LANCZOS_STEPS`, doubling the steps up to
    :data:`LANCZOS_MAX_STEPS` (or n); the others keep their first values."""
    steps = min(LANCZOS_STEPS, n)
    while True:
        tiny = np.finfo(np.dtype(eps.dtype)).tiny
        bad = np.flatnonzero(np.asarray(residual) > LANCZOS_TOL * np.maximum(np.asarray(eps), tiny))
        if bad.size == 0 or steps >= min(LANCZOS_MAX_STEPS, n):
            return eps, residual, steps
        steps = min(2 * steps, LANCZOS_MAX_STEPS, n)
        again, again_residual = run(bad, steps)
        eps, residual = eps.at[bad].set(again), residual.at[bad].set(again_residual)


def _check_converged(name: str, eps, residual, steps: int, hint: str = "") -> None:
    """Raise unless every Ritz residual is within :data:`LANCZOS_TOL` of its eps."""
    worst = float(jnp.max(residual / jnp.maximum(eps, jnp.finfo(eps.dtype).tiny)))
    if worst > LANCZOS_TOL:
        raise ValueError(
            f"{name}: Lanczos did not converge in {steps} steps (relative Ritz residual "
            f"{worst:.2g} > {LANCZOS_TOL:g}){hint}"
        )


@functools.partial(jax.jit, static_argnums=(0, 7, 8))
def _rf_spectral_epsilon(
    spec: FeatureKernel, x, whitener, lam, w, scale, v0, steps: int, chunk: int
):
    # Every sample's Lanczos runs at once (vmap): each step's two products with W = L^-1 take
    # the samples' vectors side by side, so W (the O(n^2) part, memory-bound) is read once a
    # step for all of them.  With L L^T = K + lam I, L^-1 K L^-T = I - lam W W^T, so the
    # whitened difference needs no product with K:
    #   W (K_m - K) W^T v = W (K_m u + lam u) - v,   u = W^T v.
    def eps(w_s, c_s):
        def op(v):
            u = mm(v[None, :], whitener)[0]  # W^T v, as the row v^T W
            k_m_u = _rf_matvec(spec, None, x, w_s, c_s, u[:, None], chunk)[:, 0]
            return mm(whitener, k_m_u + lam * u) - v

        return _lanczos(op, v0, steps)

    return jax.vmap(eps)(w, scale)


#: :func:`rf_spectral_epsilon` applies K_m by its features from this n on and forms it below:
#: at n = 8,192 the features were 1.8x (m = 1,024) and 1.55x (m = 16,384) the faster, at
#: n = 2,048 1.05x and 0.37x (3 samples, float64; benchmarks/results/cpu_spectral_job.txt).
RF_SPECTRAL_FEATURES_FROM_N = 8192


def ridge_whitener(k, lam) -> jax.Array:
    r"""The whitener :math:`W = L^{-1}` of :math:`K + \lambda I = L L^\top` (``k`` (n, n),
    ``lam`` > 0; lower triangular, (n, n)), which :func:`rf_spectral_epsilon` whitens with:
    :math:`W (K + \lambda I) W^\top = I`.  Its squared Frobenius norm gives the statistical
    dimension, :math:`s_\lambda = \operatorname{tr} K (K + \lambda I)^{-1} = n - \lambda
    \|W\|_F^2`.  W costs one triangular solve with n right-hand sides (O(n^3)) more than L;
    products with it replace the triangular solves with L in every Lanczos step (a width at
    n = 8,192 1.22x faster, ``benchmarks/results/cpu_spectral_job.txt``).

    Example:
      >>> import jax.numpy as jnp
      >>> w = ridge_whitener(jnp.diag(jnp.array([3.0, 8.0])), 1.0)  # diag(1/2, 1/3)
      >>> round(float(w[0, 0]), 4), round(float(w[1, 1]), 4)
      (0.5, 0.3333)
    """
    k = _checks.as_matrix("k", k, dtype=_checks.float_dtype_of(k))
    _checks.check_positive("lam", lam)
    return _ridge_whitener(k, jnp.asarray(lam, k.dtype))


@jax.jit
def _ridge_whitener(k, lam):
    eye = jnp.eye(k.shape[0], dtype=k.dtype)
    return jax.scipy.linalg.solve_triangular(jnp.linalg.cholesky(k + lam * eye), eye, lower=True)


def rf_spectral_epsilon(
    x,
    samples,
    k,
    lam,
    kernel: str | FeatureKernel = "relu_ntk",
    *,
    whitener=None,
    chunk: int | None = None,
) -> jax.Array:
    r"""Spectral error of the random-feature kernels of ``samples``, never forming them:

    .. math:: \epsilon = \|(K + \lambda I)^{-1/2} (K_m - K) (K + \lambda I)^{-1/2}\|_2
              = \max |\theta(L^{-1} (K_m - K) L^{-\top})|, \quad L L^\top = K + \lambda I,

    the largest :math:`|\theta|` after :data:`LANCZOS_STEPS` Lanczos steps (as
    :func:`spectral_epsilon`'s ``lanczos``, with its Ritz residual check), each applying
    :math:`K_m` by :func:`rf_matvec` (O(n m P)) and :math:`W = L^{-1}`, :math:`W^\top` by the
    stored :func:`ridge_whitener` (O(n^2)); K enters through W alone, as
    :math:`W K W^\top = I - \lambda W W^\top`:

    .. math:: W (K_m - K) W^\top v = W (K_m u + \lambda u) - v, \quad u = W^\top v.

    The samples' Lanczos runs go side by side (vmapped), so one pass over W serves them all.
    Memory: K and W; K_m is never formed, so the cost of a width is
    O(steps n (n + m P)) against O(n^2 m P) for forming it.  Below
    :data:`RF_SPECTRAL_FEATURES_FROM_N` points, where forming K_m was measured the faster,
    each K_m is formed and :func:`spectral_epsilon` (``auto``) taken.

    Args:
      x: inputs, shape ``(n, d)``.
      samples: :class:`nnkrr.sampling.FeatureSample` s of one width m (each ``w`` (m, d)).
      k: the exact kernel, shape ``(n, n)``, of the same ``kernel``.
      lam: ridge, > 0.
      kernel: a registry name or :class:`FeatureKernel`.
      whitener: :func:`ridge_whitener` ``(k, lam)``, when already computed (shared by a job's
        widths).
      chunk: features per step of :func:`rf_matvec`.

    Returns:
      :math:`\epsilon` of each sample, shape ``(len(samples),)``.

    Raises:
      ValueError: bad shapes, ``lam <= 0``, samples of different widths, or Lanczos not
        converged (relative Ritz residual above :data:`LANCZOS_TOL` after
        :data:`LANCZOS_MAX_STEPS` steps: a draw not converged in :data:`LANCZOS_STEPS` runs again
        with twice the steps).

    Example:
      >>> import jax.numpy as jnp
      >>> from nnkrr.sampling import FeatureSample
      >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> one = FeatureSample(jnp.array([[1.0, 1.0]]), jnp.array([1.0]))  # K_m = diag(1, 4)
      >>> k = 2 * jnp.diag(jnp.array([1.0, 4.0]))  # eps = max |(1 - 2) / 3|, (4 - 8) / 9|
      >>> round(float(rf_spectral_epsilon(x, [one], k, 1.0)[0]), 5)
      0.44444
    """
    spec = get_kernel(kernel)
    x = _checks.as_matrix("x", x)
    k = _checks.as_matrix("k", k, dtype=x.dtype)
    n = x.shape[0]
    if k.shape != (n, n):
        raise ValueError(f"k must have shape ({n}, {n}) for x of {n} rows, got {tuple(k.shape)}")
    _checks.check_positive("lam", lam)
    if not samples:
        raise ValueError("samples is empty")
    w = [_checks.as_matrix("sample.w", s.w, dtype=x.dtype) for s in samples]
    if len({wi.shape for wi in w}) != 1:
        raise ValueError(f"samples must share one width, got {sorted({wi.shape[0] for wi in w})}")
    _checks.check_same_features("x", x, "sample.w", w[0])
    scale = [_checks.as_matrix("sample.scale", s.scale, dtype=x.dtype, ndim=1) for s in samples]
    if whitener is not None:
        whitener = _checks.as_matrix("whitener", whitener, dtype=x.dtype)
        if whitener.shape != (n, n):
            raise ValueError(f"whitener must have shape ({n}, {n}), got {tuple(whitener.shape)}")
    if n < RF_SPECTRAL_FEATURES_FROM_N:  # K_m formed: the faster below (measured)
        formed = jnp.stack([rf_kernel(x, None, s, spec) for s in samples])
        return spectral_epsilon(k, formed, lam)
    if whitener is None:
        whitener = ridge_whitener(k, lam)
    if chunk is None:  # the samples' patterns side by side: RF_MATVEC_ENTRIES in all
        chunk = max(64, 2 ** int(np.log2(max(RF_MATVEC_ENTRIES // (n * len(w)), 1))))
    chunk = min(_checks.check_positive_int("chunk", chunk), w[0].shape[0])
    steps = min(LANCZOS_STEPS, n)
    v0 = jax.random.normal(jax.random.key(0), (n,), x.dtype)
    lam, w, scale = jnp.asarray(lam, x.dtype), jnp.stack(w), jnp.stack(scale)

    def run(index, steps):
        return _rf_spectral_epsilon(
            spec, x, whitener, lam, w[index], scale[index], v0, steps, chunk
        )

    eps, residual = run(np.arange(w.shape[0]), steps)
    eps, residual, steps = _until_converged(run, eps, residual, n)
    _check_converged("rf_spectral_epsilon", eps, residual, steps)
    return eps
