"""Datasets: determinism, normalisation, documented geometry."""

import numpy as np
import pytest

from nnkrr import data

ALL = sorted(data.DATASETS)


@pytest.mark.parametrize("name", ALL)
def test_deterministic_split_and_shapes(name):
    a, b, c = data.load(name, 0), data.load(name, 0), data.load(name, 1)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.dtype == np.float64 and a.y_train.ndim == 2
    assert a.x_test.shape[1] == a.dim and a.y_test.shape[1] == a.n_outputs
    np.testing.assert_allclose(np.linalg.norm(a.x_train, axis=1), 1.0, rtol=1e-12)
    # no test point is a training point (split is a partition of distinct rows)
    shared = {r.tobytes() for r in a.x_train} & {r.tobytes() for r in a.x_test}
    assert len(shared) <= (5 if name == "digits" else 0)  # digits has a few duplicate images


@pytest.mark.parametrize(
    "name,total,dim,outputs",
    [
        ("digits", 1797, 64, 10),
        ("diabetes", 442, 10, 1),
        ("wine", 178, 13, 3),
        ("breast_cancer", 569, 30, 2),
    ],
)
def test_real_data_standardised_and_centred(name, total, dim, outputs):
    ds = data.load(name, 3, sphere=False)
    assert ds.n_train + ds.n_test == total and ds.dim == dim and ds.n_outputs == outputs
    np.testing.assert_allclose(ds.x_train.mean(0), 0.0, atol=1e-12)
    std = ds.x_train.std(0)
    np.testing.assert_allclose(std[std > 0], 1.0, rtol=1e-12)
    np.testing.assert_allclose(ds.y_train.mean(0), 0.0, atol=1e-12)
    if ds.labels_train is not None:
        onehot = np.eye(outputs)[ds.labels_train]
        offset = ds.y_train - onehot
        np.testing.assert_allclose(
            offset, np.broadcast_to(-onehot.mean(0), offset.shape), atol=1e-12
        )
    else:
        np.testing.assert_allclose(ds.y_train.std(0), 1.0, rtol=1e-12)


def test_raw_digits_are_non_negative_pixels_on_the_sphere():
    """standardise=False: sklearn's pixels (0..16) of the same split, divided by their norm."""
    import sklearn.datasets

    raw = data.load("digits", 2, n_train=40, n_test=10, standardise=False)
    std = data.load("digits", 2, n_train=40, n_test=10)
    assert raw.name == "digits_raw" and std.name == "digits"
    pixels = sklearn.datasets.load_digits().data
    order = np.random.default_rng(2).permutation(len(pixels))[:40]
    expected = pixels[order] / np.linalg.norm(pixels[order], axis=1, keepdims=True)
    np.testing.assert_allclose(raw.x_train, expected, rtol=1e-12)
    assert raw.x_train.min() >= 0 and std.x_train.min() < 0
    np.testing.assert_allclose(raw.y_train, std.y_train)  # same split, same targets


def test_real_data_sizes():
    ds = data.load("digits", 0, n_train=100, n_test=50)
    assert (ds.n_train, ds.n_test) == (100, 50)
    with pytest.raises(ValueError, match="n_train"):
        data.load("wine", 0, n_train=150, n_test=50)


def test_synthetic_noise_has_requested_scale():
    clean = data.synthetic(5, n_train=4000, n_test=10, dim=6)
    noisy = data.synthetic(5, n_train=4000, n_test=10, dim=6, noise=0.3)
    np.testing.assert_array_equal(clean.x_train, noisy.x_train)
    np.testing.assert_array_equal(clean.y_test, noisy.y_test)  # test targets are noise-free
    resid = (noisy.y_train - clean.y_train).ravel()
    assert abs(resid.std() - 0.3) < 4 * 0.3 / np.sqrt(2 * len(resid))
    assert abs(resid.mean()) < 4 * 0.3 / np.sqrt(len(resid))
    assert 0.2 < clean.y_train.std() < 2.0  # the teacher is not degenerate


def test_cone_geometry_makes_leverage_non_flat():
    """Documented: a third of Gaussian half-spaces miss the whole cone; none miss the sphere."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((20000, 8))
    cone = data.cone(0, n_train=200, n_test=1, dim=8, spread=0.05).x_train
    sphere = data.synthetic(0, n_train=200, n_test=1, dim=8).x_train
    assert np.max(np.arccos(np.clip(cone @ np.eye(8)[0], -1, 1))) < 0.4  # narrow around e1
    miss_cone = np.mean(np.all(cone @ w.T < 0, axis=0))
    constant_cone = np.mean(np.all(cone @ w.T < 0, axis=0) | np.all(cone @ w.T >= 0, axis=0))
    miss_sphere = np.mean(np.all(sphere @ w.T < 0, axis=0))
    assert 0.25 < miss_cone < 0.45 and constant_cone > 0.6
    assert miss_sphere == 0.0


def test_cone_clusters():
    ds = data.cone(1, n_train=300, n_test=10, dim=5, clusters=3, spread=0.02)
    cos = ds.x_train @ ds.x_train.T
    # three tight groups: every point is within a few spreads of about a third of the others
    close = (cos > np.cos(0.2)).sum(1) / len(cos)
    assert np.all((close > 0.2) & (close < 0.5))


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"n_train": 0}, "n_train"),
        ({"n_test": -1}, "n_test"),
        ({"dim": 1}, "dim"),
        ({"noise": -0.1}, "noise"),
        ({"spread": 0.0}, "spread"),
        ({"clusters": 0}, "clusters"),
        ({"n_train": 2.5}, "n_train"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        data.cone(0, **kwargs)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="name"):
        data.load("mnist")
