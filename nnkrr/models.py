r"""The paper's two-layer ReLU network in Flax, its linearisation, and the fused pass under both.

Lee et al. (2020, eq. (1)) with the importance weights of leverage sampling and a scale
:math:`\kappa`:

.. math:: f(W, x) = \frac{\kappa}{\sqrt m} \sum_{r=1}^m a_r c_r \,\mathrm{relu}(w_r^\top x),

:math:`a_r \in \{-1, +1\}` and :math:`c_r` (1 for Gaussian, :math:`\sqrt{p/q}(w_r)` for
leverage initialisation) fixed, W trained.  Its gradient features at initialisation,
:math:`\partial f / \partial w_r = \frac{\kappa}{\sqrt m} a_r c_r 1[w_r^\top x \ge 0]\, x`, are
the random features of :mod:`nnkrr.features`, so the network's NTK at initialisation is
:math:`\kappa^2 K_m` (``rf_kernel`` of the same sample).

Because ReLU is 1-homogeneous, :math:`f(W, x) = \langle \nabla_W f(W, x), W \rangle`, and the
linearisation around :math:`W(0)` is the same network with its activation patterns frozen:

.. math:: f_\mathrm{lin}(W, x) = \frac{\kappa}{\sqrt m} \sum_r a_r c_r\, 1[w_r(0)^\top x \ge 0]\, w_r^\top x.

Both are computed by :func:`two_layer`, which never holds the ``(n, m)`` pre-activations:
it walks over ``chunk`` neurons at a time, accumulating f with each chunk's
``(chunk, n)`` pre-activations in cache; the backward pass walks the chunks again,
recomputes their activation patterns (the same product, so the same bits) and gets both
gradients from one product ``mask (g o X)`` per chunk.  Memory is O(m d + chunk n), so
widths of 2^20 and more train within a few hundred MiB (``tests/test_train.py``).

Plain GD on the ridge loss has its own fused step, :func:`two_layer_gd_step`
(:meth:`TwoLayerReLU.gd_step`; :func:`nnkrr.train.fit` takes it where it applies): per
chunk, the gradient, the update and the next step's forward pass, in one read and one
write of W, where autodiff and an optax optimizer make several passes over W.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from nnkrr import _checks
from nnkrr._linalg import mm

__all__ = [
    "BLOCK_ELEMENTS",
    "GDStep",
    "MLP",
    "Network",
    "abs_readout",
    "mlp_network",
    "two_layer_network",
    "TwoLayerReLU",
    "init_variables",
    "linearize",
    "resolve_chunk",
    "resolve_backprop",
    "symmetric_pairs",
    "two_layer",
    "two_layer_autodiff",
    "two_layer_gd_step",
    "with_theta0",
]

#: Pre-activations per step of :func:`two_layer` on CPUs: a chunk of ``BLOCK_ELEMENTS / n``
#: neurons (a power of two, at least 128), whose ``(chunk, n)`` float32 block (8 MiB) stays
#: in cache while it is used.  ``benchmarks/train.py`` measured the choice
#: (``benchmarks/results/cpu_train.txt``, ms per fused GD step): the best chunk at
#: n = 128, d = 8, m = 2^20 (16384: 58.5, against 66.8 at 8192 and 76.8 at 32768) and
#: within the noise of the best at n = 1024, d = 64, m = 16384 (2048: 36.1, against 38.4
#: at 512, 35.3 at 1024 and 35.1 at 4096).
BLOCK_ELEMENTS = 2**21

#: The most pre-activations one step of :func:`two_layer` holds on accelerators (per seed): 2^30
#: float32 (4 GiB).  Below it the whole width is one block (faster there, see
#: :func:`resolve_chunk`); past it, at n = 2^20 and m = 4096 on an H200, one block of 3 seeds
#: (48 GiB) ran out of memory while XLA autotuned its product.
ACCELERATOR_BLOCK_ELEMENTS = 2**30

#: How the network's passes are computed, per backend, each measured by ``benchmarks/train.py`` (outputs with their
#: commands in ``benchmarks/results/``): on 2 CPU cores the fused pass beats autodiff
#: (``cpu_train.txt``, jax 0.10.2: 36.1 vs 61.7 ms per step at n = 1024, d = 64, m = 16384); on
#: an H200 plain autodiff beats the fused pass at every chunk (``h200_train.txt``, jax 0.11.2:
#: 0.20 vs 0.37 ms at m = 16384, 0.70 vs 0.78 ms at m = 65536).  Backends not measured (TPU)
#: use autodiff, XLA's own path.
DEFAULT_BACKPROP = {"cpu": "fused", "gpu": "autodiff"}
BACKPROPS = ("fused", "autodiff")


def _padded(arr: jax.Array, chunk: int) -> jax.Array:
    """``arr`` (m, ...) zero-padded along its first axis to a multiple of ``chunk``."""
    pad = -arr.shape[0] % chunk
    return jnp.pad(arr, [(0, pad)] + [(0, 0)] * (arr.ndim - 1)) if pad else arr


def _block(arr: jax.Array, i, chunk: int) -> jax.Array:
    """Rows ``i * chunk`` ... ``(i + 1) * chunk - 1`` of ``arr`` (a slice in place: no
    re-layout of the whole array, under ``vmap`` too)."""
    return jax.lax.dynamic_slice_in_dim(arr, i * chunk, chunk)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def two_layer(
    w: jax.Array,
    v: jax.Array,
    x: jax.Array,
    u: jax.Array,
    chunk: int,
    frozen: bool,
) -> jax.Array:
    r""":math:`f(x_i) = \sum_r v_r\, 1[u_r^\top x_i > 0]\, w_r^\top x_i`, shape ``(n,)``.

    With ``u = w`` (``frozen=False``) this is :math:`\sum_r v_r \mathrm{relu}(w_r^\top x_i)`;
    with ``u = W(0)`` (``frozen=True``) it is the linearised network.  Gradients flow to
    ``w`` and ``v`` (never to ``x`` or ``u``), computed ``chunk`` neurons at a time.

    Args:
      w: first-layer weights, ``(m, d)``.
      v: effective readout :math:`\kappa a_r c_r / \sqrt m`, ``(m,)``.
      x: inputs, ``(n, d)``.
      u: weights defining the activation patterns, ``(m, d)`` (ignored unless ``frozen``).
      chunk: neurons per step (static).
      frozen: whether patterns come from ``u`` (static).
    """
    return _forward(w, v, x, u, chunk, frozen)


def _forward(w, v, x, u, chunk, frozen):
    m = w.shape[0]
    chunk = min(chunk, m)
    wp, vp = _padded(w, chunk), _padded(v, chunk)
    up = _padded(u, chunk) if frozen else wp
    xt = x.T

    def body(i, acc):
        wb, vb = _block(wp, i, chunk), _block(vp, i, chunk)
        zt = mm(wb, xt)  # (chunk, n) pre-activations, in cache
        mask = (mm(_block(up, i, chunk), xt) if frozen else zt) > 0
        return acc + mm(vb, jnp.where(mask, zt, 0))

    return jax.lax.fori_loop(0, wp.shape[0] // chunk, body, jnp.zeros((x.shape[0],), x.dtype))


def _two_layer_fwd(w, v, x, u, chunk, frozen):
    # Residuals are the inputs only (O(m d) memory): the backward recomputes each chunk's
    # patterns (2 n d FLOP per neuron) instead of keeping n m bytes of them.
    return _forward(w, v, x, u, chunk, frozen), (w, v, x, u if frozen else None)


def _two_layer_bwd(chunk, frozen, res, g):
    # With P = mask (g o X) (m x d, mask m x n):  d/dw_r = v_r P_r  and  d/dv_r = w_r . P_r,
    # since d f_i / d v_r = 1[.] w_r . x_i.  Per chunk of neurons: the patterns again, by
    # the forward's own product 1[U_b X^T > 0] (the same bits), then one GEMM
    # (chunk, n) x (n, d), in the (chunk, n) layout of the forward pass (no transpose of
    # the patterns).
    w, v, x, u = res
    m, d = w.shape
    chunk = min(chunk, m)
    up = _padded(u if frozen else w, chunk)
    gx = g[:, None] * x
    xt = x.T

    def body(i, p):
        mask = (mm(_block(up, i, chunk), xt) > 0).astype(x.dtype)
        return jax.lax.dynamic_update_slice_in_dim(p, mm(mask, gx), i * chunk, 0)

    p = jax.lax.fori_loop(0, up.shape[0] // chunk, body, jnp.zeros(up.shape, x.dtype))[:m]
    grad_w = v[:, None] * p
    grad_v = jnp.sum(w * p, axis=1)
    return grad_w, grad_v, jnp.zeros_like(x), None


two_layer.defvjp(_two_layer_fwd, _two_layer_bwd)


class GDStep(NamedTuple):
    """What :func:`two_layer_gd_step` returns."""

    w: jax.Array  # W+, (m, d)
    f: jax.Array  # f(W+, X), (n,)
    sq: jax.Array  # ||W+ - W_c||^2, ()
    finite: jax.Array  # bool (): every entry of the update was finite


def two_layer_gd_step(
    w: jax.Array,
    v: jax.Array,
    x: jax.Array,
    u: jax.Array,
    g: jax.Array,
    w_c: jax.Array | None,
    lr: float,
    lam: float,
    take: jax.Array,
    chunk: int,
    frozen: bool,
) -> GDStep:
    r"""One plain GD step on the ridge loss of :func:`two_layer`, in one pass over the neurons.

    For :math:`L(W) = \tfrac12 \|Y - f(W, X)\|^2 + \tfrac\lambda2 \|W - W_c\|^2` and the
    residual :math:`g = f(W, X) - Y` of the current weights,

    .. math:: W^+ = W - \eta \big(v \circ P + \lambda (W - W_c)\big), \qquad
              P = 1[U X^\top > 0]\, (g \circ X)

    (:math:`U = W`, or :math:`W(0)` when ``frozen``), returned with what the next step's loss
    needs: :math:`f(W^+, X)` and :math:`\|W^+ - W_c\|^2`.  It is the step that
    :func:`two_layer`'s gradient and ``optax.sgd`` take, fused: each chunk of neurons is read
    once, its patterns found, its gradient and update taken, and its new pre-activations
    :math:`W^+_b X^\top` summed into :math:`f(W^+)` while the chunk is in cache; the chunk
    is written back in place.  Three ``(chunk, n, d)`` products per chunk, as in
    :func:`two_layer`'s forward and backward passes, but one read and one write of W per
    step instead of the several passes an optimizer over the whole array makes (each
    costs a pass over m d floats in memory; ``benchmarks/train.py``).

    Args:
      w: weights W, ``(m, d)``.
      v: effective readout, ``(m,)`` (as in :func:`two_layer`).
      x: inputs, ``(n, d)``.
      u: weights defining the patterns when ``frozen``, ``(m, d)``.
      g: residual :math:`f(W, X) - Y`, ``(n,)``.
      w_c: centre :math:`W_c`, ``(m, d)``, or ``None`` for 0.
      lr: step size :math:`\eta`; lam: ridge :math:`\lambda`.
      take: scalar bool; where False, W is returned unchanged (a stopped seed).
      chunk: neurons per block (static); frozen: patterns from ``u`` (static).

    An entry whose update is not finite keeps its old value and ``finite`` is False (the
    caller stops the seed; the other entries have moved).
    """
    m, n = w.shape[0], x.shape[0]
    chunk = min(chunk, m)
    xt = x.T
    gx = jnp.where(take, g, 0)[:, None] * x
    lr_t = jnp.where(take, lr, 0).astype(x.dtype)

    def update(start, wb, acc, sq, finite):
        # The chunk of W at ``start`` (wb, already read) stepped, its f(W+) and |W+ - Wc|^2
        # terms added.
        size = wb.shape[0]
        vb = jax.lax.dynamic_slice_in_dim(v, start, size)
        ub = jax.lax.dynamic_slice_in_dim(u, start, size) if frozen else wb
        mask = mm(ub, xt) > 0  # (size, n): the patterns of W (or U)
        grad = vb[:, None] * mm(mask.astype(x.dtype), gx)
        cb = None if w_c is None else jax.lax.dynamic_slice_in_dim(w_c, start, size)
        new = wb - lr_t * (grad + lam * (wb if cb is None else wb - cb))
        ok = jnp.isfinite(new)
        new = jnp.where(ok, new, wb)
        z = mm(new, xt)  # (size, n): the pre-activations of W+
        acc = acc + mm(vb, jnp.where(mask if frozen else z > 0, z, 0))
        dev = new if cb is None else new - cb
        return new, acc, sq + jnp.sum(dev * dev), finite & jnp.all(ok)

    def body(i, carry):
        # Each iteration reads the next chunk after writing its own: read inside the
        # update, the chunk's slice would be fused into the update's elementwise work,
        # reading W while it is written in place, and XLA would copy W for every chunk.
        w, wb, *rest = carry
        new, *rest = update(i * chunk, wb, *rest)
        w = jax.lax.dynamic_update_slice_in_dim(w, new, i * chunk, 0)
        return (w, jax.lax.dynamic_slice_in_dim(w, (i + 1) * chunk, chunk), *rest)

    full = m // chunk
    first = jax.lax.dynamic_slice_in_dim(w, 0, chunk)
    carry = (w, first, jnp.zeros((n,), x.dtype), jnp.zeros((), x.dtype), jnp.bool_(True))
    w, _, acc, sq, finite = jax.lax.fori_loop(0, full, body, carry)  # the last read is clamped
    if m % chunk:  # the tail: fewer than chunk neurons
        start = full * chunk
        new, acc, sq, finite = update(start, w[start:], acc, sq, finite)
        w = jax.lax.dynamic_update_slice_in_dim(w, new, start, 0)
    return GDStep(w, acc, sq, finite)


def two_layer_autodiff(
    w: jax.Array, v: jax.Array, x: jax.Array, u: jax.Array, frozen: bool
) -> jax.Array:
    r"""The same function as :func:`two_layer`, written plainly for autodiff.

    :math:`f(x_i) = \sum_r v_r\, 1[u_r^\top x_i > 0]\, w_r^\top x_i` with the ``(n, m)``
    pre-activations in memory (n m floats); gradients by ``jax.grad``, never to ``u``.
    """
    z = mm(x, w.T)
    patterns = (mm(x, jax.lax.stop_gradient(u).T) if frozen else z) > 0
    return mm(jnp.where(patterns, z, 0), v)


def resolve_backprop(backprop: str | None) -> str:
    """How the network's forward and backward passes are computed: ``backprop`` if given,
    else :data:`DEFAULT_BACKPROP` for this backend."""
    if backprop is None:
        return DEFAULT_BACKPROP.get(jax.default_backend(), "autodiff")
    if backprop not in BACKPROPS:
        raise ValueError(f"backprop must be one of {BACKPROPS} or None, got {backprop!r}")
    return backprop


def resolve_chunk(chunk: int | None, width: int, n: int) -> int:
    """Neurons per step for ``n`` inputs: ``chunk``, or for ``None`` on CPUs the power of
    two nearest :data:`BLOCK_ELEMENTS` / n (at least 128), and on accelerators the whole
    width, where one large product beats a ``lax.scan`` of small ones (``benchmarks/train.py``
    on an H200, n = 1024, d = 64, m = 16384: 0.33 ms per step with one chunk, 0.45 ms with
    chunks of 4096), up to :data:`ACCELERATOR_BLOCK_ELEMENTS` / n (the largest power of two
    within it).  Never more than ``width``."""
    if chunk is not None:
        return min(_checks.check_positive_int("chunk", chunk), width)
    n = _checks.check_positive_int("n", n)
    if jax.default_backend() != "cpu":
        return min(width, max(1, 2 ** math.floor(math.log2(ACCELERATOR_BLOCK_ELEMENTS / n))))
    return min(max(128, 2 ** round(math.log2(BLOCK_ELEMENTS / n))), width)


class TwoLayerReLU(nn.Module):
    r"""The paper's network :math:`f(W, x) = \frac{\kappa}{\sqrt m}\sum_r a_r c_r \mathrm{relu}(w_r^\top x)`.

    Variables: ``params/W`` (m, d), trained; ``constants/c`` (m,) importance weights;
    ``a`` (m,) readout signs, in ``constants`` or, with ``train_readout=True``, in
    ``params``; ``constants/W0`` (m, d), the initial weights (used when ``linearized``).
    Build them from a feature sample with :func:`init_variables`; ``init`` draws the
    paper's Gaussian initialisation (c = 1, independent signs).

    Attributes:
      width: m.
      kappa: output scale :math:`\kappa`.
      linearized: freeze the activation patterns at ``W0`` (the linearised model).
      train_readout: train the signs' magnitudes ``a`` too (both layers trained).
      chunk: neurons per step of :func:`two_layer`; ``None``: :func:`resolve_chunk`.
      backprop: ``"fused"`` (:func:`two_layer`) or ``"autodiff"`` (:func:`two_layer_autodiff`);
        ``None``: the measured default of the backend (:func:`resolve_backprop`).
    """

    width: int
    kappa: float = 1.0
    linearized: bool = False
    train_readout: bool = False
    chunk: int | None = None
    backprop: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Outputs, shape ``(n,)``, for inputs ``x`` of shape ``(n, d)``."""
        m, d = self.width, x.shape[-1]
        w = self.param("W", nn.initializers.normal(1.0), (m, d), x.dtype)

        def signs(key):
            return jax.random.rademacher(key, (m,), x.dtype)

        if self.train_readout:
            a = self.param("a", signs)
        else:
            a = self.variable("constants", "a", lambda: signs(self.make_rng("params"))).value
        c = self.variable("constants", "c", lambda: jnp.ones((m,), x.dtype)).value
        w0 = self.variable("constants", "W0", lambda: w).value
        v = _readout(self.kappa, a, c)
        if resolve_backprop(self.backprop) == "autodiff":
            return two_layer_autodiff(w, v, x, w0, self.linearized)
        return two_layer(w, v, x, w0, resolve_chunk(self.chunk, m, x.shape[0]), self.linearized)

    @property
    def fuses_gd(self) -> bool:
        """Whether :meth:`gd_step` applies: the fused pass trains W alone."""
        return resolve_backprop(self.backprop) == "fused" and not self.train_readout

    def gd_step(self, variables: dict, x, g, w_c, lr: float, lam: float, take) -> GDStep:
        """One plain GD step of ``params/W`` on the ridge loss, fused
        (:func:`two_layer_gd_step`; called on the unbound module, outside ``apply``).

        Args:
          variables: this module's variables (``params/W``, ``constants/a, c, W0``).
          x: inputs ``(n, d)``; g: residual :math:`f(W, X) - Y`, ``(n,)``.
          w_c: centre of the ridge term, ``(m, d)``, or ``None`` for 0.
          lr, lam: step size and ridge; take: scalar bool, False to leave W unchanged.
        """
        if not self.fuses_gd:
            raise ValueError(
                "gd_step needs backprop='fused' and train_readout=False, got "
                f"backprop={resolve_backprop(self.backprop)!r}, train_readout={self.train_readout}"
            )
        w, const = variables["params"]["W"], variables["constants"]
        v = _readout(self.kappa, const["a"], const["c"])
        chunk = resolve_chunk(self.chunk, self.width, x.shape[0])
        return two_layer_gd_step(
            w, v, x, const["W0"], g, w_c, lr, lam, take, chunk, self.linearized
        )


def _readout(kappa: float, a: jax.Array, c: jax.Array) -> jax.Array:
    r"""The effective readout :math:`v_r = \kappa a_r c_r / \sqrt m` of :class:`TwoLayerReLU`."""
    return kappa / math.sqrt(a.shape[0]) * a * c


def symmetric_pairs(w: jax.Array, c: jax.Array, a: jax.Array):
    """Symmetric initialisation: (w, c, a) and (w, c, -a) side by side, so f(W(0), .) = 0."""
    return (jnp.concatenate([w, w]), jnp.concatenate([c, c]), jnp.concatenate([a, -a]))


def init_variables(sample, signs: jax.Array, *, train_readout: bool = False) -> dict:
    """Flax variables of :class:`TwoLayerReLU` from a feature sample and readout signs.

    Args:
      sample: a :class:`nnkrr.sampling.FeatureSample` (``w`` (m, d), ``scale`` (m,) = c).
      signs: readout signs a, shape ``(m,)``.
      train_readout: put ``a`` among the trained ``params``.
    """
    w = jnp.asarray(sample.w)
    c = jnp.asarray(sample.scale, w.dtype)
    a = jnp.asarray(signs, w.dtype)
    if w.ndim != 2 or c.shape != (w.shape[0],) or a.shape != (w.shape[0],):
        raise ValueError(
            f"sample.w (m, d), sample.scale (m,) and signs (m,) disagree: "
            f"{w.shape}, {c.shape}, {a.shape}"
        )
    _checks.check_finite("sample.w", w)
    params = {"W": w}
    constants = {"c": c, "W0": w}
    if train_readout:
        params["a"] = a
    else:
        constants["a"] = a
    return {"params": params, "constants": constants}


class MLP(nn.Module):
    r"""A depth-L ReLU network in NTK parameterisation (Gaussian initialisation only).

    .. math:: h_0 = x,\quad h_l = \mathrm{relu}\big(\sigma_w W_l h_{l-1} / \sqrt{n_{l-1}}\big),
              \quad f = \kappa\, \sigma_w W_{L+1} h_L / \sqrt{n_L},

    all :math:`W_l \sim N(0, 1)`, no biases: the finite network of
    :func:`nnkrr.kernels.mlp_stax` (``b_std=None``), whose infinite-width NTK is
    :math:`\kappa^2` :func:`nnkrr.kernels.mlp_ntk` (readout trained or, with
    ``train_readout=False``, frozen in the ``constants`` collection).

    Attributes:
      width: hidden width.
      depth: number of hidden layers L >= 1.
      kappa: output scale.
      W_std: :math:`\sigma_w`.
      train_readout: whether the last layer is trained.
    """

    width: int
    depth: int = 2
    kappa: float = 1.0
    W_std: float = 1.0
    train_readout: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Outputs, shape ``(n,)``, for inputs ``x`` of shape ``(n, d)``."""
        h = x
        for layer in range(self.depth):
            w = self.param(
                f"W{layer}", nn.initializers.normal(1.0), (h.shape[-1], self.width), x.dtype
            )
            h = jax.nn.relu(self.W_std * mm(h, w) / math.sqrt(h.shape[-1]))
        shape = (self.width,)
        if self.train_readout:
            out = self.param("readout", nn.initializers.normal(1.0), shape, x.dtype)
        else:
            out = self.variable(
                "constants",
                "readout",
                lambda: jax.random.normal(self.make_rng("params"), shape, x.dtype),
            ).value
        return self.kappa * self.W_std * mm(h, out) / math.sqrt(self.width)


def linearize(apply_fn):
    r"""The first-order Taylor model of ``apply_fn`` around parameters kept in ``constants``.

    .. math:: f_\mathrm{lin}(\theta, x) = f(\theta_0, x) + \partial_\theta f(\theta_0, x)(\theta - \theta_0),

    with :math:`\theta_0` = ``variables["constants"]["theta0"]`` (set by
    :func:`with_theta0`).  For :class:`TwoLayerReLU`, ``linearized=True`` computes the
    same model faster (1-homogeneity).
    """

    def apply_lin(variables, x):
        constants = dict(variables["constants"])
        theta0 = constants.pop("theta0")

        def f(params):
            return apply_fn({"params": params, "constants": constants}, x)

        delta = jax.tree.map(jnp.subtract, variables["params"], theta0)
        f0, df = jax.jvp(f, (theta0,), (delta,))
        return f0 + df

    return apply_lin


def with_theta0(variables: dict) -> dict:
    """``variables`` with a copy of its ``params`` as ``constants/theta0`` (for :func:`linearize`)."""
    return {
        "params": variables["params"],
        "constants": {**variables.get("constants", {}), "theta0": variables["params"]},
    }


@dataclasses.dataclass(frozen=True, eq=False)
class Network:
    r"""A job's networks at initialisation, one per seed (leading seed axis), side by side
    with their kernels: the network, its linearisation, and :math:`\kappa^2 K_m`, the NTK
    of the initial network.

    Shapes: ``km_train`` (seeds, n, n), ``km_test`` (seeds, n_t, n); both ``None`` when the
    job is matrix-free (``kernels=False``): :meth:`km_matvec` applies :math:`\kappa^2 K_m`
    from the feature draw (``samples``) instead.
    """

    module: nn.Module  # the network (its ``apply`` is trained)
    variables: dict  # Flax variables, leading seed axis
    lin_apply: object  # the linearisation around the initial parameters
    lin_variables: dict
    km_train: jax.Array
    km_test: jax.Array
    first_layer: object  # params of one seed -> first-layer weights (m, d)
    abs_variables: dict  # ``variables`` with the readout by magnitude (the output sum's mass)
    backprop: str  # how its passes are computed: fused | autodiff (provenance)
    chunk: int | None
    samples: object = None  # the feature draw (leading seed axis; without the symmetric
    # pairs, whose K_m is the draw's: each feature twice, with the same c); two_layer only
    feature_kernels: tuple[str, ...] = ()  # K_m = sum of these random-feature kernels
    kappa: float = 1.0

    def km_operator(self, seed: int, x: jax.Array) -> jax.tree_util.Partial:
        r""":math:`v \mapsto \kappa^2 K_m v` of seed ``seed``'s draw on inputs ``x``, without
        forming :math:`K_m` (:func:`nnkrr.features.rf_matvec`): a
        :class:`jax.tree_util.Partial` (its arrays are arguments, so :func:`nnkrr.krr.cg` and
        :func:`nnkrr.features.largest_eigenvalue` compile it once for every seed)."""
        if self.samples is None:
            raise ValueError("km_operator needs the feature draw (the paper's network)")
        return jax.tree_util.Partial(
            _KM_APPLY[self.feature_kernels],
            x,
            self.samples.w[seed],
            self.samples.scale[seed],
            jnp.asarray(self.kappa**2, x.dtype),
        )

    def km_matvec(self, seed: int, x: jax.Array, v: jax.Array, rows=None) -> jax.Array:
        r""":math:`\kappa^2 K_m(\mathrm{rows}, X)\, v` of seed ``seed``'s draw (``rows`` ``None``:
        x), as :meth:`km_operator`."""
        if rows is None:
            return self.km_operator(seed, x)(v)
        op = self.km_operator(seed, x)
        return op.func(*op.args, v, rows=rows)


def _km_relu(x, w, scale, kappa2, v, rows=None):
    from nnkrr import features, sampling

    return kappa2 * features.rf_matvec(x, sampling.FeatureSample(w, scale), v, rows=rows)


def _km_relu_arccos1(x, w, scale, kappa2, v, rows=None):
    from nnkrr import features, sampling

    sample = sampling.FeatureSample(w, scale)
    out = features.rf_matvec(x, sample, v, rows=rows)
    return kappa2 * (out + features.rf_matvec(x, sample, v, "arccos1", rows=rows))


#: :attr:`Network.feature_kernels` -> the module-level K_m product of :meth:`Network.km_operator`.
_KM_APPLY = {("relu_ntk",): _km_relu, ("relu_ntk", "arccos1"): _km_relu_arccos1}


def abs_readout(variables: dict, name: str) -> dict:
    r"""``variables`` with the readout weights ``name`` (in ``params`` or ``constants``) by
    magnitude: that network outputs :math:`\sum_r |v_r| \sigma_r(x)`, the absolute mass of
    the output sum, whose float round-off grows with it (``roundoff`` of a row)."""
    out = dict(variables)
    for collection in ("params", "constants"):
        if name in out.get(collection, {}):
            out[collection] = {**out[collection], name: jnp.abs(out[collection][name])}
    return out


def two_layer_network(
    sample,
    signs: jax.Array,
    x,
    x_test,
    *,
    width: int,
    kappa: float,
    symmetric: bool,
    train_readout: bool,
    backprop: str | None,
    chunk: int | None,
    dtype,
    kernels: bool = True,
) -> Network:
    """The paper's network from a feature draw (:func:`nnkrr.sampling.draw_first_layer`:
    ``sample.w`` (seeds, m', d), ``signs`` (seeds, m'); m' = width / 2 with ``symmetric``
    pairs), its parameters cast to ``dtype``; :math:`K_m` from the float64 features, stored
    (``kernels``) or applied by :meth:`Network.km_matvec`."""
    from nnkrr import features, sampling

    kappa2 = kappa**2
    w, c, a = sample.w, sample.scale, signs
    drawn = sampling.FeatureSample(w, c)  # K_m of the pairs is that of the draw (each twice)
    if symmetric:
        w, c, a = jax.vmap(symmetric_pairs)(w, c, a)
    km_train, km_test = [], []
    for s in range(w.shape[0] if kernels else 0):
        full = sampling.FeatureSample(w[s], c[s])
        km, kmt = features.rf_kernel(x, None, full), features.rf_kernel(x_test, x, full)
        if train_readout:
            km = km + features.rf_kernel(x, None, full, "arccos1")
            kmt = kmt + features.rf_kernel(x_test, x, full, "arccos1")
        km_train.append(kappa2 * km)
        km_test.append(kappa2 * kmt)
    variables = jax.vmap(
        lambda w, c, a: init_variables(sampling.FeatureSample(w, c), a, train_readout=train_readout)
    )(w.astype(dtype), c.astype(dtype), a.astype(dtype))
    path = resolve_backprop(backprop)
    # One chunk for training and test inputs (resolved by the training set's size).
    chunk = resolve_chunk(chunk, width, x.shape[0]) if path == "fused" else width

    def module(linearized):
        return TwoLayerReLU(
            width=width,
            kappa=kappa,
            linearized=linearized,
            train_readout=train_readout,
            chunk=chunk,
            backprop=path,
        )

    return Network(
        module(False),
        variables,
        module(True).apply,
        variables,
        jnp.stack(km_train) if kernels else None,
        jnp.stack(km_test) if kernels else None,
        lambda params: params["W"],
        abs_readout(variables, "a"),
        path,
        chunk,
        samples=drawn,
        feature_kernels=("relu_ntk", "arccos1") if train_readout else ("relu_ntk",),
        kappa=kappa,
    )


def mlp_network(
    keys: jax.Array,
    x,
    x_test,
    *,
    width: int,
    depth: int,
    kappa: float,
    W_std: float,
    train_readout: bool,
    dtype,
) -> Network:
    """A depth-L ReLU MLP per seed key (Gaussian init, float64, then cast to ``dtype``); the
    NTK at init :math:`\\kappa^2 K_m = J J^\top` by autodiff (the MLP holds :math:`\\kappa`)."""
    model = MLP(width=width, depth=depth, kappa=kappa, W_std=W_std, train_readout=train_readout)

    def jacobian(variables, xs):
        def f(params):
            return model.apply({"params": params, "constants": variables.get("constants", {})}, xs)

        jac = jax.jacobian(f)(variables["params"])
        return jnp.concatenate([j.reshape(xs.shape[0], -1) for j in jax.tree.leaves(jac)], 1)

    variables, km_train, km_test = [], [], []
    for key in keys:
        v64 = model.init(key, x)
        j, jt = jacobian(v64, x), jacobian(v64, x_test)
        km_train.append(j @ j.T)
        km_test.append(jt @ j.T)
        v64 = {"params": v64["params"], "constants": v64.get("constants", {})}
        variables.append(jax.tree.map(lambda a: a.astype(dtype), v64))
    variables = jax.tree.map(lambda *leaves: jnp.stack(leaves), *variables)
    return Network(
        model,
        variables,
        linearize(model.apply),
        jax.vmap(with_theta0)(variables),
        jnp.stack(km_train),
        jnp.stack(km_test),  # kappa is inside the MLP
        lambda params: params["W0"].T,
        abs_readout(variables, "readout"),
        "autodiff",
        None,
    )


# --------------------------------------------------------------------------- model kinds


@dataclasses.dataclass(frozen=True)
class Kind:
    r"""A model kind, registered once (as neural-tangents' ``stax`` keeps a layer's ``init``,
    ``apply`` and ``kernel_fn`` together): the networks of a job, the exact kernel they tend
    to, and what the kind supports.  :data:`KINDS` maps ``model.kind`` to it; nothing outside
    this registry switches on the kind.

    Attributes:
      network: ``network(cfg, scale, x, x_test, dtype, kernels, cache) -> (Network,
        flatness)``: the job's networks (one per seed, keys ``fold_in(key(cfg.seed), s)``)
        from the checked sweep config, with :math:`\kappa^2 K_m` stored when ``kernels`` (the
        job's solver is Cholesky) or applied matrix-free, the sampler's set-up from the
        sweep's ``cache`` where it has one; ``flatness`` is the sampler's statistic that
        travels beside them (sup score / :math:`s_\lambda` of the leverage function; NaN
        otherwise).
      kernel: ``kernel(model, x, x_test) -> (K, K_test)``: the exact kernel of the model
        config (without :math:`\kappa^2`), train-train and test-train.
      samplers: the first-layer samplers the kind can be initialised with.
      pairs: symmetric init makes pairs (w, a), (w, -a): the width must be even.
      predicts_flips: whether :mod:`nnkrr.laziness` predicts its pattern flips (a function of
        the model config).
      formula: ``formula(model) ->`` :class:`nnkrr.problem.Formula`, the exact kernel's closed
        form for matrix-free jobs (``solver=cg``), or ``None``: the kind has none here and
        its jobs store K.
    """

    network: Callable
    kernel: Callable
    samplers: tuple[str, ...]
    pairs: bool
    predicts_flips: Callable[[dict], bool]
    formula: Callable[[dict], object] | None = None


def _seed_keys(cfg: dict) -> jax.Array:
    base = jax.random.key(cfg["seed"])
    return jax.vmap(lambda s: jax.random.fold_in(base, s))(jnp.arange(cfg["seeds"]))


def _two_layer(
    cfg: dict, scale, x, x_test, dtype, kernels: bool = True, cache=None
) -> tuple[Network, float]:
    from nnkrr import sampling

    reg, mdl, smp = cfg["regime"], cfg["model"], cfg["sampler"]
    width = mdl["width"]
    sample, signs, flatness = sampling.draw_first_layer(
        _seed_keys(cfg),
        x,
        width // 2 if reg["symmetric"] else width,
        sampler=smp["name"],
        # Leverage scores of K at the ridge on K: KRR with (kappa^2 K, lam) is KRR with
        # (K, ridge).  Flatness (65536 draws from p) with the leverage rows.
        lam=scale.ridge,
        method=smp["method"],
        pool_size=smp.get("pool_size"),
        flatness_key=jax.random.fold_in(jax.random.key(cfg["seed"]), 2**29),
        cache=cache,
    )
    net = two_layer_network(
        sample,
        signs,
        x,
        x_test,
        width=width,
        kappa=scale.kappa,
        symmetric=reg["symmetric"],
        train_readout=mdl["train_readout"],
        backprop=mdl.get("backprop"),
        chunk=mdl.get("chunk"),
        dtype=dtype,
        kernels=kernels,
    )
    return net, flatness


def _two_layer_kernel(model: dict, x, x_test):
    from nnkrr import kernels

    k_train, k_test = kernels.relu_ntk(x), kernels.relu_ntk(x_test, x)
    if model["train_readout"]:
        k_train = k_train + kernels.arccos1_kernel(x)
        k_test = k_test + kernels.arccos1_kernel(x_test, x)
    return k_train, k_test


def _mlp(
    cfg: dict, scale, x, x_test, dtype, kernels: bool = True, cache=None
) -> tuple[Network, float]:
    # Gaussian init only: nothing a sweep's jobs could share (cache); a kind without a
    # formula is always on the stored path (the config check refuses cg)
    if not kernels:
        raise ValueError("model.kind=mlp has no matrix-free kernel: its jobs store K_m")
    mdl = cfg["model"]
    net = mlp_network(
        _seed_keys(cfg),
        x,
        x_test,
        width=mdl["width"],
        depth=mdl["depth"],
        kappa=scale.kappa,
        W_std=mdl["W_std"],
        train_readout=mdl["train_readout"],
        dtype=dtype,
    )
    return net, math.nan


def _ntk_and_arccos1(x1, x2):
    # the kernel of the network with its readout trained too: relu NTK + arc-cosine (order 1)
    from nnkrr.kernels import _arccos1_formula, _relu_ntk_formula

    return _relu_ntk_formula(x1, x2) + _arccos1_formula(x1, x2)


def _ntk_and_arccos1_diagonal(x):
    from nnkrr.kernels import _relu_ntk_diagonal

    return 2 * _relu_ntk_diagonal(x)  # each of the two kernels: |x|^2 / 2


def _two_layer_formula(model: dict):
    from nnkrr.kernels import _relu_ntk_diagonal, _relu_ntk_formula
    from nnkrr.problem import Formula

    if model["train_readout"]:
        return Formula(_ntk_and_arccos1, _ntk_and_arccos1_diagonal)
    return Formula(_relu_ntk_formula, _relu_ntk_diagonal)


def _mlp_kernel(model: dict, x, x_test):
    from nnkrr import kernels

    kw = {"depth": model["depth"], "train_last": model["train_readout"], "W_std": model["W_std"]}
    return kernels.mlp_ntk(x, **kw), kernels.mlp_ntk(x_test, x, **kw)


#: ``model.kind`` -> its :class:`Kind`.
KINDS: dict[str, Kind] = {
    "two_layer": Kind(
        network=_two_layer,
        kernel=_two_layer_kernel,
        samplers=("gaussian", "leverage"),
        pairs=True,
        predicts_flips=lambda model: not model["train_readout"],
        formula=_two_layer_formula,
    ),
    "mlp": Kind(
        network=_mlp,
        kernel=_mlp_kernel,
        samplers=("gaussian",),
        pairs=False,
        predicts_flips=lambda model: False,
    ),
}
