r"""What a job measures of its trained networks, per seed.

* the gap :math:`f_\mathrm{nn}(T) - f^*` on the test points and its decomposition
  (:func:`nnkrr.gap.decompose`), with its round-off level (:data:`ROUNDOFF_ULPS`);
* the spectral error :math:`\epsilon` of :math:`K_m` (:func:`nnkrr.features.spectral_epsilon`);
* the regime: pattern flips and their lazy prediction (:mod:`nnkrr.laziness`) and the
  relative weight movement :math:`\|\theta(T) - \theta(0)\| / \|\theta(0)\|`;
* test and training errors of the network and of NTK-KRR.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from nnkrr import features, gap, krr, laziness

__all__ = ["ROUNDOFF_ULPS", "Trained", "measure"]

#: Round-off level of a row's gap parts (``roundoff``), in units in the last place of the
#: training dtype of the larger of rms(f*) and ``abs_sum_rms``, the RMS over test points of
#: the output sum's absolute mass :math:`\sum_r |v_r| \sigma_r(x)` at initialisation (the
#: readout by magnitude).  A float sum of m terms rounds in proportion to its absolute
#: mass, which grows like sqrt(m) (kappa sqrt(m) |x| / sqrt(2 pi) for the paper's network),
#: not to its value: in ``experiments/sweep.py -m`` the symmetric start's f(W(0)) = 0 came
#: out at 0.09 to 0.18 ulps of the mass in every row, from width 64 (largest gap_init
#: 6.8e-8, mass 3.3) to 16384 (largest 9.6e-7, mass 51), while the former floor, 10 ulps of
#: rms(f*) = 3.6e-7, fell below it from m = 2^12 on.
ROUNDOFF_ULPS = 2


@dataclasses.dataclass(frozen=True, eq=False)
class Trained:
    """Training's outputs, leading seed axis: the network's final state
    (:class:`nnkrr.train.TrainState`), its outputs on the test and training points, those
    of the initial network and of the trained linearisation, and the output sum's mass."""

    state: object
    f_nn: jax.Array  # (seeds, n_t)
    f_nn_train: jax.Array  # (seeds, n)
    f0_train: jax.Array
    f0_test: jax.Array
    f_lin: jax.Array  # (seeds, n_t)
    abs_sum_rms: jax.Array  # (seeds,)


def _sum_sq(tree) -> float:
    return sum(float(jnp.sum(a.astype(jnp.float64) ** 2)) for a in jax.tree.leaves(tree))


def _flips_prediction(problem, net, trained, *, centre, kappa, width, lam_time, key):
    """The lazy prediction of the flips (:func:`nnkrr.laziness.predicted_flips`) per seed,
    for the paper's network: from centre W(0) the data part of W fits the residual
    Y - f(W(0), X) (every seed's residual in one solve, with the problem's factor of K),
    from centre 0 the target Y while W(0) decays by exp(-lam T)."""
    seeds = trained.f0_train.shape[0]
    if centre == "init":
        residuals = problem.y[:, None] - trained.f0_train.astype(jnp.float64).T
        betas, decay = problem.solve(residuals).T, 1.0
    else:
        betas, decay = [problem.beta] * seeds, math.exp(-lam_time)
    return [
        laziness.predicted_flips(key, problem.x, betas[s], kappa=kappa, width=width, decay=decay)
        for s in range(seeds)
    ]


def _km_parts(problem, net, s: int, f0_train, f0_test, centre: str):
    r"""``f_m`` and ``f_lin_inf`` of :func:`nnkrr.gap.decompose` on the matrix-free path: KRR
    with :math:`\kappa^2 K_m` by :func:`nnkrr.krr.cg` on :meth:`Network.km_matvec
    <nnkrr.models.Network.km_matvec>` (both right-hand sides in one CG), preconditioned by the
    exact kernel's Nyström preconditioner (:math:`K_m \approx K`), predictions by matvecs."""
    ys = [problem.y] + ([problem.y - f0_train] if centre == "init" else [])
    # The preconditioner P approximates K + ridge I, so kappa^2 P approximates kappa^2 K_m +
    # lam I; a constant factor does not change CG's iterates.
    beta, info = krr.cg(
        net.km_operator(s, problem.x),
        jnp.stack(ys, axis=1),
        problem.lam,
        preconditioner=problem.preconditioner,
    )
    pred = net.km_matvec(s, problem.x, beta, rows=problem.x_test)
    f_m = pred[:, 0]
    f_lin_inf = f0_test + pred[:, 1] if centre == "init" else f_m
    return f_m, f_lin_inf, info


def measure(
    problem,
    net,
    trained: Trained,
    *,
    centre: str,
    kappa: float,
    width: int,
    lam_time: float,
    dtype,
    predict_flips: bool,
    flips_key,
    flatness: float = math.nan,
) -> list[dict]:
    """The measurements of each seed (one dict a seed; the columns of :mod:`nnkrr.row`).

    Args:
      problem: the :class:`nnkrr.problem.Problem`.
      net: the :class:`nnkrr.models.Network` at initialisation.
      trained: what training gave (:class:`Trained`).
      centre, kappa, width: the regime's centre and scale, the width m.
      lam_time: :math:`\\lambda T`.
      dtype: the training dtype (for the round-off level).
      predict_flips: predict the flips (the paper's network with a fixed readout).
      flips_key: PRNG key of the prediction's Monte Carlo draws.
      flatness: the sampler's flatness statistic (recorded; NaN where it has none).
    """
    seeds = trained.f0_train.shape[0]
    dense = net.km_train is not None
    if dense:
        eps = features.spectral_epsilon(problem.k_train, net.km_train, problem.lam)
    else:  # it needs K and K_m stored (unavailable, said once by the job)
        eps = [math.nan] * seeds
    f_star_rms = float(gap.rms(problem.f_star))
    krr_test_mse = float(jnp.mean((problem.f_star - problem.y_test) ** 2))
    ulp = float(jnp.finfo(dtype).eps)
    flips_pred = [math.nan] * seeds
    if predict_flips:
        flips_pred = _flips_prediction(
            problem,
            net,
            trained,
            centre=centre,
            kappa=kappa,
            width=width,
            lam_time=lam_time,
            key=flips_key,
        )
    x = problem.x.astype(dtype)
    state, out = trained.state, []
    for s in range(seeds):
        f_nn = trained.f_nn[s].astype(jnp.float64)
        f0_train = trained.f0_train[s].astype(jnp.float64)
        f0_test = trained.f0_test[s].astype(jnp.float64)
        f_lin = trained.f_lin[s].astype(jnp.float64)
        if dense:
            parts = gap.decompose(
                f_star=problem.f_star,
                km_train=net.km_train[s],
                km_test=net.km_test[s],
                y=problem.y,
                lam=problem.lam,
                f0_train=f0_train,
                f0_test=f0_test,
                f_lin=f_lin,
                f_nn=f_nn,
                centre=centre,
            )
            km_info = None
        else:
            f_m, f_lin_inf, km_info = _km_parts(problem, net, s, f0_train, f0_test, centre)
            parts = gap.parts(
                f_star=problem.f_star, f_m=f_m, f_lin_inf=f_lin_inf, f_lin=f_lin, f_nn=f_nn
            )
        p0 = jax.tree.map(lambda a, s=s: a[s], net.variables["params"])
        pt = jax.tree.map(lambda a, s=s: a[s], state.params)
        abs_sum_rms = float(trained.abs_sum_rms[s])
        gap_rms = float(gap.rms(parts["total"]))
        diverged_step = int(state.diverged_step[s])
        out.append(
            {
                "gap_max": float(jnp.max(jnp.abs(parts["total"]))),
                "gap_rms": gap_rms,
                "gap_rel": gap_rms / f_star_rms,
                "f_star_rms": f_star_rms,
                "abs_sum_rms": abs_sum_rms,
                "roundoff": ROUNDOFF_ULPS * ulp * max(f_star_rms, abs_sum_rms),
                **{f"gap_{p}": float(gap.rms(parts[p])) for p in gap.PARTS},
                "spectral_eps": float(eps[s]),
                "s_lambda": problem.s_lambda,
                "s_lambda_se": problem.s_lambda_se,
                "krr_solver": problem.solver,
                "krr_iterations": None if problem.info is None else int(problem.info.iterations),
                "krr_residual": math.nan if problem.info is None else float(problem.info.residual),
                "km_iterations": None if km_info is None else int(km_info.iterations),
                "km_residual": math.nan if km_info is None else float(km_info.residual),
                "flatness": flatness,
                "weight_move": math.sqrt(_sum_sq(jax.tree.map(jnp.subtract, pt, p0)) / _sum_sq(p0)),
                "pattern_flips": laziness.pattern_flips(
                    x, net.first_layer(p0), net.first_layer(pt)
                ),
                "pattern_flips_pred": flips_pred[s],
                "nn_test_mse": float(jnp.mean((f_nn - problem.y_test) ** 2)),
                "nn_train_mse": float(
                    jnp.mean((trained.f_nn_train[s].astype(jnp.float64) - problem.y) ** 2)
                ),
                "krr_test_mse": krr_test_mse,
                "status": "diverged" if diverged_step >= 0 else "ok",
                "diverged_step": diverged_step,
                "diverged_loss": float(state.diverged_loss[s]),
                "final_loss": float(state.loss[s]),
            }
        )
    return out
