r"""Full-batch gradient descent on the ℓ2-regularised loss, with optax; seeds vmapped.

The objective (Lee et al. 2020, Sec. 4) for parameters :math:`\theta` (W, and the readout
when it is trained) with centre :math:`\theta_c` (0, the paper's choice, or
:math:`\theta(0)`):

.. math:: L(\theta) = \tfrac12 \|Y - f(\theta, X)\|^2 + \tfrac{\lambda}{2} \|\theta - \theta_c\|^2 .

For the linearised model this is kernel ridge regression with kernel
:math:`\kappa^2 K_m` and ridge :math:`\lambda`: its Hessian is :math:`G^\top G + \lambda I`, whose
largest eigenvalue is :math:`\lambda_{\max}(\kappa^2 K_m) + \lambda`, so plain GD is stable
for :math:`\eta < 2 / (\lambda_{\max}(\kappa^2 K_m) + \lambda)` (:func:`step_size`), and the
slowest mode decays like :math:`e^{-(\mu_{\min} + \lambda) t}` in continuous time
:math:`t = \eta \cdot \mathrm{steps}` (:func:`horizon`).

Training runs as a ``lax.scan`` of ``steps`` identical steps over a leading seed axis of
the variables, compiled once per shape: one unbatched program per seed on CPUs, ``jax.vmap``
on accelerators (:data:`SEED_AXIS`); a non-finite loss or
update stops that seed (its parameters are kept at the last finite values) and
records the step and the loss.  The step is a value chosen once per fit (:func:`gd_step`, in
the manner of an optax transformation: ``init`` a carry, ``update`` it): :class:`GenericStep`,
``jax.value_and_grad`` of :func:`objective` and the optax update, or, for plain GD of
:class:`nnkrr.models.TwoLayerReLU` with its fused pass and a large W
(:data:`FUSED_GD_MIN_WEIGHTS`), :class:`FusedStep` (:func:`nnkrr.models.two_layer_gd_step`),
which carries f(W, X) and the ridge term from one step to the next: the same steps to
round-off, in one pass over W each (``benchmarks/train.py``).  One segment loop runs either
step over either seed axis.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nnkrr import _checks, models, rules

__all__ = [
    "Checkpointer",
    "Segment",
    "TrainConfig",
    "TrainState",
    "FusedStep",
    "GenericStep",
    "Step",
    "fit",
    "gd_step",
    "Schedule",
    "schedule",
    "FUSED_GD_MIN_WEIGHTS",
    "horizon",
    "make_optimizer",
    "objective",
    "step_size",
]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train (hashable: a static argument of the compiled loop).

    Attributes:
      lam: ridge :math:`\\lambda > 0`.
      learning_rate: step size :math:`\\eta`.
      steps: number of full-batch steps.
      centre: ``"zero"`` (:math:`\\theta_c = 0`) or ``"init"`` (:math:`\\theta_c = \\theta(0)`).
      optimizer: an optax optimizer factory name (``"sgd"`` = plain GD, ``"adam"``, ...).
      optimizer_kwargs: extra keyword arguments for it, as ``((name, value), ...)``.
    """

    lam: float
    learning_rate: float
    steps: int
    centre: Literal["zero", "init"] = "init"
    optimizer: str = "sgd"
    optimizer_kwargs: tuple = ()

    @classmethod
    def of(cls, train: dict, **computed) -> TrainConfig:
        """The config of a job's ``train`` node (every key that is a field here, mappings
        as sorted tuples) with the ``computed`` fields (``lam``, ``learning_rate``, ``steps``,
        ``centre``) set; a key of the schema that is not a field is the schedule's."""
        names = {f.name for f in dataclasses.fields(cls)}
        given = {
            k: tuple(sorted(v.items())) if isinstance(v, dict) else v
            for k, v in train.items()
            if k in names
        }
        return cls(**{**given, **computed})

    def __post_init__(self):
        rules.POSITIVE.require("lam", self.lam)
        rules.POSITIVE.require("learning_rate", self.learning_rate)
        _checks.check_positive_int("steps", self.steps)
        rules.CENTRE.require("centre", self.centre)
        make_optimizer(self)  # validates the optimizer's name and arguments


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """The optax transformation named by ``cfg.optimizer`` at ``cfg.learning_rate``."""
    factory = getattr(optax, rules.OPTIMIZER.require("optimizer", cfg.optimizer))
    try:
        return factory(cfg.learning_rate, **dict(cfg.optimizer_kwargs))
    except TypeError as err:
        raise ValueError(
            f"optimizer_kwargs {dict(cfg.optimizer_kwargs)} do not fit optax.{cfg.optimizer}: {err}"
        ) from None


def step_size(lam_max: float, lam: float, factor: float = 1.0) -> float:
    r"""GD step :math:`\eta = \mathrm{factor} / (\lambda_{\max}(\kappa^2 K_m) + \lambda)`; stable for factor < 2."""
    if not lam_max >= 0:
        raise ValueError(f"lam_max must be >= 0, got {lam_max}")
    rules.STEP_FACTOR.require("factor", factor)
    return factor / (lam_max + lam)


def horizon(lam_min: float, lam: float, c: float = 5.0) -> float:
    r"""Training time :math:`T = c / (\mu_{\min}(\kappa^2 K) + \lambda)`: the slowest mode at :math:`e^{-c}`."""
    rules.POSITIVE.require("c", c)
    return c / (max(lam_min, 0.0) + lam)


@dataclasses.dataclass(frozen=True)
class Schedule:
    r"""A job's step size, steps and training time :math:`T = \eta \cdot \mathrm{steps}`."""

    learning_rate: float
    steps: int
    time: float
    capped: bool  # the steps were cut to max_steps (T shrank with them)


def schedule(
    lam_max: float,
    mu_min: float,
    lam: float,
    *,
    learning_rate: float | None = None,
    step_factor: float = 1.0,
    time: float | None = None,
    horizon_c: float = 5.0,
    max_steps: int = 200000,
) -> Schedule:
    r"""The step size from the spectrum of :math:`\kappa^2 K_m` (:func:`step_size` of its
    largest eigenvalue ``lam_max``, unless ``learning_rate`` is given), the training time from
    that of :math:`\kappa^2 K` (:func:`horizon` of its smallest, ``mu_min``, unless ``time``),
    steps :math:`= \lceil T / \eta \rceil` capped at ``max_steps`` (then :math:`T` shrinks)."""
    lr = learning_rate or step_size(lam_max, lam, step_factor)
    t = time or horizon(mu_min, lam, horizon_c)
    steps = math.ceil(t / lr)
    capped = steps > max_steps
    steps = min(steps, max_steps)
    return Schedule(lr, steps, steps * lr, capped)


def objective(params, constants, apply_fn: Callable, x, y, lam, centre_params) -> jax.Array:
    r""":math:`\tfrac12 \|Y - f(\theta, X)\|^2 + \tfrac\lambda2 \|\theta - \theta_c\|^2`
    (:math:`\theta_c = 0` when ``centre_params`` is ``None``)."""
    f = apply_fn({"params": params, "constants": constants}, x)
    fit_term = 0.5 * jnp.sum((y - f) ** 2)
    if centre_params is None:  # no array of zeros to read and subtract
        sq = jax.tree.map(lambda p: jnp.sum(p * p), params)
    else:
        sq = jax.tree.map(lambda p, c: jnp.sum((p - c) ** 2), params, centre_params)
    return fit_term + 0.5 * lam * sum(jax.tree.leaves(sq))


class TrainState(NamedTuple):
    """Per-seed training state (a leading seed axis when vmapped)."""

    params: dict
    opt_state: optax.OptState
    t: jax.Array  # steps scheduled so far (steps past cfg.steps do nothing)
    step: jax.Array  # steps taken
    loss: jax.Array  # objective before the last step
    diverged_step: jax.Array  # -1, or the step whose loss/update was non-finite
    diverged_loss: jax.Array  # the objective there (nan/inf)


def _advance(state: TrainState, params, opt_state, loss, alive, finite) -> TrainState:
    """The state after a step from ``state`` with ``loss`` before it: the step counts where
    the seed was ``alive`` and the loss and update were ``finite``; a seed alive with a
    non-finite one stops, with the step and the loss recorded."""
    keep, newly = alive & finite, alive & ~finite
    return TrainState(
        params=params,
        opt_state=opt_state,
        t=state.t + 1,
        step=state.step + keep.astype(state.step.dtype),
        loss=jnp.where(alive, loss, state.loss),
        diverged_step=jnp.where(newly, state.step, state.diverged_step),
        diverged_loss=jnp.where(newly, loss, state.diverged_loss),
    )


def init_state(variables: dict, cfg: TrainConfig) -> TrainState:
    """Training state of one seed's Flax ``variables`` (``params`` and ``constants``)."""
    params = variables["params"]
    dtype = jax.tree.leaves(params)[0].dtype
    return TrainState(
        params,
        make_optimizer(cfg).init(params),
        jnp.int32(0),
        jnp.int32(0),
        jnp.asarray(jnp.nan, dtype),
        jnp.int32(-1),
        jnp.asarray(jnp.nan, dtype),
    )


class GenericStep(NamedTuple):
    """The generic training step: ``jax.value_and_grad`` of :func:`objective` through
    ``apply_fn``, then the optax update of ``cfg`` (:func:`make_optimizer`).  Its carry is the
    :class:`TrainState` itself.  Any model, any optimizer."""

    apply_fn: Callable
    cfg: TrainConfig
    name: str = "generic"

    def init(self, state: TrainState, x, constants, centre) -> TrainState:
        return state

    def update(self, carry: TrainState, x, y, constants, centre) -> TrainState:
        cfg, state = self.cfg, carry
        opt = make_optimizer(cfg)
        loss, grads = jax.value_and_grad(objective)(
            state.params, constants, self.apply_fn, x, y, cfg.lam, centre
        )
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        finite = jnp.isfinite(loss) & jnp.all(
            jnp.array([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(params)])
        )
        alive = (state.diverged_step < 0) & (state.t < cfg.steps)
        keep = alive & finite
        # A branch, not an elementwise select: one seed's step picks whole buffers (under
        # vmap it becomes a select per seed).
        params, opt_state = jax.lax.cond(
            keep, lambda: (params, opt_state), lambda: (state.params, state.opt_state)
        )
        return _advance(state, params, opt_state, loss, alive, finite)

    def state(self, carry: TrainState) -> TrainState:
        return carry


class _Fused(NamedTuple):
    """The carry of :class:`FusedStep`: the :class:`TrainState` and, for its current W,
    what the next step's loss needs (computed by the step before)."""

    state: TrainState
    f: jax.Array  # f(W, X), (n,)
    sq: jax.Array  # ||W - W_c||^2


class FusedStep(NamedTuple):
    """The fused plain-GD step of :class:`nnkrr.models.TwoLayerReLU` (its
    :meth:`~nnkrr.models.TwoLayerReLU.gd_step`, :func:`nnkrr.models.two_layer_gd_step`): the
    generic step's loss, update, stopping rule and records for ``optax.sgd``, with the
    gradient, the update and the next forward pass in one pass over W.  Its carry holds
    f(W, X) and the ridge term from one step to the next."""

    net: Any  # a TwoLayerReLU whose fuses_gd is true
    cfg: TrainConfig
    name: str = "fused"

    @property
    def apply_fn(self) -> Callable:
        return self.net.apply

    def init(self, state: TrainState, x, constants, centre) -> _Fused:
        w = state.params["W"]
        dev = w if centre is None else w - centre["W"]
        f = self.net.apply({"params": state.params, "constants": constants}, x)
        return _Fused(state, f, jnp.sum(dev * dev))

    def update(self, carry: _Fused, x, y, constants, centre) -> _Fused:
        cfg, state = self.cfg, carry.state
        loss = 0.5 * jnp.sum((y - carry.f) ** 2) + 0.5 * cfg.lam * carry.sq
        alive = (state.diverged_step < 0) & (state.t < cfg.steps)
        out = self.net.gd_step(
            {"params": state.params, "constants": constants},
            x,
            carry.f - y,
            None if centre is None else centre["W"],
            cfg.learning_rate,
            cfg.lam,
            alive & jnp.isfinite(loss),
        )
        finite = jnp.isfinite(loss) & out.finite
        keep = alive & finite
        params = {**state.params, "W": out.w}
        state = _advance(state, params, state.opt_state, loss, alive, finite)
        return _Fused(state, jnp.where(keep, out.f, carry.f), jnp.where(keep, out.sq, carry.sq))

    def state(self, carry: _Fused) -> TrainState:
        return carry.state


#: A training step, chosen once per fit (:func:`gd_step`): ``init(state, x, constants,
#: centre) -> carry``, ``update(carry, x, y, constants, centre) -> carry`` (one step),
#: ``state(carry) -> TrainState``, its ``apply_fn``, ``cfg`` and ``name`` (the rows'
#: ``step_path``).
Step = GenericStep | FusedStep


def _segment(step: Step, length: int, x, y, constants, centre, carry):
    def body(c, _):
        return step.update(c, x, y, constants, centre), None

    return jax.lax.scan(body, carry, None, length=length)[0]


_segment_vmapped = jax.jit(
    jax.vmap(_segment, in_axes=(None, None, None, None, 0, 0, 0)), static_argnums=(0, 1)
)
_segment_one = jax.jit(_segment, static_argnums=(0, 1))


def _start(step: Step, x, constants, centre, state: TrainState):
    return step.init(state, x, constants, centre)


_start_vmapped = jax.jit(jax.vmap(_start, in_axes=(None, None, 0, 0, 0)), static_argnums=0)
_start_one = jax.jit(_start, static_argnums=0)


#: The fewest weights (m d) for which :func:`fit` takes the fused GD step unasked.  Below,
#: W stays in cache and the generic step's extra passes over it cost little: the generic
#: step was as fast or faster (``benchmarks/fused_gd.py``, ``benchmarks/results/cpu_fused_gd.txt``,
#: n = 128, d = 8, 2 seeds, generic / fused time per step: 0.84x at m = 2^10, 0.98x at 2^14);
#: from 2^20 weights on the two are within this machine's ±15% run-to-run spread or the fused
#: step is ahead (0.99x, 0.94x, 1.18x, 1.03x at m = 2^17 ... 2^20; 1.07x at 2^20 and equal at
#: n = 1024, d = 64, m = 2^14 in ``cpu_train.txt``), and it needs no temporary the size of W.
FUSED_GD_MIN_WEIGHTS = 2**20


def gd_step(model, cfg: TrainConfig, dim: int, fused: bool | None = None) -> Step:
    """The training step of ``model`` (a Flax module, or an ``apply`` function such as a
    linearisation's) under ``cfg``, chosen once: :class:`FusedStep` or :class:`GenericStep`.

    The fused step applies when ``model`` is a :class:`nnkrr.models.TwoLayerReLU` whose
    kernel is ``"fused"`` with the readout fixed, and the optimizer is plain GD
    (``optimizer="sgd"`` without arguments).  ``fused``: ``None`` takes it where it applies
    and W (``model.width`` x ``dim``) has at least :data:`FUSED_GD_MIN_WEIGHTS` entries,
    ``False`` never, ``True`` wherever it applies (``ValueError`` where it does not).

    >>> cfg = TrainConfig(lam=0.1, learning_rate=0.1, steps=10)
    >>> gd_step(models.TwoLayerReLU(width=8, backprop="fused"), cfg, 3, fused=True).name
    'fused'
    """
    applies = (
        isinstance(model, models.TwoLayerReLU)
        and model.fuses_gd
        and cfg.optimizer == "sgd"
        and not cfg.optimizer_kwargs
    )
    if fused and not applies:
        raise ValueError(
            "fused GD needs net = TwoLayerReLU(backprop='fused', train_readout=False) and "
            f"optimizer='sgd' without optimizer_kwargs; got net={model!r}, "
            f"optimizer={cfg.optimizer!r}, optimizer_kwargs={dict(cfg.optimizer_kwargs)}"
        )
    if fused is None:
        fused = applies and model.width * dim >= FUSED_GD_MIN_WEIGHTS
    if fused:
        return FusedStep(model, cfg)
    return GenericStep(model.apply if hasattr(model, "apply") else model, cfg)


#: How :func:`fit` runs the seeds, per backend: ``"vmap"``, one batched program; ``"loop"``,
#: one unbatched program per seed, dispatched asynchronously (on several devices at once
#: when there are several).  Measured by ``benchmarks/train.py --seeds 3``
#: (``benchmarks/results/cpu_train.txt``): on CPUs the batched products of ``vmap``
#: (a matrix-vector product per seed and chunk) took 197 ms per seed and step at n = 128,
#: d = 8, m = 2^20 against 58 ms for the loop (46 against 36 ms at n = 1024, d = 64,
#: m = 16384).  Accelerators batch well: ``vmap``.
SEED_AXIS = {"cpu": "loop"}


def shard_seeds(tree, devices=None):
    """Place a pytree with a leading seed axis across ``devices`` (default: all local ones).

    The seeds are split along a one-axis mesh ``("seeds",)`` (``jax.sharding``); the
    vmapped training program then runs each device's seeds there, with no communication.
    Returned unchanged when there is one device or the seeds do not divide evenly.
    """
    devices = list(jax.local_devices() if devices is None else devices)
    leaves = jax.tree.leaves(tree)
    if not leaves or len(devices) == 1 or leaves[0].shape[0] % len(devices):
        return tree
    return jax.device_put(tree, _seed_sharding(devices))


def _seed_sharding(devices) -> jax.sharding.NamedSharding:
    """A leading seed axis split over ``devices`` (a one-axis mesh ``("seeds",)``)."""
    mesh = jax.sharding.Mesh(np.array(devices), ("seeds",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))


def resolve_seed_axis(seed_axis: str | None) -> str:
    """``seed_axis`` if given, else :data:`SEED_AXIS` for this backend (``"vmap"`` if unlisted)."""
    return _checks.resolve_seed_axis(seed_axis, SEED_AXIS)


class Segment(NamedTuple):
    """Where a :func:`fit` stands after ``done`` of its compiled segments (``step`` GD steps).

    ``carry`` is the training loop's state: with ``seed_axis="vmap"`` one pytree with a
    leading seed axis, with ``"loop"`` a tuple of one pytree per seed, each on its device;
    a :class:`TrainState` for the generic step, for the fused GD step the
    :class:`TrainState` with what the next step carries over (f(W, X) and the ridge term).
    """

    done: int
    step: int
    carry: Any


class Checkpointer(Protocol):
    """Where :func:`fit` saves its progress and finds it again (``checkpoint=``).

    ``restore(start)`` gets the untrained :class:`Segment` (``done == 0``), a template of
    the carry's structure, shapes, dtypes and devices, and returns the segment to continue
    from: ``start`` itself, or a saved one with the same structure, put where the template's
    leaves are.  ``save(segment)`` is called after every segment (the last included) with
    the carry computed; it decides whether and where to write it.  Continuing from a saved
    segment runs the same compiled steps on the same numbers: the final state equals an
    uninterrupted fit's exactly.  ``experiments.checkpoint`` keeps them in the job directory.
    """

    def restore(self, start: Segment) -> Segment: ...

    def save(self, segment: Segment) -> None: ...


def fit(
    apply_fn: Callable,
    variables: dict,
    x,
    y,
    cfg: TrainConfig,
    *,
    segments: int = 1,
    progress: Callable[[int], None] | None = None,
    shard: bool = True,
    seed_axis: str | None = None,
    step: Step | None = None,
    checkpoint: Checkpointer | None = None,
):
    """Train seeds for ``cfg.steps`` steps; returns the final :class:`TrainState`.

    Args:
      apply_fn: the Flax module's ``apply`` (``(variables, x) -> (n,)``).
      variables: Flax variables with a leading seed axis on every leaf.
      x: training inputs ``(n, d)``; y: targets ``(n,)``.
      cfg: the :class:`TrainConfig`.
      segments: split the steps into this many compiled ``lax.scan`` calls (one
        compilation) so that ``progress(steps_done)`` can report between them.
      shard: spread the seeds over the local devices (:func:`shard_seeds`); the
        numbers are the same as on one device.
      seed_axis: ``"vmap"`` (one batched program), ``"loop"`` (one program per seed) or
        ``None`` (:func:`resolve_seed_axis`).  Each seed's numbers are the same either way
        up to round-off (batched and unbatched products may round differently).
      step: the training step (:func:`gd_step`; its ``apply_fn`` and ``cfg`` must be these);
        ``None``: :class:`GenericStep` (autodiff of :func:`objective`, then the optax
        update).  The fused step takes the same steps as the generic one up to round-off.
      checkpoint: a :class:`Checkpointer`: training starts from the segment its
        ``restore`` returns and ``save`` gets each segment's carry (its arrays computed).

    The centre :math:`\\theta_c` is 0 or the initial parameters, by ``cfg.centre``.
    The returned state has a leading seed axis, sharded over the devices with ``shard``.
    On the fused path an update that overflows although the loss is finite (a step size
    far beyond the stable one) stops the seed with the entries that overflowed at their
    old values and the others moved; the generic path keeps all of them.
    """
    segments = _checks.check_positive_int("segments", segments)
    step = GenericStep(apply_fn, cfg) if step is None else step
    if step.apply_fn != apply_fn or step.cfg != cfg:
        raise ValueError(f"step: its apply_fn and cfg must be fit's, got {step!r}")
    centre = variables["params"] if cfg.centre == "init" else None  # None: theta_c = 0
    length = -(-cfg.steps // segments)  # equal segments: one compilation; extra steps idle
    batched = resolve_seed_axis(seed_axis) == "vmap"
    runs, assemble = (_batched_run if batched else _runs_per_seed)(
        step, variables, centre, x, y, cfg, shard
    )

    def carry():  # what a checkpoint holds: the batched carry, or one per seed
        return runs[0].carry if batched else tuple(r.carry for r in runs)

    first = None if checkpoint is None else _restore(checkpoint, carry())
    if first:
        for run, saved in zip(runs, [first.carry] if batched else first.carry, strict=True):
            run.carry = saved
    segment = _segment_vmapped if batched else _segment_one
    for i in range(first.done if first else 0, segments):
        for r in runs:
            r.carry = segment(step, length, r.x, r.y, r.constants, r.centre, r.carry)
        _after_segment(i, length, cfg.steps, carry(), progress, checkpoint)
    return assemble([step.state(r.carry) for r in runs])


@dataclasses.dataclass
class _Run:
    """One compiled training program's inputs and carry: all seeds (batched) or one."""

    x: jax.Array
    y: jax.Array
    constants: dict
    centre: dict | None
    carry: Any


def _batched_run(step, variables, centre, x, y, cfg, shard):
    """All seeds in one vmapped program (sharded over the devices with ``shard``)."""
    if shard:
        variables, centre = shard_seeds(variables), shard_seeds(centre)
    constants = variables["constants"]
    state = jax.vmap(lambda p: init_state({"params": p}, cfg))(variables["params"])
    if shard:
        state = shard_seeds(state)
    carry = _start_vmapped(step, x, constants, centre, state)
    return [_Run(x, y, constants, centre, carry)], lambda states: states[0]


def _runs_per_seed(step, variables, centre, x, y, cfg, shard):
    """One unbatched program per seed; seed ``s`` runs on device ``s // (seeds / devices)``
    (all on the default device unless ``shard`` and the seeds divide evenly); ``assemble``
    puts the final states back together along a sharded seed axis."""
    n_seeds = jax.tree.leaves(variables)[0].shape[0]
    devices = list(jax.local_devices())
    if not shard or len(devices) == 1 or n_seeds % len(devices):
        devices = devices[:1]
    per = n_seeds // len(devices)
    data = {dev: jax.device_put((x, y), dev) for dev in devices}
    runs = []
    for s in range(n_seeds):
        dev = devices[s // per]
        constants, c = jax.device_put(
            jax.tree.map(lambda a, s=s: a[s], (variables["constants"], centre)), dev
        )
        p = jax.device_put(jax.tree.map(lambda a, s=s: a[s], variables["params"]), dev)
        state = _start_one(step, data[dev][0], constants, c, init_state({"params": p}, cfg))
        runs.append(_Run(*data[dev], constants, c, state))

    def assemble(states):
        def stack(*leaves):
            blocks = [jnp.stack(leaves[k * per : (k + 1) * per]) for k in range(len(devices))]
            if len(devices) == 1:
                return blocks[0]
            shape = (n_seeds,) + blocks[0].shape[1:]
            return jax.make_array_from_single_device_arrays(shape, _seed_sharding(devices), blocks)

        return jax.tree.map(stack, *states)

    return runs, assemble


def _restore(checkpoint: Checkpointer, carry) -> Segment | None:
    """The saved segment to continue from, or None to start from step 0."""
    seg = checkpoint.restore(Segment(0, 0, carry))
    return seg if seg.done else None


def _after_segment(i, length, steps, carry, progress, checkpoint) -> None:
    step = min((i + 1) * length, steps)
    if checkpoint is not None:
        checkpoint.save(Segment(i + 1, step, jax.block_until_ready(carry)))
    if progress is not None:
        progress(step)
