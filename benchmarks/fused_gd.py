"""Benchmark: the fused GD step against the generic optax step, by width.

    uv run python benchmarks/fused_gd.py [--n 128] [--dim 8] [--seeds 2] [--widths 1024 ...]

For each width, ``nnkrr.train.fit`` of ``TwoLayerReLU`` (fused pass, plain GD) with
``step=train.FusedStep`` (``nnkrr.models.two_layer_gd_step``: one pass over W per step) and
``step=train.GenericStep`` (autodiff of the objective through the kernel, then ``optax.sgd``),
timed as in ``benchmarks/train.py`` (k and 3k steps, alternated, best of 5; a step's time is
the difference over 2k), with the ratio generic / fused measured in the same run.  Where
W fits in cache the generic step's extra passes over it are cheap; the crossover is what
``nnkrr.train.FUSED_GD_MIN_WEIGHTS`` records.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from nnkrr import models, train

from timing import marginal_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--widths", type=int, nargs="+", default=[2**10, 2**14, 2**16, 2**17, 2**18, 2**19]
    )
    args = parser.parse_args()
    n, d = args.n, args.dim
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k1, (n, d), jnp.float32) / jnp.sqrt(d)
    y = jax.random.normal(k2, (n,), jnp.float32)
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}; n={n}, d={d}, float32, "
        f"{args.seeds} seeds; ms per step (all seeds)\n"
    )
    print(f"{'width':>8} {'m d':>9} {'fused GD':>9} {'optax':>9} {'optax/fused':>12}")
    for m in args.widths:
        net = models.TwoLayerReLU(width=m, backprop="fused")
        variables = jax.tree.map(lambda a: jnp.stack([a] * args.seeds), net.init(k3, x))
        steps = max(4, min(100, 2**21 // m))
        cfgs = {
            k: train.TrainConfig(lam=0.01, learning_rate=1e-3, steps=k, centre="zero")
            for k in (steps, 3 * steps)
        }
        t = {}
        for fused in (True, False):

            def run(k, fused=fused, net=net, variables=variables, cfgs=cfgs):
                step = train.gd_step(net, cfgs[k], d, fused)
                return train.fit(net.apply, variables, x, y, cfgs[k], step=step).params

            t[fused] = marginal_time(run, steps)[0]
        print(
            f"{m:8d} {m * d:9d} {t[True] * 1e3:9.3f} {t[False] * 1e3:9.3f} "
            f"{t[False] / t[True]:11.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
