"""Benchmark: what a training checkpoint costs (``experiments.checkpoint``).

    uv run python benchmarks/checkpoint.py [--n 128] [--dim 8] [--seeds 3] [--segments 10]

Trains the paper's network (plain GD, the backend's default step) for each width m with a
checkpoint written after *every* segment (``checkpoint_s=0``, the densest setting) and
reports, per width: the file's size against the parameters' ``seeds x m x d`` entries, a
write's time (``np.savez`` of the carry, fsync, rename) and a segment's training time, both
measured in the same run, and their ratio.  The default ``checkpoint_s=300`` writes at most
one checkpoint per 300 s of training, so its overhead is the write time over 300 s; a job
shorter than that writes none unless the scheduler's signal asks for one.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import jax
import jax.numpy as jnp

from experiments import checkpoint
from nnkrr import data, models, sampling, train


class Timed:
    """Wraps a stage's checkpointer: the wall time between saves (the segments' training)."""

    def __init__(self, inner):
        self.inner, self.last, self.segment_s = inner, None, []

    def restore(self, start):
        self.last = time.perf_counter()
        return self.inner.restore(start)

    def save(self, segment):
        now = time.perf_counter()
        self.segment_s.append(now - self.last)
        self.inner.save(segment)
        self.last = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--widths", type=int, nargs="+", default=[2**14, 2**17, 2**20])
    args = parser.parse_args()
    ds = data.synthetic(0, n_train=args.n, n_test=8, dim=args.dim)
    x = jnp.asarray(ds.x_train, jnp.float32)
    y = jnp.asarray(ds.y_train[:, 0], jnp.float32)
    print(
        f"backend {jax.default_backend()}, n={args.n}, d={args.dim}, {args.seeds} seeds, "
        f"float32, {args.steps} steps in {args.segments} segments, a checkpoint after each"
    )
    print(
        f"{'m':>8} {'file MB':>8} {'bytes/(seeds m d)':>18} {'write s':>8} "
        f"{'segment s':>10} {'write/segment':>14}"
    )
    for m in args.widths:
        keys = jax.random.split(jax.random.key(0), args.seeds)
        sample = sampling.sample_batch(keys, x, m, sampler="gaussian", lam=0.1)
        signs = jnp.ones((args.seeds, m), jnp.float32)
        variables = jax.vmap(models.init_variables)(sample, signs)
        variables = jax.tree.map(lambda a: a.astype(jnp.float32), variables)
        net = models.TwoLayerReLU(width=m, kappa=1.0)
        cfg = train.TrainConfig(lam=0.1, learning_rate=0.1, steps=args.steps)
        step = train.gd_step(net, cfg, args.dim)
        with tempfile.TemporaryDirectory() as tmp:
            store = checkpoint.JobCheckpoints(tmp, "bench", every_s=0)
            timed = Timed(store.stage("network"))
            train.fit(
                net.apply, variables, x, y, cfg, segments=args.segments, step=step,
                checkpoint=timed,
            )  # fmt: skip
            writes = store.write_s[1:]  # the first write also creates the folder
            write = sorted(writes)[len(writes) // 2]
            segments = [s - w for s, w in zip(timed.segment_s[1:], store.write_s[1:], strict=True)]
            segment = sorted(segments)[len(segments) // 2]
            size = store.write_bytes
        print(
            f"{m:>8} {size / 1e6:>8.1f} {size / (args.seeds * m * args.dim):>18.2f} "
            f"{write:>8.3f} {segment:>10.3f} {write / segment:>14.3f}"
        )


if __name__ == "__main__":
    main()
