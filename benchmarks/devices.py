"""Benchmark: one device versus all local devices (exact kernel, and training sharded over seeds).

    XLA_FLAGS=--xla_force_host_platform_device_count=4 uv run python benchmarks/devices.py

Run it with and without the flag to compare the kernel; training is compared in one
run (seeds on one device versus sharded).  On a CPU, forced host devices share the
same cores, so expect little speed-up there; with several accelerators this measures
the real scaling.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from nnkrr import kernels, models, train

from timing import best_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--seeds", type=int, default=0, help="default: 2 per device")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    count = jax.local_device_count()
    seeds = args.seeds or 2 * count
    x = jax.random.normal(jax.random.key(0), (args.n, args.dim), jnp.float32)
    y = jax.random.normal(jax.random.key(1), (args.n,), jnp.float32)
    print(
        f"jax {jax.__version__}: {count} {jax.devices()[0].platform} device(s); "
        f"n={args.n}, d={args.dim}, m={args.width}, {seeds} seeds, {args.steps} steps"
    )

    t_kernel = best_time(lambda: kernels.relu_ntk(x), 3)
    print(
        f"exact kernel (stax, rows split over {count} device(s)): {t_kernel:.3f} s "
        "(compare a run without XLA_FLAGS for one device)"
    )

    net = models.TwoLayerReLU(width=args.width)
    variables = jax.vmap(lambda k: net.init(k, x))(jax.random.split(jax.random.key(2), seeds))
    cfg = train.TrainConfig(lam=0.1, learning_rate=1e-3, steps=args.steps)
    times = {
        shard: best_time(
            lambda shard=shard: train.fit(net.apply, variables, x, y, cfg, shard=shard).params, 2
        )
        for shard in (False, True)
    }
    print(
        f"training {seeds} seeds: 1 device {times[False]:.3f} s, sharded over {count} "
        f"{times[True]:.3f} s, speed-up {times[False] / times[True]:.2f}x"
    )


if __name__ == "__main__":
    main()
