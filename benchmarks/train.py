"""Benchmark: full-batch GD steps of the two-layer network.

    uv run python benchmarks/train.py [--n 1024] [--dim 64] [--width 16384] [--steps 20]

Times ``steps`` GD steps (one compiled ``lax.scan``) of the training path
(``TwoLayerReLU.apply`` + optax SGD, ``nnkrr.train``): the backend's default, the autodiff
path and the fused kernel at several neuron chunk sizes,
against a plain ``jit`` + ``lax.scan`` step by autodiff through the unfused network.
A step's work is 4 n m d FLOP: the pre-activations X W^T and the gradient
mask^T (g o X) (the fused kernel keeps the n m activation patterns as bytes instead
of recomputing X W^T).  The float32 matmul peak is measured in the same run.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import optax

from nnkrr import models, train

from timing import best_time, matmul_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--width", type=int, default=16384)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--chunks", type=int, nargs="+", default=[64, 128, 256, 512])
    args = parser.parse_args()
    n, d, m, steps = args.n, args.dim, args.width, args.steps

    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k1, (n, d), jnp.float32) / jnp.sqrt(d)
    y = jax.random.normal(k2, (n,), jnp.float32)
    variables = models.TwoLayerReLU(width=m).init(k3, x)
    lam, lr = 0.1, 1e-3
    useful = 4 * n * m * d

    dev = jax.devices()[0]
    print(
        f"jax {jax.__version__} on {dev.platform} ({dev.device_kind}); n={n}, d={d}, m={m}, "
        f"float32, {steps} steps per timing"
    )
    peak = matmul_peak()
    print(
        f"matmul peak (jit GEMM, fp32): {peak / 1e9:.1f} GFLOP/s; a step's useful work: "
        f"{useful / 1e9:.2f} GFLOP\n"
    )

    # Baseline: plain jit + lax.scan, autodiff through relu(X W^T) v.
    v = variables["constants"]["a"] / jnp.sqrt(m)
    opt = optax.sgd(lr)

    def plain_loss(w):
        f = jax.nn.relu(jnp.matmul(x, w.T, precision=jax.lax.Precision.HIGHEST)) @ v
        return 0.5 * jnp.sum((y - f) ** 2) + 0.5 * lam * jnp.sum(w * w)

    @jax.jit
    def plain(w):
        def body(carry, _):
            w, s = carry
            g = jax.grad(plain_loss)(w)
            u, s = opt.update(g, s, w)
            return (optax.apply_updates(w, u), s), None

        return jax.lax.scan(body, (w, opt.init(w)), None, length=steps)[0][0]

    w0 = variables["params"]["W"]
    rows = [("plain jit + scan (autodiff)", best_time(lambda: plain(w0), 3) / steps, useful)]

    cfg = train.TrainConfig(lam=lam, learning_rate=lr, steps=steps, centre="zero")
    batched = jax.tree.map(lambda a: a[None], variables)
    default = models.resolve_kernel(None)
    if default == "fused":
        default += f", chunk {models.resolve_chunk(None, m)}"
    variants = [(f"nnkrr default ({default})", {}), ("nnkrr autodiff", {"kernel": "autodiff"})]
    variants += [(f"nnkrr fused, chunk {c}", {"kernel": "fused", "chunk": c}) for c in args.chunks]
    for name, kwargs in variants:
        model = models.TwoLayerReLU(width=m, **kwargs)
        t = best_time(lambda model=model: train.fit(model.apply, batched, x, y, cfg).params, 3)
        rows.append((name, t / steps, useful))

    print(
        f"{'step':32} {'ms/step':>8} {'steps/s':>8} {'GFLOP/s':>9} {'of peak':>8} {'speed-up':>9}"
    )
    base = rows[0][1]
    for name, t, flops in rows:
        print(
            f"{name:32} {t * 1e3:8.2f} {1 / t:8.1f} {flops / t / 1e9:9.1f} "
            f"{flops / t / peak:8.1%} {base / t:8.2f}x"
        )


if __name__ == "__main__":
    main()
