"""Benchmark: the exact leverage sampler against the subsample one (approximate q, exact
importance weights), at one n.

    uv run python benchmarks/leverage_subsample.py [--n 4096] [--dim 40] [--lam 0.1]
        [--points 512 2048] [--m 4096] [--seeds 3] [--data cone] [--no-exact]

For each sampler (Gaussian; leverage exact; leverage from a subsample of each ``--points``):
the set-up time (``sampling.leverage``) and one draw's time (rejection, m features) as ratios
to the exact sampler's, measured in the same run, and the median spectral error
eps = ||(K + lam I)^-1/2 (K_m - K) (K + lam I)^-1/2|| over ``--seeds`` draws at equal m, the
cost the approximation may add (variance only: the weights keep K_m unbiased).

With ``--no-exact`` (for n where K does not fit) only the subsample samplers run, and their
set-up and draw times are given as multiples of one matrix-free NTK matvec at the same n
(``krr.kernel_matvec``, measured in the same run): the KRR solve they stand in for costs
its CG iterations plus two of them.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from nnkrr import data, features, sampling  # noqa: E402

from timing import best_time, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=40)
    parser.add_argument("--lam", type=float, default=0.1)
    parser.add_argument("--points", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--m", type=int, default=4096)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", choices=["cone", "synthetic"], default="cone")
    parser.add_argument("--no-exact", action="store_true", help="no K: times only")
    args = parser.parse_args()
    loader = getattr(data, args.data)
    x = loader(0, n_train=args.n, n_test=1, dim=args.dim).x_train
    if args.no_exact:
        return times_only(x, args)
    k = features.RELU_NTK.exact(x)
    print(f"{args.data} n={args.n} d={args.dim} lam={args.lam} m={args.m}, {args.seeds} seeds, "
          f"float64, rejection; defensive mixture {sampling.DEFENSIVE}; {jax.default_backend()}")  # fmt: skip
    rows = [("gaussian", None, 0.0)]
    lev, t_exact = timed(lambda: sampling.leverage(x, args.lam, k=k, points=args.n))
    rows.append(("leverage exact", lev, t_exact))
    for points in args.points:
        sub, t = timed(lambda: sampling.leverage(x, args.lam, points=points))  # noqa: B023
        rows.append((f"leverage, {points} points", sub, t))
    print("| sampler | set-up / exact | draw / exact draw | median eps | eps / exact eps |")
    print("|---|---|---|---|---|")
    results = []
    for name, lv, t_setup in rows:
        sampler = "gaussian" if lv is None else "leverage"
        eps, draw_times = [], []
        for seed in range(args.seeds):
            s, t = timed(
                lambda seed=seed, sampler=sampler, lv=lv: sampling.sample(
                    jax.random.key(seed), x, args.m, sampler=sampler, lam=args.lam, lev=lv
                )
            )
            draw_times.append(t)
            km = features.rf_kernel(x, None, s)
            eps.append(float(features.spectral_epsilon(k, km, args.lam)))
        results.append((name, t_setup, min(draw_times), float(np.median(eps))))
    _, t_ex, d_ex, e_ex = results[1]
    for name, t_setup, t_draw, eps in results:
        print(
            f"| {name} | {t_setup / t_ex:.3f} | {t_draw / d_ex:.3f} | {eps:.3f} | {eps / e_ex:.2f} |"
        )
    print(f"(exact set-up {t_ex:.1f} s, exact draw {d_ex:.1f} s on this machine)")


def times_only(x, args) -> None:
    from nnkrr import krr

    v = np.ones((x.shape[0], 1))
    t_mv = best_time(lambda: krr.kernel_matvec(x, v), repeats=1)
    print(f"{args.data} n={args.n} d={args.dim} lam={args.lam} m={args.m}, {args.seeds} seeds, "
          f"float64, rejection; defensive mixture {sampling.DEFENSIVE}; {jax.default_backend()}")  # fmt: skip
    print("| sampler | set-up / matvec | draw / matvec (min over seeds) | total / matvec |")
    print("|---|---|---|---|")
    for points in args.points:
        lev, t_setup = timed(lambda: sampling.leverage(x, args.lam, points=points))  # noqa: B023
        draws = [
            timed(
                lambda seed=seed, lev=lev: sampling.sample(
                    jax.random.key(seed), x, args.m, sampler="leverage", lam=args.lam, lev=lev
                )
            )[1]
            for seed in range(args.seeds)
        ]
        t_draw = min(draws)
        print(f"| leverage, {points} points | {t_setup / t_mv:.2f} | {t_draw / t_mv:.2f} | "
              f"{(t_setup + t_draw) / t_mv:.2f} |")  # fmt: skip
        print(f"(set-up {t_setup:.1f} s, draw {t_draw:.1f} s, one matvec {t_mv:.1f} s here)")


if __name__ == "__main__":
    main()
