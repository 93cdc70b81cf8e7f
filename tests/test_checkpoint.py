"""Training that stops and goes on: a fit or a job interrupted between segments and continued
from its checkpoint ends exactly where an uninterrupted one does."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from test_experiment import TINY as BASE
from test_train import setup

from experiments import checkpoint
from nnkrr import experiment, models, train

TIMING = ["wall_s"]  # the only columns allowed to differ between two runs of a job


class Interrupted(Exception):
    pass


class Memory:
    """A :class:`nnkrr.train.Checkpointer` in memory that raises after ``stop_after``
    segments (a kill between segments), keeping the segments it was given."""

    def __init__(self, stop_after=None, saved=None):
        self.stop_after, self.saved = stop_after, saved
        self.segments = []

    def restore(self, start):
        return start if self.saved is None else self.saved

    def save(self, segment):
        leaf = jax.tree.leaves(segment.carry)[0]
        assert leaf.is_ready()  # computed before save is called
        self.segments.append(segment.done)
        self.saved = segment
        if segment.done == self.stop_after:
            raise Interrupted


@pytest.mark.parametrize("seed_axis", ["loop", "vmap"])
@pytest.mark.parametrize("backprop", ["fused", "autodiff"])
def test_an_interrupted_fit_continues_to_the_same_state(x64, backprop, seed_axis):
    runs = [setup(seed=s, m=40, sampler="leverage") for s in (3, 4)]
    x, y = runs[0][0], runs[0][2]
    net = models.TwoLayerReLU(width=40, kappa=0.8, chunk=16, backprop=backprop)
    cfg = train.TrainConfig(lam=0.05, learning_rate=0.05, steps=50, centre="init")
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *[r[4] for r in runs])
    step = train.gd_step(net, cfg, x.shape[1], backprop == "fused")
    fit = lambda ckpt: train.fit(  # noqa: E731
        net.apply,
        stacked,
        x,
        y,
        cfg,
        segments=4,
        seed_axis=seed_axis,
        step=step,
        checkpoint=ckpt,
    )
    whole = fit(None)
    first = Memory(stop_after=2)
    with pytest.raises(Interrupted):
        fit(first)
    assert first.segments == [1, 2] and first.saved.step == 26  # 4 segments of 13 steps
    again = Memory(saved=first.saved)
    resumed = fit(again)
    assert again.segments == [3, 4]  # only the segments after the saved one ran
    moved = np.abs(np.asarray(whole.params["W"] - stacked["params"]["W"])).max()
    assert moved > 0.05
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)  # the same arithmetic: equal, not close


TINY = [o for o in BASE if not o.startswith("train.max_steps")] + [
    "train.max_steps=200",
    "train.segments=4",
    "checkpoint_s=0",
]


class _InterruptAt:
    """A progress callback that raises after the ``segment``-th segment of stage ``label``."""

    def __init__(self, label, segment):
        self.label, self.segment, self.calls, self.step = label, segment, 0, None

    def __call__(self, stage, done, total):
        if stage == self.label:
            self.calls += 1
            if self.calls == self.segment:
                self.step = done
                raise Interrupted


@pytest.mark.parametrize("stop", [("network", 2), ("linearised", 1)])
def test_an_interrupted_job_resumes_to_the_same_rows(x64, tmp_path, caplog, stop):
    cfg = experiment.compose(TINY + ["sampler=leverage"])
    key = checkpoint.fingerprint(cfg)
    whole = experiment.run(cfg)
    store = checkpoint.JobCheckpoints(tmp_path, key, every_s=0)
    interrupt = _InterruptAt(*stop)
    with pytest.raises(Interrupted):
        experiment.run(cfg, checkpoints=store, progress=interrupt)
    files = sorted(p.name for p in (tmp_path / checkpoint.FOLDER).iterdir())
    assert files == (["network.npz"] if stop[0] == "network" else ["linearised.npz", "network.npz"])
    # seeds x (W: m x d, its centre is not stored) in float32, and the records
    assert store.write_bytes > 2 * 16 * 3 * 4
    again = checkpoint.JobCheckpoints(tmp_path, key, every_s=0)
    with caplog.at_level(logging.INFO, logger="experiments.checkpoint"):
        resumed = experiment.run(cfg, checkpoints=again)
    assert f"{stop[0]}: resumed at step {interrupt.step} from" in caplog.text
    assert 0 < interrupt.step < whole.steps.iloc[0]
    pd.testing.assert_frame_equal(whole.drop(columns=TIMING), resumed.drop(columns=TIMING))


def test_a_checkpoint_of_another_config_is_not_resumed(x64, tmp_path, caplog):
    cfg = experiment.compose(TINY)
    store = checkpoint.JobCheckpoints(tmp_path, checkpoint.fingerprint(cfg), every_s=0)
    with pytest.raises(Interrupted):
        experiment.run(cfg, checkpoints=store, progress=_InterruptAt("network", 2))
    other = experiment.compose(TINY + ["train.step_factor=0.5"])
    assert checkpoint.fingerprint(other) != checkpoint.fingerprint(cfg)
    assert checkpoint.fingerprint(experiment.compose(TINY + ["checkpoint_s=60"])) == store.key
    fresh = checkpoint.JobCheckpoints(tmp_path, checkpoint.fingerprint(other), every_s=None)
    with caplog.at_level(logging.WARNING, logger="experiments.checkpoint"):
        rows = experiment.run(other, checkpoints=fresh)
    assert "not resumed" in caplog.text and "another config" in caplog.text
    pd.testing.assert_frame_equal(
        experiment.run(other).drop(columns=TIMING), rows.drop(columns=TIMING)
    )


def test_checkpoints_are_written_by_the_clock_or_when_flushed(x64, tmp_path):
    now = [0.0]
    store = checkpoint.JobCheckpoints(tmp_path, "k", every_s=10, clock=lambda: now[0])
    stage = store.stage("network")
    carry = {"w": jnp.arange(6.0).reshape(2, 3)}
    stage.save(train.Segment(1, 5, carry))
    assert not store.path("network").exists()  # 0 s since the job started: nothing written
    now[0] = 10.0
    stage.save(train.Segment(2, 10, carry))
    assert store.written == {"network": 2}
    stage.save(train.Segment(3, 15, carry))  # 0 s since that write
    assert store.written == {"network": 2}
    with checkpoint.active(store):
        assert "network at step 15" in checkpoint.flush_active()
        assert "already up to date" in checkpoint.flush_active()
    assert "not training" in checkpoint.flush_active()
    restored = checkpoint.JobCheckpoints(tmp_path, "k", every_s=None).stage("network")
    seg = restored.restore(train.Segment(0, 0, {"w": jnp.zeros((2, 3))}))
    assert (seg.done, seg.step) == (3, 15)
    np.testing.assert_array_equal(seg.carry["w"], carry["w"])
    # another shape: not resumed
    start = train.Segment(0, 0, {"w": jnp.zeros((3, 3))})
    assert restored.restore(start) is start
    store.remove()
    assert not store.folder.exists()
