"""Benchmark: full-batch GD steps of the two-layer network.

    uv run python benchmarks/train.py [--n 1024] [--dim 64] [--width 16384] [--steps 20] [--seeds 1]

Times the training path (``nnkrr.train.fit`` of ``TwoLayerReLU``, plain GD) for ``seeds``
seeds: the backend's default (on CPUs and large W the fused GD step, ``train.gd_step``),
the fused pass with the generic optax step (``train.GenericStep``: autodiff of the objective
through the fused pass, then ``optax.sgd``), the autodiff path and the fused pass at several
neuron chunk sizes, and with ``--seeds`` > 1 the seeds batched by ``vmap`` instead of the
backend's default, against a plain ``jit`` + ``lax.scan`` step by autodiff through the
unfused network (one seed).  Each variant runs ``steps`` and ``3 * steps`` GD steps (one
compiled ``lax.scan`` each); a step's time is the difference over ``2 * steps`` (what every
further step of a long run costs), and "per fit" is what a call costs besides its steps
(per seed: slicing the seed's variables, the state's first copy and the fresh pages of
XLA's buffers, the fused step's first forward pass, assembling the result).  Times are per
seed.  A step's useful work is 4 n m d FLOP: the pre-activations X W^T and the gradient
mask (g o X) (the fused paths also recompute the patterns 1[W X^T > 0], 2 n m d FLOP more, not
counted).  The float32 matmul peak and the step's compiled memory (``memory_analysis``:
temporaries + arguments + outputs, one seed) are measured in the same run.  Where the
default is the fused GD step, two bound rows time its matrix products alone (``products``:
no elementwise work, W still read and written once): the three it runs, and the two of a
step that kept the patterns instead of recomputing them.
"""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp
import optax

from nnkrr import models, train
from nnkrr._linalg import mm

from timing import marginal_time, matmul_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--width", type=int, default=16384)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--chunks", type=int, nargs="+", default=[512, 2048, 8192])
    args = parser.parse_args()
    n, d, m, steps, seeds = args.n, args.dim, args.width, args.steps, args.seeds

    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k1, (n, d), jnp.float32) / jnp.sqrt(d)
    y = jax.random.normal(k2, (n,), jnp.float32)
    variables = models.TwoLayerReLU(width=m).init(k3, x)
    lam, lr = 0.1, 1e-3
    useful = 4 * n * m * d

    dev = jax.devices()[0]
    print(
        f"jax {jax.__version__} on {dev.platform} ({dev.device_kind}); n={n}, d={d}, m={m}, "
        f"float32, {steps} and {3 * steps} steps per timing, {seeds} seed(s)"
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

    @functools.partial(jax.jit, static_argnums=1)
    def plain(w, length):
        def body(carry, _):
            w, s = carry
            g = jax.grad(plain_loss)(w)
            u, s = opt.update(g, s, w)
            return (optax.apply_updates(w, u), s), None

        return jax.lax.scan(body, (w, opt.init(w)), None, length=length)[0][0]

    w0 = variables["params"]["W"]
    rows = [("plain jit + scan (autodiff)", *marginal_time(lambda k: plain(w0, k), steps), useful)]

    cfgs = {
        k: train.TrainConfig(lam=lam, learning_rate=lr, steps=k, centre="zero")
        for k in (steps, 3 * steps)
    }
    batched = jax.tree.map(lambda a: jnp.stack([a] * seeds), variables)
    default_net = models.TwoLayerReLU(width=m)
    fused_step = train.gd_step(default_net, cfgs[steps], d).name == "fused"
    default = models.resolve_backprop(None)
    if default == "fused":
        default += f"{' GD step' if fused_step else ''}, chunk {models.resolve_chunk(None, m, n)}"
    default += f", {train.resolve_seed_axis(None)}"
    # (name, TwoLayerReLU arguments, fit arguments)
    variants = [(f"nnkrr default ({default})", {}, {})]
    if seeds > 1:
        variants.append(("nnkrr default, seeds by vmap", {}, {"seed_axis": "vmap"}))
    if fused_step:
        variants.append(("nnkrr fused pass + optax step", {}, {"fused": False}))
    variants.append(("nnkrr autodiff", {"backprop": "autodiff"}, {}))
    variants += [
        (f"nnkrr fused, chunk {c}", {"backprop": "fused", "chunk": c}, {}) for c in args.chunks
    ]
    memory = {}
    for name, kwargs, fit_kwargs in variants:
        model = models.TwoLayerReLU(width=m, **kwargs)

        fused = fit_kwargs.get("fused")
        fit_kwargs = {k: v for k, v in fit_kwargs.items() if k != "fused"}

        def run(k, model=model, fit_kwargs=fit_kwargs, fused=fused):
            step = train.gd_step(model, cfgs[k], d, fused)
            return train.fit(model.apply, batched, x, y, cfgs[k], step=step, **fit_kwargs).params

        step, fixed = marginal_time(run, steps)
        rows.append((name, step / seeds, fixed / seeds, useful))
        fused_ran = train.gd_step(model, cfgs[steps], d, fused).name == "fused"
        memory[name] = step_memory(model, fused_ran, cfgs[steps], x, y, variables)

    if default.startswith("fused"):
        chunk = models.resolve_chunk(None, m, n)
        for k in (2, 3):
            t, _ = marginal_time(lambda s, k=k: products(w0, x, chunk, k, s), steps)
            rows.append((f"bound: {k} products alone, chunk {chunk}", t, None, useful))

    print(
        f"{'step (per seed)':34} {'ms/step':>8} {'GFLOP/s':>9} {'of peak':>8} {'speed-up':>9} "
        f"{'per fit':>9} {'memory':>9}"
    )
    base = rows[0][1]
    for name, t, fixed, flops in rows:
        mem = f"{memory[name] / 2**20:6.0f} MiB" if name in memory else ""
        per_fit = f"{fixed * 1e3:6.0f} ms" if fixed is not None else ""
        print(
            f"{name:34} {t * 1e3:8.2f} {flops / t / 1e9:9.1f} "
            f"{flops / t / peak:8.1%} {base / t:8.2f}x {per_fit:>9} {mem:>9}"
        )


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def products(w, x, chunk: int, k: int, steps: int):
    """The matrix products of one fused GD step (``nnkrr.models.two_layer_gd_step``) with
    no elementwise work, chunk by chunk in one loop as the step runs them, each chunk of W
    read and written back in place: the patterns' product ``W_b X^T`` (``k = 3`` only), the
    gradient product ``(chunk, n) x (n, d)``, and the new pre-activations ``W+_b X^T`` with
    the forward's matrix-vector product.  ``k = 2`` is a step that kept its patterns (the
    gradient product takes the previous chunk's pre-activations, in cache).  A bound on the
    step's speed as XLA's CPU products run at this shape; ``steps`` steps in a row."""
    xt = x.T
    v = jnp.ones((chunk,), x.dtype)

    def body(i, carry):
        w, acc, z = carry
        wb = jax.lax.dynamic_slice_in_dim(w, i * chunk, chunk)
        if k == 3:
            z = mm(wb, xt)
        new = wb + mm(z, x)
        z = mm(new, xt)
        acc = acc + mm(v, z)
        return jax.lax.dynamic_update_slice_in_dim(w, new, i * chunk, 0), acc, z

    def step(_, carry):
        return jax.lax.fori_loop(0, w.shape[0] // chunk, body, carry)

    acc = jnp.zeros((x.shape[0],), x.dtype)
    z = jnp.zeros((chunk, x.shape[0]), x.dtype)
    return jax.lax.fori_loop(0, steps, step, (w, acc, z))[:2]


def step_memory(model, fused: bool, cfg, x, y, variables) -> int:
    """Bytes of one seed's compiled training segment (temporaries + arguments + outputs),
    from XLA's memory analysis of the program ``nnkrr.train.fit`` runs for one seed (the
    fused GD step's or the generic one's)."""
    centre = None  # cfg.centre == "zero"
    state = train.init_state(variables, cfg)
    step = train.gd_step(model, cfg, x.shape[1], fused)
    carry = train._start_one(step, x, variables["constants"], centre, state)
    lowered = train._segment_one.lower(step, cfg.steps, x, y, variables["constants"], centre, carry)
    mem = lowered.compile().memory_analysis()
    return mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes


if __name__ == "__main__":
    main()
