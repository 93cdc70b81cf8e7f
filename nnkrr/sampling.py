r"""Gaussian and ridge-leverage-score sampling of random features.

For a kernel :math:`K(x, z) = E_{w \sim p}[\phi(x, w)^\top \phi(z, w)]` (a
:class:`nnkrr.features.FeatureKernel`) on data :math:`X = (x_1, \dots, x_n)`, let
:math:`\Phi(w) = [\phi(x_1, w), \dots, \phi(x_n, w)]^\top \in R^{n \times P}` and
:math:`A = (K + \lambda I)^{-1}`.  Lee et al. (2020, Def. 3.1), generalising Avron et
al. (2017), define

* the ridge leverage function :math:`\tau_\lambda(w) = p(w)\,\mathrm{tr}[\Phi(w)^\top A \Phi(w)]`;
  we call :math:`\mathrm{score}(w) = \tau_\lambda(w) / p(w)` the *score*.  For the ReLU
  NTK, :math:`\Phi(w) = \mathrm{diag}(s) X` with :math:`s = 1[Xw \ge 0]`, so
  :math:`\mathrm{score}(w) = s^\top M s`, :math:`M = A \circ (X X^\top)`;
* the statistical dimension :math:`s_\lambda = \mathrm{tr}[K (K + \lambda I)^{-1}] = \int \tau_\lambda`;
* the leverage distribution :math:`q(w) = \tau_\lambda(w) / s_\lambda`, with importance
  weight :math:`c(w) = \sqrt{p(w)/q(w)} = \sqrt{s_\lambda / \mathrm{score}(w)}`.

Sampling m features from q instead of p needs :math:`O(\epsilon^{-2} s_\lambda \log(s_\lambda/\delta))`
features for spectral error :math:`\epsilon` instead of
:math:`O(\epsilon^{-2} (n/\lambda) \log(s_\lambda/\delta))` (Lee et al., Thm. 3.3); the gain is
governed by how far :math:`\sup_w \mathrm{score}(w)` is above :math:`s_\lambda` (see :func:`flatness`).

Two exact-in-the-limit samplers of q are provided, both compiled with ``jit``, chunked
so memory is bounded for any m, deterministic for a key, and free of host round trips:

* ``method="rejection"`` (exact): propose :math:`w \sim q_0`, accept with probability
  :math:`\mathrm{score}(w) / (C\, t(w))`, where :math:`q_0 \propto t\, p` is p itself
  (t = 1) or a tilted proposal, and :math:`\mathrm{score} \le C t` is the kernel's
  provable bound (checked on every proposal).  Acceptance rate
  :math:`s_\lambda / (C\, E_p[t])`, reported.
* ``method="sir"`` (sampling-importance-resampling): score a pool of ``pool_size``
  proposals, resample m of them with probability proportional to
  :math:`\mathrm{score}/t`.  Approximate (exact as the pool grows); the effective sample
  size of the pool's weights is reported.  Pool members are regenerated from their
  index, so only ``pool_size`` scores are stored.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from nnkrr import _checks
from nnkrr._linalg import mm
from nnkrr.features import FeatureKernel, get_kernel

__all__ = [
    "DEFENSIVE",
    "LEVERAGE_EXACT_MAX_N",
    "LEVERAGE_POINTS",
    "METHODS",
    "SAMPLERS",
    "FeatureSample",
    "Leverage",
    "default_chunk",
    "flatness",
    "leverage",
    "leverage_points",
    "leverage_scores",
    "sample",
    "SEED_AXIS",
    "draw_first_layer",
    "leverage_key",
    "resolve_seed_axis",
    "sample_batch",
    "statistical_dimension",
]

SAMPLERS = ("gaussian", "leverage")
METHODS = ("rejection", "sir")


@functools.partial(
    jax.tree_util.register_dataclass, data_fields=["w", "scale", "stats"], meta_fields=[]
)
@dataclasses.dataclass(frozen=True)
class FeatureSample:
    """m random features: ``w`` (m, d) and importance weights ``scale`` (m,) = c_r.

    ``stats`` holds the sampler's diagnostics as scalars (``acceptance_rate`` and
    ``proposals`` for rejection; ``ess``, ``ess_fraction`` and ``pool_size`` for SIR).
    """

    w: jax.Array
    scale: jax.Array
    stats: dict = dataclasses.field(default_factory=dict)

    @property
    def m(self) -> int:
        return self.w.shape[0]


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["x", "a", "aux", "s_lambda", "bound", "lam_max_a"],
    meta_fields=["kernel", "defensive", "n"],
)
@dataclasses.dataclass(frozen=True)
class Leverage:
    r"""Everything the leverage sampler needs, computed once per (x, K, lam).

    Exact (``defensive == 0``): the leverage function of all n points.  Approximate
    (:func:`leverage` with ``points`` < n): that of a uniform subsample of ``points`` rows at
    the ridge ``lam * points / n``, mixed with p (weight ``defensive``) so that every w with
    :math:`\phi(x, w) \ne 0` for some data point keeps q > 0; the importance weights are those
    of the mixture actually sampled, so :math:`K_m` stays unbiased.

    Attributes:
      kernel: the :class:`FeatureKernel`.
      defensive: the mixture weight of p (0: exact).
      n: the rows of the data the features are for (the subsample's are ``x.shape[0]``).
      x: data (or the subsample), (n_s, d).
      a: A = (K + lam I)^{-1} of x (the subsample: its K_S at its ridge), (n_s, n_s).
      aux: the kernel's ``prepare(x, a)`` (for ``relu_ntk``, M = A o X X^T), or None.
      s_lambda: statistical dimension s_lam = tr[K (K + lam I)^{-1}].
      bound: C with score(w) <= C t(w) for all w.
      lam_max_a: largest eigenvalue of A, 1 / (mu_min + lam).
    """

    kernel: FeatureKernel
    defensive: float
    n: int
    x: jax.Array
    a: jax.Array
    aux: jax.Array | None
    s_lambda: jax.Array
    bound: jax.Array
    lam_max_a: jax.Array


# --------------------------------------------------------------------------- checks


def default_chunk() -> int:
    """Weights scored per step: 1024 on CPUs, 4096 on accelerators.

    Measured by ``benchmarks/sampling.py`` (outputs in ``benchmarks/results/``): on 2 CPU
    cores the scoring kernel is fastest with chunks of about 1024 (84% of matmul peak at
    n = 1024); on an H200 larger chunks amortise kernel launches (70% at n = 1024 with
    4096, 60% with 1024).
    """
    return 1024 if jax.default_backend() == "cpu" else 4096


def _chunk(chunk: int | None) -> int:
    return default_chunk() if chunk is None else _checks.check_positive_int("chunk", chunk)


def _kernel_matrix(spec: FeatureKernel, x, k) -> jax.Array:
    if k is None:
        return spec.exact(x)
    k = _checks.as_matrix("k", k, dtype=x.dtype)
    if k.shape != (x.shape[0], x.shape[0]):
        raise ValueError(
            f"k must have shape {(x.shape[0], x.shape[0])} for x with "
            f"{x.shape[0]} rows, got {tuple(k.shape)}"
        )
    return k


# --------------------------------------------------------------------------- set-up


@jax.jit
def _eig_ridge(k, lam):
    mu, u = jnp.linalg.eigh((k + k.T) / 2)
    mu = jnp.maximum(mu, 0)
    a = mm(u / (mu + lam)[None, :], u.T)
    return (a + a.T) / 2, jnp.sum(mu / (mu + lam)), 1 / (mu[0] + lam)


def statistical_dimension(k, lam) -> jax.Array:
    r"""Statistical dimension :math:`s_\lambda = \mathrm{tr}[K(K + \lambda I)^{-1}] = \sum_i \mu_i / (\mu_i + \lambda)`.

    Args:
      k: kernel matrix, shape ``(n, n)``, symmetric PSD (round-off negative
        eigenvalues are clipped to 0).
      lam: ridge, > 0.

    Returns:
      The scalar :math:`s_\lambda \in [0, n]`.
    """
    k = _checks.as_matrix("k", k)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"k must be square, got shape {tuple(k.shape)}")
    lam = _checks.check_number("lam", lam, positive=True)
    return _eig_ridge(k, jnp.asarray(lam, k.dtype))[1]


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _leverage(spec: FeatureKernel, x, k, lam, defensive=0.0, n=None) -> Leverage:
    a, s_lam, lam_max_a = _eig_ridge(k, lam)
    aux = spec.prepare(x, a) if spec.prepare is not None else None
    bound = spec.score_bound(x, a, lam_max_a)
    n = x.shape[0] if n is None else n
    return Leverage(spec, defensive, n, x, a, aux, s_lam, bound, lam_max_a)


#: Up to this many points :func:`leverage` is exact by default; beyond, it takes a subsample
#: of :data:`LEVERAGE_POINTS`.  The exact set-up eigendecomposes the n x n K (measured on 2 CPU
#: cores, issue 28: 19 s at n = 4,096, 172 s at 8,192, and as much again per 4,096 draws);
#: the subsample's costs O(points^3) whatever n.
LEVERAGE_EXACT_MAX_N = 4096
LEVERAGE_POINTS = 2048
#: The weight of p in the approximate sampler's mixture (defensive importance sampling,
#: Hesterberg 1995): the importance weights are then at most 1 / sqrt(DEFENSIVE).
DEFENSIVE = 0.1


def leverage_points(n: int, points: int | None = None) -> int:
    """The rows of the leverage function :func:`leverage` builds for ``n`` points: ``n``
    (exact) up to :data:`LEVERAGE_EXACT_MAX_N`, else :data:`LEVERAGE_POINTS` (a subsample);
    ``points`` given: ``min(points, n)``.  Rows record it (``leverage_points``).

    Example:
      >>> leverage_points(1000), leverage_points(10_000), leverage_points(10_000, 20_000)
      (1000, 2048, 10000)
    """
    if points is None:
        return n if n <= LEVERAGE_EXACT_MAX_N else LEVERAGE_POINTS
    return min(_checks.check_positive_int("points", points), n)


def leverage(
    x,
    lam,
    *,
    k=None,
    kernel: str | FeatureKernel = "relu_ntk",
    points: int | None = None,
    key=None,
    defensive: float = DEFENSIVE,
) -> Leverage:
    r"""Precompute A, s_lam and the score bound for sampling from q on data ``x``: exactly,
    or from a subsample (approximate q, exact importance weights).

    Approximate: ``points`` rows :math:`S` drawn uniformly without replacement (``key``;
    default ``key(0)``), their leverage function at the ridge
    :math:`\lambda' = \lambda\,|S|/n` (K_S's spectrum is about |S|/n of K's), mixed with p:

    .. math:: \tilde q(w) = (1 - \beta)\,\frac{p(w)\,\mathrm{score}_S(w)}{s_{\lambda'}(K_S)}
              + \beta\,p(w), \qquad
              c(w) = \sqrt{p/\tilde q} = \Big((1-\beta)\,\frac{\mathrm{score}_S(w)}{s_{\lambda'}} + \beta\Big)^{-1/2}.

    :math:`s_{\lambda'}(K_S) = E_p[\mathrm{score}_S]` is exact, so :math:`E_{\tilde q}[c^2
    \phi\phi^\top] = K` for any subsample: the approximation costs variance only (NOTES:
    any q̃ with its own weights is unbiased; the mixture keeps q̃ > 0 where a point outside S
    sees w).

    Args:
      x: data, shape ``(n, d)``.
      lam: ridge, > 0.
      k: the kernel matrix on ``x``, shape ``(n, n)``; defaults to ``kernel``'s exact one
        (of the subsample's rows only, when approximate).
      kernel: a registry name of :data:`nnkrr.features.KERNELS` or a :class:`FeatureKernel`.
      points: the subsample's size; ``None``: exact while n <= :data:`LEVERAGE_EXACT_MAX_N`,
        else :data:`LEVERAGE_POINTS`; ``points >= n``: exact.
      key: the subsample's key (approximate only).
      defensive: :math:`\beta \in (0, 1)`, the weight of p in the mixture (approximate only).
    """
    spec = get_kernel(kernel)
    x = _checks.as_matrix("x", x)
    lam = _checks.check_number("lam", lam, positive=True)
    n = x.shape[0]
    points = leverage_points(n, points)
    if points == n:
        k = _kernel_matrix(spec, x, k)
        return _leverage(spec, x, k, jnp.asarray(lam, x.dtype))
    defensive = _checks.check_number("defensive", defensive, positive=True)
    if defensive >= 1:
        raise ValueError(f"defensive must be in (0, 1), got {defensive}")
    key = jax.random.key(0) if key is None else key
    idx = jnp.sort(jax.random.choice(key, n, (points,), replace=False))
    xs = x[idx]
    ks = spec.exact(xs) if k is None else _kernel_matrix(spec, x, k)[idx][:, idx]
    lam_s = jnp.asarray(lam * points / n, x.dtype)
    return _leverage(spec, xs, ks, lam_s, float(defensive), n)


# --------------------------------------------------------------------------- scores


def _scores(lev: Leverage, w: jax.Array, generic: bool = False) -> jax.Array:
    """score(w) = tr[Phi(w)^T A Phi(w)] for a batch w (B, d); the kernel's fast path unless ``generic``."""
    spec = lev.kernel
    if spec.fast_scores is not None and not generic:
        return spec.fast_scores(lev.aux, lev.x, w)
    phi = spec.features(lev.x, w)  # (n, B, P)
    n, b, p = phi.shape
    flat = phi.reshape(n, b * p)
    a_phi = mm(lev.a, flat)
    return jnp.sum((flat * a_phi).reshape(n, b, p), axis=(0, 2))


def _map_chunks(fn, w: jax.Array, chunk: int) -> jax.Array:
    """``fn`` on ``chunk`` rows of ``w`` at a time (zero-padded), concatenated: bounded memory.

    Each call is a whole-chunk matrix product, so the work stays in large GEMMs.
    """
    m = w.shape[0]
    chunk = min(chunk, m)
    n_chunks = -(-m // chunk)
    padded = jnp.pad(w, ((0, n_chunks * chunk - m), (0, 0))).reshape(n_chunks, chunk, -1)
    out = jax.lax.map(fn, padded)
    return out.reshape((n_chunks * chunk,) + out.shape[2:])[:m]


@functools.partial(jax.jit, static_argnames=("chunk", "generic"))
def _scores_chunked(lev: Leverage, w: jax.Array, chunk: int, generic: bool = False):
    return _map_chunks(lambda wc: _scores(lev, wc, generic), w, chunk)


def leverage_scores(
    w,
    x,
    k,
    lam,
    *,
    kernel: str | FeatureKernel = "relu_ntk",
    chunk: int | None = None,
    generic: bool = False,
    lev: Leverage | None = None,
) -> jax.Array:
    r"""Scores :math:`\tau_\lambda(w)/p(w) = \mathrm{tr}[\Phi(w)^\top (K + \lambda I)^{-1} \Phi(w)]`.

    Args:
      w: weights, shape ``(m, d)``.
      x: data, shape ``(n, d)``.
      k: kernel matrix on ``x``, shape ``(n, n)``, or ``None`` for the exact one.
      lam: ridge, > 0.
      kernel: registry name or :class:`FeatureKernel`.
      chunk: weights scored per step (memory ~ ``chunk * n * P``); default
        :func:`default_chunk`.
      generic: use the generic trace formula even where the kernel has a fast path
        (for ``relu_ntk``: :math:`s^\top M s`).
      lev: a precomputed :func:`leverage` (then ``x``, ``k``, ``lam`` and ``kernel`` are
        not used), to score many batches without redoing its eigendecomposition.

    Returns:
      Scores, shape ``(m,)``; their mean under p is :math:`s_\lambda`.
    """
    if lev is None:
        lev = leverage(x, lam, k=k, kernel=kernel)
    w = _checks.as_matrix("w", w, dtype=lev.x.dtype)
    _checks.check_same_features("x", lev.x, "w", w)
    return _scores_chunked(lev, w, chunk=min(_chunk(chunk), w.shape[0]), generic=generic)


# --------------------------------------------------------------------------- samplers


def _proposal(lev: Leverage, key, count: int, dtype):
    """Draw ``count`` proposals from q0 and return (w, t(w))."""
    spec, d = lev.kernel, lev.x.shape[1]
    if spec.proposal == "tilted":
        w = spec.sample_tilted(key, count, d, dtype)
        return w, spec.tilt(w)
    return spec.sample_base(key, count, d, dtype), jnp.ones((count,), dtype)


@functools.partial(jax.jit, static_argnames=("m", "chunk", "max_rounds"))
def _rejection(key, lev: Leverage, m: int, chunk: int, max_rounds: int):
    dtype = lev.x.dtype
    d = lev.x.shape[1]

    def body(state):
        i, count, accepted, worst, w_out, s_out = state
        k_prop, k_unif = jax.random.split(jax.random.fold_in(key, i))
        w, t = _proposal(lev, k_prop, chunk, dtype)
        score = _scores(lev, w)
        ratio = score / (lev.bound * t)
        accept = jax.random.uniform(k_unif, (chunk,), dtype) < ratio
        slot = jnp.where(accept, count + jnp.cumsum(accept, dtype=jnp.int32) - 1, m)  # m: dropped
        w_out = w_out.at[slot].set(w, mode="drop")
        s_out = s_out.at[slot].set(score, mode="drop")
        n_acc = jnp.sum(accept, dtype=jnp.int32)
        return (
            i + 1,
            jnp.minimum(count + n_acc, m),
            accepted + n_acc,
            jnp.maximum(worst, jnp.max(ratio)),
            w_out,
            s_out,
        )

    def cond(state):
        i, count = state[0], state[1]
        return (count < m) & (i < max_rounds)

    init = (
        jnp.int32(0),
        jnp.int32(0),
        jnp.int32(0),
        jnp.zeros((), dtype),
        jnp.zeros((m, d), dtype),
        jnp.ones((m,), dtype),
    )
    rounds, count, accepted, worst, w, score = jax.lax.while_loop(cond, body, init)
    proposals = rounds * chunk
    stats = {
        "acceptance_rate": accepted / proposals,
        "proposals": proposals,
        "filled": count,
        "max_score_over_bound": worst,
    }
    return w, score, stats


@functools.partial(jax.jit, static_argnames=("m", "pool_size", "chunk"))
def _sir(key, lev: Leverage, m: int, pool_size: int, chunk: int):
    dtype = lev.x.dtype
    k_pool, k_pick = jax.random.split(key)

    def member(i):
        """Pool member i, regenerated from its index (so the pool is never stored)."""
        w, t = _proposal(lev, jax.random.fold_in(k_pool, i), 1, dtype)
        return w[0], t[0]

    def weigh(idx):
        w, t = jax.vmap(member)(idx)
        return _scores(lev, w) / t

    n_chunks = -(-pool_size // chunk)
    idx = jnp.arange(n_chunks * chunk).reshape(n_chunks, chunk)
    weights = jax.lax.map(weigh, idx).reshape(-1)
    weights = jnp.where(jnp.arange(weights.shape[0]) < pool_size, weights, 0)
    total = jnp.sum(weights)
    ess = total**2 / jnp.sum(weights**2)
    cdf = jnp.cumsum(weights)
    u = jax.random.uniform(k_pick, (m,), dtype) * total
    picked = jnp.minimum(jnp.searchsorted(cdf, u, side="right"), pool_size - 1)
    w, _ = jax.vmap(member)(picked)
    score = _scores_chunked(lev, w, chunk)
    stats = {"ess": ess, "ess_fraction": ess / pool_size, "pool_size": jnp.int32(pool_size)}
    return w, score, stats


def sample(
    key,
    x,
    m: int,
    *,
    sampler: str,
    lam=None,
    k=None,
    kernel: str | FeatureKernel = "relu_ntk",
    method: str = "rejection",
    pool_size: int | None = None,
    chunk: int | None = None,
    max_proposals: int | None = None,
    lev: Leverage | None = None,
    points: int | None = None,
) -> FeatureSample:
    r"""Draw m random features from p (``sampler="gaussian"``) or from q (``"leverage"``).

    Args:
      key: a JAX PRNG key; the result is a deterministic function of it.
      x: data, shape ``(n, d)`` (defines q; for Gaussian sampling only d is used).
      m: number of features (the network's width), >= 1.
      sampler: ``"gaussian"`` (w ~ p, scale 1) or ``"leverage"`` (w ~ q, scale
        :math:`\sqrt{s_\lambda / \mathrm{score}(w)}`).
      lam: ridge :math:`\lambda > 0` of the leverage function (leverage only).
      k: kernel matrix on ``x``; defaults to the exact kernel of ``kernel``.
      kernel: registry name or :class:`FeatureKernel`.
      method: ``"rejection"`` (exact) or ``"sir"`` (sampling-importance-resampling).
      pool_size: SIR pool size; default ``max(16 m, 65536)``.
      chunk: proposals scored per step (memory ~ ``chunk * n``); default :func:`default_chunk`.
      max_proposals: give up (ValueError) after this many rejection proposals;
        default ``max(10**8, 10**4 * m)``.
      lev: a precomputed :func:`leverage` for ``(x, lam, k, kernel)`` to reuse.
      points: without ``lev``, :func:`leverage`'s: exact or a subsample by n (``None``), exact
        (``points >= n``) or a subsample of ``points`` rows (approximate q, exact weights).

    Returns:
      A :class:`FeatureSample` with ``w`` (m, d), ``scale`` (m,) and ``stats``.
    """
    m = _checks.check_positive_int("m", m)
    spec, lev, method, opts = _prepare_sampling(
        x, m, sampler, lam, k, kernel, method, pool_size, chunk, max_proposals, lev, points
    )
    w, scale, stats = _draw(key, spec, lev, _checks.as_matrix("x", x), m, sampler, method, **opts)
    if _checks.is_concrete(w):
        _check_stats(spec, method, m, stats, opts)
    return FeatureSample(w, scale, stats)


def sample_batch(
    keys,
    x,
    m: int,
    *,
    sampler: str,
    lam=None,
    k=None,
    kernel: str | FeatureKernel = "relu_ntk",
    method: str = "rejection",
    pool_size: int | None = None,
    chunk: int | None = None,
    max_proposals: int | None = None,
    lev: Leverage | None = None,
    points: int | None = None,
    seed_axis: str | None = None,
) -> FeatureSample:
    """:func:`sample` for a batch of keys: one compiled, ``vmap``-ed call, or one draw per key.

    The leverage function is computed once; the checks of :func:`sample` (acceptance, score
    bound) are applied to every draw.  Equal, draw by draw, to ``sample(keys[i], ...)`` (the
    features exactly; the scales to round-off with ``vmap``).

    Args:
      keys: PRNG keys, shape ``(seeds,)``.
      x, m, sampler, ...: as in :func:`sample`.
      seed_axis: ``"vmap"`` (one batched program), ``"loop"`` (one draw per key) or ``None``:
        :data:`SEED_AXIS` for this backend.

    Returns:
      A :class:`FeatureSample` with ``w`` (seeds, m, d), ``scale`` (seeds, m) and ``stats``
      (each entry of shape ``(seeds,)``).
    """
    m = _checks.check_positive_int("m", m)
    spec, lev, method, opts = _prepare_sampling(
        x, m, sampler, lam, k, kernel, method, pool_size, chunk, max_proposals, lev, points
    )
    x = _checks.as_matrix("x", x)
    if resolve_seed_axis(seed_axis) == "loop":
        draws = [_draw(key, spec, lev, x, m, sampler, method, **opts) for key in keys]
        w, scale, stats = jax.tree.map(lambda *a: jnp.stack(a), *draws)
    else:
        w, scale, stats = _draw_batch(keys, spec, lev, x, m, sampler, method, tuple(opts.items()))
    _check_stats(spec, method, m, stats, opts)
    return FeatureSample(w, scale, stats)


#: How :func:`sample_batch` draws a job's seeds, per backend: ``"loop"``, one draw per key;
#: ``"vmap"``, one batched program.  Measured by ``benchmarks/sampling.py --seeds 3``
#: (``benchmarks/results/cpu_sampling_seeds.txt``): on CPUs the batched rejection draw of
#: 3 seeds at m = 2^20 (sphere, n = 128, d = 8, lambda = 0.1) took 13.9x the time of
#: three single draws (213 s against 15.4 s; its while loop carries the (seeds, m, d)
#: output through every round); at m = 16384 the two were equal (0.95x).  Accelerators: ``vmap`` (not yet measured).
SEED_AXIS = {"cpu": "loop"}


def resolve_seed_axis(seed_axis: str | None) -> str:
    """``seed_axis`` if given, else :data:`SEED_AXIS` for this backend (``"vmap"`` if unlisted)."""
    return _checks.resolve_seed_axis(seed_axis, SEED_AXIS)


def _prepare_sampling(
    x, m, sampler, lam, k, kernel, method, pool_size, chunk, max_proposals, lev, points=None
):
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    chunk = _chunk(chunk)
    spec = get_kernel(kernel)
    x = _checks.as_matrix("x", x)
    opts = {"chunk": chunk}
    if sampler == "gaussian":
        return spec, None, method, opts
    if lev is None:
        lev = leverage(x, lam, k=k, kernel=spec, points=points)
    elif lev.kernel is not spec or lev.n != x.shape[0] or lev.x.shape[1] != x.shape[1]:
        raise ValueError("lev was computed for another kernel or data than x/kernel")
    if method == "rejection":
        if max_proposals is None:
            max_proposals = max(10**8, 10**4 * m)
        max_proposals = _checks.check_positive_int("max_proposals", max_proposals)
        opts["max_proposals"] = max_proposals
    else:
        pool_size = max(16 * m, 65536) if pool_size is None else pool_size
        opts["pool_size"] = _checks.check_positive_int("pool_size", pool_size)
    return spec, lev, method, opts


def _draw(key, spec, lev, x, m, sampler, method, chunk, max_proposals=None, pool_size=None):
    """One draw of m features (traceable: no checks on values)."""
    if sampler == "gaussian":
        w = spec.sample_base(key, m, x.shape[1], x.dtype)
        return w, jnp.ones((m,), x.dtype), {}
    if method == "rejection":
        max_rounds = max(1, -(-max_proposals // chunk))
        w, score, stats = _rejection(key, lev, m=m, chunk=chunk, max_rounds=max_rounds)
    else:
        w, score, stats = _sir(key, lev, m=m, pool_size=pool_size, chunk=min(chunk, pool_size))
    if not lev.defensive:
        return w, jnp.sqrt(lev.s_lambda / score), stats
    # the approximate sampler's mixture: each feature from p with probability beta
    k_pick, k_p = jax.random.split(jax.random.fold_in(key, 2**31 - 1))
    w_p = spec.sample_base(k_p, m, x.shape[1], x.dtype)
    from_p = jax.random.uniform(k_pick, (m,), x.dtype) < lev.defensive
    w = jnp.where(from_p[:, None], w_p, w)
    score = jnp.where(from_p, _scores_chunked(lev, w_p, min(chunk, m)), score)
    beta = lev.defensive
    scale = 1 / jnp.sqrt((1 - beta) * score / lev.s_lambda + beta)
    return w, scale, {**stats, "from_p": jnp.mean(from_p.astype(x.dtype))}


@functools.partial(jax.jit, static_argnames=("spec", "m", "sampler", "method", "opts"))
def _draw_batch(keys, spec, lev, x, m, sampler, method, opts):
    return jax.vmap(lambda key: _draw(key, spec, lev, x, m, sampler, method, **dict(opts)))(keys)


def _check_stats(spec: FeatureKernel, method: str, m: int, stats: dict, opts: dict) -> None:
    """Refuse a rejection draw that violated the score bound or ran out of proposals."""
    if method != "rejection" or "max_score_over_bound" not in stats:
        return
    worst = float(jnp.max(stats["max_score_over_bound"]))
    if worst > 1 + 1e-4:
        raise RuntimeError(
            f"score bound of kernel {spec.name!r} violated by a factor {worst:.6g}: the "
            "rejection sampler would be biased (a bug in the kernel's score_bound)"
        )
    filled = int(jnp.min(stats["filled"]))
    if filled < m:
        rate = float(jnp.min(stats["acceptance_rate"]))
        raise ValueError(
            f"rejection sampling accepted only {filled} of m={m} features in "
            f"max_proposals={opts['max_proposals']} proposals (acceptance rate {rate:.3g}); "
            "raise max_proposals or use method='sir'"
        )


#: Draws of :func:`flatness`'s variance terms, and the largest leverage function (rows) it
#: computes them for by default: at n = 1,024 they took ~50 s here, at 2,048 ~7 min.
VARIANCE_DRAWS = 8192
VARIANCE_MAX_N = 512
#: Entries of each (n, draws, P) array of :func:`flatness`'s variance terms per step (2^24
#: float64: 128 MiB), so that their memory stays bounded at n = 4,096 and d = 64.
VARIANCE_CHUNK_ENTRIES = 2**24


def flatness(
    key,
    lev: Leverage,
    *,
    num: int = 65536,
    chunk: int | None = None,
    variance_draws: int | None = None,
) -> dict[str, float]:
    r"""How far the leverage function is from flat, from ``num`` draws w ~ p: the
    distribution of the score under p, whose mean is :math:`s_\lambda`.

    Returns a dict of floats:

    * ``s_lambda``: :math:`s_\lambda`;
    * ``score_mean``: mean score under p (an estimate of :math:`s_\lambda`);
    * ``score_max``: the largest score seen, a lower bound on :math:`\sup_w \mathrm{score}(w)`;
    * ``flatness``: ``score_max / s_lambda`` (1 = flat: leverage sampling gains nothing);
    * ``score_second_moment``: :math:`E_p[\mathrm{score}^2] / s_\lambda^2 = 1 + \mathrm{CV}^2`
      (the trace of the two estimators' second moments: :math:`E_p[\mathrm{tr}\,Z^2]`
      against :math:`s_\lambda^2` under q, Z below);
    * ``score_q99``: the score's 99th percentile under p over :math:`s_\lambda`;
    * ``variance_ratio``: :math:`\sigma_p^2 / \sigma_q^2`, the ratio of the matrix Bernstein
      variances of the two samplers' one-feature estimators of :math:`E_p[Z]` (below);
      estimated from the first ``variance_draws`` draws (None: :data:`VARIANCE_DRAWS` up to
      :data:`VARIANCE_MAX_N` rows of the leverage function, 0 beyond, as their cost is
      :math:`O(n^2 \cdot \mathrm{draws} \cdot P)`; 0: not computed, NaN);
    * ``intrinsic_dimension``: :math:`\mathrm{tr}\,V / \|V\|_2` of p's variance
      :math:`V = E_p[Z^2] - (E_p Z)^2` (the log factor of the intrinsic Bernstein bound);
    * ``bound``, ``bound_over_s_lambda``: the provable score bound C (times E_p[t]
      for a tilted proposal) and its ratio to :math:`s_\lambda`;
    * ``zero_fraction``: :math:`P_p(\mathrm{score} = 0)`, the mass q does not cover.

    All are those of the leverage function ``lev`` holds (a subsample's when approximate).

    The variances: with :math:`Z(w) = A^{1/2} \Phi(w) \Phi(w)^\top A^{1/2}` (so
    :math:`\mathrm{tr}\,Z = \mathrm{score}`, :math:`E_p Z = K (K + \lambda I)^{-1}` and
    :math:`\varepsilon = \|\frac1m \sum_r c_r^2 Z(w_r) - E_p Z\|_2`), p's estimator is Z and
    q's, under :math:`q = p\,\mathrm{score} / s_\lambda`, is :math:`(s_\lambda/\mathrm{score})\,Z`:

    .. math:: \sigma_p^2 = \|E_p[Z^2] - (E_p Z)^2\|_2, \qquad
              \sigma_q^2 = \|s_\lambda E_p[Z^2 / \mathrm{score}] - (E_p Z)^2\|_2.

    Where the variance term of Bernstein's inequality dominates (ε not small against the
    range term's :math:`\sup \mathrm{score}/m`), the widths the two need for one ε are in
    about this ratio; the sup (``flatness``) enters the range term only.
    :math:`Z^2 = A^{1/2}\Phi (\Phi^\top A \Phi) \Phi^\top A^{1/2}` is summed over draws as one
    product per step.
    """
    num = _checks.check_positive_int("num", num)
    w = lev.kernel.sample_base(key, num, lev.x.shape[1], lev.x.dtype)
    score_j = _scores_chunked(lev, w, chunk=min(_chunk(chunk), num))
    score = np.asarray(score_j, np.float64)
    s_lam = float(lev.s_lambda)
    spec = lev.kernel
    tilt_mean = spec.tilt_mean(lev.x.shape[1]) if spec.proposal == "tilted" else 1.0
    bound = float(lev.bound) * tilt_mean
    if variance_draws is None:
        variance_draws = VARIANCE_DRAWS if lev.x.shape[0] <= VARIANCE_MAX_N else 0
    nv = min(_checks.check_int("variance_draws", variance_draws, 0), num)
    stats = {
        "s_lambda": s_lam,
        "score_mean": float(score.mean()),
        "score_max": float(score.max()),
        "flatness": float(score.max()) / s_lam,
        "score_second_moment": float(np.mean(score**2)) / s_lam**2,
        "score_q99": float(np.quantile(score, 0.99)) / s_lam,
        "variance_ratio": float("nan"),
        "intrinsic_dimension": float("nan"),
        "bound": bound,
        "bound_over_s_lambda": bound / s_lam,
        "zero_fraction": float(np.mean(score <= 0)),
    }
    if nv == 0:
        return stats
    # draws per step: each (n, draws, P) array of the variance terms within VARIANCE_CHUNK_ENTRIES
    p_dim = jax.eval_shape(spec.features, lev.x[:1], w[:1]).shape[2]
    per_step = max(1, min(_chunk(chunk), nv, VARIANCE_CHUNK_ENTRIES // (lev.x.shape[0] * p_dim)))
    var_p, var_q, trace_p = (
        float(v) for v in _bernstein_variances(lev, w[:nv], score_j[:nv], per_step)
    )
    stats["variance_ratio"] = var_p / var_q
    stats["intrinsic_dimension"] = trace_p / var_p
    return stats


@functools.partial(jax.jit, static_argnames=("chunk",))
def _bernstein_variances(lev: Leverage, w: jax.Array, score: jax.Array, chunk: int):
    r"""(sigma_p^2, sigma_q^2, tr V_p) of :func:`flatness` from draws ``w`` (B, d) of p."""
    spec, x, a = lev.kernel, lev.x, lev.a
    n = x.shape[0]

    def moments(wc):  # one chunk: (sum Phi G Phi^T, sum Phi G Phi^T / score, sum Phi Phi^T)
        w_c, s_c, valid = wc[:, :-2], wc[:, -2], wc[:, -1]  # valid: 0 on the padding
        phi = spec.features(x, w_c) * valid[None, :, None]  # (n, B, P)
        _, b, p = phi.shape
        a_phi = mm(a, phi.reshape(n, b * p)).reshape(n, b, p)
        g = jnp.einsum("nbp,nbq->bpq", phi, a_phi)  # G = Phi^T A Phi, tr G = score
        h = jnp.einsum("nbp,bpq->nbq", phi, g)
        inv = jnp.where(s_c > 0, 1 / jnp.where(s_c > 0, s_c, 1), 0)
        flat = phi.reshape(n, b * p)
        return (
            mm(h.reshape(n, b * p), flat.T),
            mm((h * inv[None, :, None]).reshape(n, b * p), flat.T),
            mm(flat, flat.T),
        )

    m = w.shape[0]
    n_chunks = -(-m // chunk)
    rows = jnp.concatenate([w, score[:, None], jnp.ones((m, 1), w.dtype)], axis=1)
    wc = jnp.pad(rows, ((0, n_chunks * chunk - m), (0, 0)))
    parts = jax.lax.map(moments, wc.reshape(n_chunks, chunk, -1))
    z2, z2_over_score, k_mc = (jnp.sum(part, axis=0) / m for part in parts)
    alpha, q = jnp.linalg.eigh(a)
    root = mm(q * jnp.sqrt(jnp.clip(alpha, 0))[None, :], q.T)  # A^{1/2}
    mean_z = mm(mm(root, k_mc), root)  # E_p Z
    mean_z2 = mm(mean_z, mean_z)

    def whiten(b):
        c = mm(mm(root, b), root)
        return (c + c.T) / 2

    v_p = whiten(z2) - mean_z2
    v_q = lev.s_lambda * whiten(z2_over_score) - mean_z2
    norm = lambda v: jnp.max(jnp.abs(jnp.linalg.eigvalsh(v)))  # noqa: E731
    return norm(v_p), norm(v_q), jnp.trace(v_p)


def leverage_key(x, lam: float, flatness_key=None) -> str:
    """A digest of what determines :func:`draw_first_layer`'s leverage set-up and flatness
    (:func:`leverage` of ``x`` at ``lam`` with its default kernel, rows and subsample key;
    the flatness key): the data's bytes (float64), the ridge, :data:`LEVERAGE_EXACT_MAX_N`,
    :data:`LEVERAGE_POINTS` and :data:`DEFENSIVE`."""
    import hashlib

    h = hashlib.sha256(b"leverage")
    a = np.ascontiguousarray(np.asarray(x, np.float64))
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    h.update(repr((float(lam), LEVERAGE_EXACT_MAX_N, LEVERAGE_POINTS, DEFENSIVE)).encode())
    if flatness_key is not None:
        h.update(np.asarray(jax.random.key_data(flatness_key)).tobytes())
    return "leverage-" + h.hexdigest()[:32]


def draw_first_layer(
    keys: jax.Array,
    x,
    n_features: int,
    *,
    sampler: str,
    lam: float | None = None,
    method: str = "rejection",
    pool_size: int | None = None,
    flatness_key: jax.Array | None = None,
    cache=None,
) -> tuple[FeatureSample, jax.Array, float]:
    r"""A job's feature draw: per seed key, ``n_features`` first-layer features
    (:func:`sample_batch`, one call for all seeds) and readout signs :math:`a_r = \pm 1`.

    Each key of ``keys`` (shape ``(seeds,)``) is split in two: the first draws the features,
    the second the signs (float64 Rademacher).  For leverage sampling ``lam`` is the ridge
    of the leverage function; with ``flatness_key`` the leverage function's flatness
    (:func:`flatness`, sup score / :math:`s_\lambda`) is estimated too (NaN otherwise).
    ``cache`` (``get(key)``/``put(key, (lev, flatness))``, keyed by :func:`leverage_key`) keeps
    the leverage set-up and its flatness for the other jobs of a sweep on the same data and
    ridge (``experiments.cache.SweepCache``); the draws are the same with or without.

    Returns:
      ``(sample, signs, flatness)``: ``sample.w`` (seeds, m, d), ``sample.scale`` (seeds, m),
      ``signs`` (seeds, m).
    """
    kw: dict = {"sampler": sampler}
    flat = float("nan")
    if sampler == "leverage":
        digest = None if cache is None else leverage_key(x, lam, flatness_key)
        got = None if cache is None else cache.get(digest)
        if got is None:
            lev = leverage(x, lam)
            if flatness_key is not None:
                flat = flatness(flatness_key, lev, variance_draws=0)["flatness"]  # the sup only
            if cache is not None:
                cache.put(digest, (lev, flat))
        else:
            lev, flat = got
        kw.update(lev=lev, method=method, pool_size=pool_size)
    keys = jax.vmap(jax.random.split)(keys)
    sample = sample_batch(keys[:, 0], x, n_features, **kw)
    signs = jax.vmap(lambda k: jax.random.rademacher(k, (n_features,), jnp.float64))(keys[:, 1])
    return sample, signs, flat
