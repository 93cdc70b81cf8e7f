"""Exact infinite-width kernels: the two-layer ReLU NTK and deep ReLU MLP NTKs.

The paper's network (Lee et al. 2020, eq. (1)) is

    f(W, x) = m^{-1/2} sum_{r=1}^m a_r relu(w_r^T x),   w_r ~ N(0, I_d), a_r in {-1, +1},

with only W trained.  Its neural tangent kernel is

    K(x, z) = E_{w ~ N(0, I)}[ <grad_w, grad_w> ] = x^T z * E[1[w^T x >= 0] 1[w^T z >= 0]]
            = x^T z * (pi - arccos(u)) / (2 pi),        u = x^T z / (|x| |z|),

the arc-cosine kernel of order 0 times the linear kernel.  It is homogeneous of
degree 2 in (x, z) jointly, so inputs of any norm are allowed (the paper assumes
|x| = 1; we do not), and a zero row gives its limit value 0.

Two independent computations are provided:

* :func:`relu_ntk` from neural-tangents ``stax`` (via the shim :mod:`nnkrr._nt`).
  For ``serial(Dense(1, W_std=1, b_std=None), Relu(), Dense(1, W_std=1, b_std=None))``
  in NTK parameterisation, ``ntk - nngp`` is the part of the NTK contributed by
  the first layer, which equals ``K / d`` because ``stax.Dense`` divides by
  fan-in.  Hence ``K = d * (ntk - nngp)``.
* :func:`relu_ntk_closed_form`, the formula above in pure JAX (jit-able).

:func:`mlp_ntk` gives the NTK of a depth-L ReLU MLP in NTK parameterisation,
all layers trained or the last one frozen.  :func:`arccos1_kernel` (ReLU random
features) and :func:`gaussian_kernel` (random Fourier features) are the exact kernels
of the other feature maps in :mod:`nnkrr.features`.

All functions compute in the default float dtype -- float32, or float64 when
``jax_enable_x64`` is on -- unless ``dtype`` is given.  Kernel matrices have shape
``(n1, n2)``; ``x2=None`` means ``x2 = x1``.

Float precision.  ``arccos`` has infinite slope at u = 1, so for (nearly) parallel
x, z the kernel inherits an error of order sqrt(machine epsilon) * x^T z from the
rounding of u: about 5e-5 relative in float32, 2e-8 in float64.  On the diagonal
(x2 = None) both implementations use u = 1 exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nnkrr import _checks
from nnkrr._linalg import mm

__all__ = [
    "AUTO_BATCH_ENTRIES",
    "arccos1_kernel",
    "gaussian_kernel",
    "DEFAULT_BATCH_SIZE",
    "mlp_ntk",
    "mlp_stax",
    "relu_ntk",
    "relu_ntk_closed_form",
]

#: Kernels with more entries than this are computed block-wise with ``nt.batch``.
AUTO_BATCH_ENTRIES = 2048 * 2048
#: Block side used by ``nt.batch`` (per device) when batching is automatic.
DEFAULT_BATCH_SIZE = 1024


def _prepare(x1, x2, dtype) -> tuple[jax.Array, jax.Array | None]:
    dtype = jnp.dtype(dtype) if dtype is not None else _checks.default_float()
    x1 = _checks.as_matrix("x1", x1, dtype=dtype)
    if x2 is not None:
        x2 = _checks.as_matrix("x2", x2, dtype=dtype)
        _checks.check_same_features("x1", x1, "x2", x2)
    return x1, x2


# --------------------------------------------------------------------------- closed form

#: The minimax rational R(z) = z P(z) / Q(z) of fdlibm's ``e_asin.c`` (Sun Microsystems, 1993;
#: also musl's and FreeBSD's libm): asin(s) = s + s R(s^2) for 0 <= s <= 1/2, to within an ulp.
# fmt: off
_ASIN_P = (1.66666666666666657415e-01, -3.25565818622400915405e-01, 2.01212532134862925881e-01,
           -4.00555345006794114027e-02, 7.91534994289814532176e-04, 3.47933107596021167570e-05)
_ASIN_Q = (-2.40339491173441421878e00, 2.02094576023350569471e00, -6.88283971605453293030e-01,
           7.70381505559019352791e-02)
# fmt: on


def _arccos(u: jax.Array) -> jax.Array:
    r"""arccos on [-1, 1] by one rational of degree (6, 4) (:data:`_ASIN_P`, :data:`_ASIN_Q`):

    .. math:: \arccos u = \tfrac{\pi}{2} - (u + u R(u^2)) \ (|u| \le \tfrac12), \qquad
              \arccos |u| = 2 (s + s R(s^2)),\ s = \sqrt{(1 - |u|)/2} \ (|u| > \tfrac12),

    and :math:`\arccos(-|u|) = \pi - \arccos|u|`.  Within 1 ulp of ``numpy.arccos`` in float64
    (tests/test_kernels.py) and 4x faster than XLA's ``acos`` on CPU, whose cost dominated the
    kernel's (the matvec of :func:`nnkrr.krr.kernel_matvec` spent 80% of its time there).
    """
    a = jnp.abs(u)
    small = a <= 0.5
    z = jnp.where(small, u * u, (1 - a) / 2)
    p, q = _ASIN_P[-1], _ASIN_Q[-1]
    for c in _ASIN_P[-2::-1]:
        p = p * z + c
    for c in _ASIN_Q[-2::-1]:
        q = q * z + c
    r = z * p / (q * z + 1)
    s = jnp.sqrt(z)
    t = 2 * (s + s * r)  # arccos |u| for |u| > 1/2
    return jnp.where(small, jnp.pi / 2 - (u + u * r), jnp.where(u > 0, t, jnp.pi - t))


def _cosines(x1: jax.Array, x2: jax.Array | None):
    """``(x1 x2^T, |x1||x2|^T, u)``; u = 0 where a norm is 0, u = 1 on a symmetric diagonal."""
    symmetric = x2 is None
    x2 = x1 if symmetric else x2
    dot = mm(x1, x2.T)
    norms = jnp.linalg.norm(x1, axis=1)[:, None] * jnp.linalg.norm(x2, axis=1)[None, :]
    u = jnp.clip(dot / jnp.where(norms > 0, norms, 1), -1.0, 1.0)
    if symmetric:  # exact u = 1 on the diagonal (arccos is ill-conditioned there)
        u = jnp.fill_diagonal(u, 1.0, inplace=False)
    return dot, norms, u


@jax.jit
def _relu_ntk_formula(x1: jax.Array, x2: jax.Array | None) -> jax.Array:
    dot, _, u = _cosines(x1, x2)
    return dot * (jnp.pi - _arccos(u)) / (2 * jnp.pi)


@jax.jit
def _arccos1_formula(x1: jax.Array, x2: jax.Array | None) -> jax.Array:
    _, norms, u = _cosines(x1, x2)
    theta = _arccos(u)
    return norms * (jnp.sqrt(1 - u * u) + (jnp.pi - theta) * u) / (2 * jnp.pi)


def _relu_ntk_diagonal(x: jax.Array) -> jax.Array:
    """K(x_i, x_i) = |x_i|^2 / 2, exactly, of the ReLU NTK and of the arc-cosine kernel of
    order 1 alike (u = 1; arccos is ill-conditioned there)."""
    return jnp.sum(x * x, axis=1) / 2


@jax.jit
def _gaussian_formula(x1: jax.Array, x2: jax.Array | None, bandwidth) -> jax.Array:
    x2 = x1 if x2 is None else x2
    sq = jnp.sum(x1 * x1, axis=1)[:, None] + jnp.sum(x2 * x2, axis=1)[None, :] - 2 * mm(x1, x2.T)
    return jnp.exp(-jnp.maximum(sq, 0) / (2 * bandwidth**2))


def relu_ntk_closed_form(x1, x2=None, *, dtype=None) -> jax.Array:
    r"""Two-layer ReLU NTK from its closed form, in pure JAX.

    .. math:: K(x, z) = x^\top z \, \frac{\pi - \arccos(u)}{2\pi}, \quad
              u = \frac{x^\top z}{\|x\| \|z\|}

    (``u`` is taken as 0 when a norm is zero, where ``K = 0``.)

    Args:
      x1: inputs, shape ``(n1, d)``.
      x2: inputs, shape ``(n2, d)``; ``None`` for ``x1`` (the diagonal is then exact).
      dtype: compute dtype; defaults to float64 under ``jax_enable_x64``, else float32.

    Returns:
      The kernel matrix, shape ``(n1, n2)``.

    Example:
      >>> import jax.numpy as jnp
      >>> relu_ntk_closed_form(jnp.array([[3.0, 4.0]]))  # |x|^2 / 2
      Array([[12.5]], dtype=float32)
    """
    x1, x2 = _prepare(x1, x2, dtype)
    return _relu_ntk_formula(x1, x2)


def arccos1_kernel(x1, x2=None, *, dtype=None) -> jax.Array:
    r"""Arc-cosine kernel of order 1: the kernel of ReLU random features.

    .. math:: K(x, z) = \mathbb{E}_{w \sim N(0, I)}[\mathrm{relu}(w^\top x)\,
              \mathrm{relu}(w^\top z)] = \frac{\|x\| \|z\|}{2\pi}
              \left(\sin\theta + (\pi - \theta)\cos\theta\right), \quad \cos\theta = u

    (Cho & Saul 2009), the NNGP of the two-layer ReLU network times ``d``.  Shapes and
    dtypes as in :func:`relu_ntk_closed_form`.
    """
    x1, x2 = _prepare(x1, x2, dtype)
    return _arccos1_formula(x1, x2)


def gaussian_kernel(x1, x2=None, *, bandwidth: float = 1.0, dtype=None) -> jax.Array:
    r"""Gaussian kernel :math:`K(x, z) = \exp(-\|x - z\|^2 / (2\sigma^2))`, ``sigma = bandwidth``.

    The kernel of random Fourier features ``[cos w.x, sin w.x]`` with
    :math:`w \sim N(0, \sigma^{-2} I)` (Rahimi & Recht 2007; Avron et al. 2017).
    """
    _checks.check_positive("bandwidth", bandwidth)
    x1, x2 = _prepare(x1, x2, dtype)
    return _gaussian_formula(x1, x2, bandwidth)


# --------------------------------------------------------------------------- neural-tangents


def mlp_stax(depth: int, *, W_std: float = 1.0, b_std: float | None = None, width: int = 512):
    """``stax`` triple of a ReLU MLP with ``depth`` hidden layers, in NTK parameterisation.

    ``serial([Dense(width, W_std, b_std), Relu()] * depth, Dense(1, W_std, b_std))``.
    ``width`` only matters for the finite network made by ``init_fn``/``apply_fn``.
    """
    from nnkrr._nt import stax  # lazily: the closed forms work without neural-tangents

    depth = _checks.check_positive_int("depth", depth)
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(width, W_std=W_std, b_std=b_std), stax.Relu()]
    layers.append(stax.Dense(1, W_std=W_std, b_std=b_std))
    return stax.serial(*layers)


class _Compiled(NamedTuple):
    raw: Callable  # (x1, x2) -> kernel, for nt.batch (which must not be jitted)
    full: Callable  # jitted raw
    diag: Callable  # jitted (x) -> diagonal of raw(x, None), one row at a time


@functools.lru_cache(maxsize=64)
def _compiled(depth: int, W_std: float, b_std: float | None, train_last: bool) -> _Compiled:
    """Jitted kernel functions of :func:`mlp_stax`, cached so repeated calls do not recompile.

    The kernel is ``ntk`` (readout trained) or ``ntk - nngp`` (readout frozen).
    """
    kernel_fn = mlp_stax(depth, W_std=W_std, b_std=b_std)[2]

    def raw(x1, x2=None):
        if train_last:
            return kernel_fn(x1, x2, "ntk")
        k = kernel_fn(x1, x2, ("ntk", "nngp"))
        return k.ntk - k.nngp

    diag = jax.jit(jax.vmap(lambda xi: raw(xi[None, :], None)[0, 0]))
    return _Compiled(raw, jax.jit(raw), diag)


@functools.lru_cache(maxsize=64)
def _batched(compiled: _Compiled, batch_size: int, store_on_device: bool) -> Callable:
    from nnkrr._nt import nt

    return nt.batch(compiled.raw, batch_size=batch_size, store_on_device=store_on_device)


def _evaluate(
    compiled: _Compiled,
    x1: jax.Array,
    x2: jax.Array | None,
    batch_size: int | None,
    store_on_device: bool,
) -> jax.Array:
    """Evaluate the kernel on ``(x1, x2)``, block-wise with ``nt.batch`` when large.

    ``nt.batch`` needs ``x1`` rows divisible by ``device_count * batch_size`` and
    ``x2`` rows by ``batch_size``: inputs are zero-padded (zero rows have kernel 0)
    and the result is cropped.  For ``x2=None`` the diagonal is recomputed one row
    at a time: neural-tangents rounds u = x.x / (|x| |x|) below 1 there, in its
    symmetric path and in ``nt.batch``'s diagonal blocks (which are cross-kernels);
    ``test_symmetric_diagonal_is_exact`` checks the result against |x|^2 / 2.
    """
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    if batch_size is not None:
        batch_size = _checks.check_positive_int("batch_size", batch_size)
    devices = jax.local_device_count()
    if batch_size is None and devices > 1:  # spread x1's rows over all local devices
        batch_size = min(DEFAULT_BATCH_SIZE, -(-n1 // devices))
    if batch_size is None and n1 * n2 <= AUTO_BATCH_ENTRIES:
        k = compiled.full(x1, x2)
    else:
        batch_size = min(batch_size or DEFAULT_BATCH_SIZE, max(n1, n2))
        step = devices * batch_size

        def pad(x):
            extra = -x.shape[0] % step
            return jnp.pad(x, ((0, extra), (0, 0))) if extra else x

        batched = _batched(compiled, batch_size, store_on_device)
        k = jnp.asarray(batched(pad(x1), None if x2 is None else pad(x2)))[:n1, :n2]
    if x2 is None:
        k = k.at[jnp.arange(n1), jnp.arange(n1)].set(compiled.diag(x1))
    return k


def relu_ntk(
    x1, x2=None, *, batch_size: int | None = None, store_on_device: bool = True, dtype=None
) -> jax.Array:
    r"""Exact NTK of the paper's two-layer ReLU network, computed with neural-tangents.

    .. math:: K(x, z) = d \, (\Theta - \Sigma)(x, z) = x^\top z \, \frac{\pi - \arccos(u)}{2\pi}

    where :math:`\Theta` and :math:`\Sigma` are the NTK and NNGP of
    :func:`mlp_stax` with ``depth=1`` (``W_std = 1``, no bias): the difference is the first
    layer's share of the NTK, and ``stax.Dense`` divides by the fan-in ``d``.

    Args:
      x1: inputs, shape ``(n1, d)``, any norms (zero rows give 0).
      x2: inputs, shape ``(n2, d)``; ``None`` for ``x1``.
      batch_size: block side for ``nt.batch`` (per device); ``None`` batches with
        :data:`DEFAULT_BATCH_SIZE` only when ``n1 * n2 > AUTO_BATCH_ENTRIES``, and
        always when there are several local devices (x1's rows are split across them).
      store_on_device: passed to ``nt.batch``; ``False`` assembles blocks on the host.
      dtype: compute dtype; defaults to float64 under ``jax_enable_x64``, else float32.

    Returns:
      The kernel matrix, shape ``(n1, n2)``.

    Not jit-able when batching (``nt.batch`` must not be jitted); use
    :func:`relu_ntk_closed_form` inside ``jit``.
    """
    x1, x2 = _prepare(x1, x2, dtype)
    compiled = _compiled(1, 1.0, None, False)  # mlp_stax(1): ntk - nngp = K / d
    return x1.shape[1] * _evaluate(compiled, x1, x2, batch_size, store_on_device)


def mlp_ntk(
    x1,
    x2=None,
    *,
    depth: int,
    train_last: bool = True,
    W_std: float = 1.0,
    b_std: float | None = None,
    batch_size: int | None = None,
    store_on_device: bool = True,
    dtype=None,
) -> jax.Array:
    r"""Exact NTK of a depth-L fully-connected ReLU network in NTK parameterisation.

    The network is :func:`mlp_stax` (``depth`` hidden ReLU layers, a linear readout).
    With ``train_last=True`` every layer is trained and the kernel is the full NTK
    :math:`\Theta`.  With ``train_last=False`` the readout layer (weights and bias)
    is frozen; its contribution to the NTK is the output NNGP :math:`\Sigma`, so
    the kernel is :math:`\Theta - \Sigma`.

    Reduction to the paper's kernel: with ``depth=1``, ``train_last=False``,
    ``b_std=None`` and any ``W_std`` = :math:`\sigma`,

    .. math:: \mathrm{relu\_ntk}(x, z) = \frac{d}{\sigma^4} \, \mathrm{mlp\_ntk}(x, z).

    Args:
      x1, x2, batch_size, store_on_device, dtype: as in :func:`relu_ntk`.
      depth: number of hidden layers, >= 1.
      train_last: whether the readout layer is trained.
      W_std, b_std: weight and bias standard deviations (``b_std=None``: no bias).

    Returns:
      The kernel matrix, shape ``(n1, n2)``.
    """
    depth = _checks.check_positive_int("depth", depth)
    _checks.check_positive("W_std", W_std)
    if b_std is not None and not b_std >= 0:
        raise ValueError(f"b_std must be >= 0 or None, got {b_std}")
    x1, x2 = _prepare(x1, x2, dtype)
    b_std = None if b_std is None else float(b_std)
    compiled = _compiled(depth, float(W_std), b_std, bool(train_last))
    return _evaluate(compiled, x1, x2, batch_size, store_on_device)


def peak_bytes_kernel_and_cholesky(n: int, d: int, dtype) -> int:
    """Device bytes XLA plans for ``cholesky(relu_ntk_closed_form(x) + lam I)`` at size n.

    Read from the compiled program's memory analysis (arguments + outputs + temporaries);
    nothing is allocated.  Used by ``benchmarks/kernels.py``.
    """

    def program(x):
        k = _relu_ntk_formula(x, None)
        return jnp.linalg.cholesky(k + 1e-3 * jnp.eye(x.shape[0], dtype=x.dtype))

    spec = jax.ShapeDtypeStruct((n, d), jnp.dtype(dtype))
    mem = jax.jit(program).lower(spec).compile().memory_analysis()
    total = mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
    return int(total - mem.alias_size_in_bytes)
