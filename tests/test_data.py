"""Datasets: determinism, normalisation, documented geometry."""

import numpy as np
import pandas as pd
import pytest

from nnkrr import data

ALL = sorted(data.DATASETS)


#: Loader arguments where a loader's defaults would take long (MNIST-1D's pool of 100,000).
SMALL = {"mnist1d": {"n_train": 100, "n_test": 50, "pool": 600}}


@pytest.mark.parametrize("name", ALL)
def test_deterministic_split_and_shapes(name):
    kwargs = SMALL.get(name, {})
    a, b, c = (data.load(name, seed, **kwargs) for seed in (0, 0, 1))
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


def test_generated_sets_name_their_geometry_off_the_defaults():
    """Rows, tables and figures tell the variants apart by the data set's name."""
    assert data.cone(0, 4, 2).name == "cone"
    assert data.cone(0, 4, 2, spread=0.25).name == "cone(spread=0.25)"
    assert data.cone(0, 4, 2, clusters=4, spread=0.1).name == "cone(clusters=4,spread=0.1)"
    assert data.manifold(0, 4, 2, intrinsic=2, thickness=0.01).name == (
        "manifold(intrinsic=2,thickness=0.01)"
    )
    assert data.anisotropic(0, 4, 2, decay=1.0).name == "anisotropic"
    assert data.synthetic(0, 4, 2, nested=True).name == "synthetic(nested)"
    assert data.cone(0, 4, 2, clusters=4, spread=0.1, nested=True).name == (
        "cone(clusters=4,nested,spread=0.1)"
    )


_GENERATED = [
    (data.synthetic, {}),
    (data.cone, {}),
    (data.cone, {"clusters": 4, "spread": 0.1}),
    (data.anisotropic, {}),
    (data.manifold, {"intrinsic": 2, "thickness": 0.05}),
    (data.synthetic, {"noise": 0.3}),
]


@pytest.mark.parametrize(("loader", "options"), _GENERATED)
def test_nested_generated_sets_are_prefixes_with_one_teacher_and_test_set(loader, options):
    """Across n_train (and past a block of NESTED_BLOCK rows) the training sets are prefixes of
    one another, the test set is the same (its prefixes the smaller ones), and so is the
    teacher: the sets of a study across n differ only in n."""
    small = loader(3, 700, 40, nested=True, **options)
    large = loader(3, data.NESTED_BLOCK + 900, 90, nested=True, **options)
    assert large.x_train.shape == (data.NESTED_BLOCK + 900, 8) and large.y_test.shape == (90, 1)
    for field, rows in (("x_train", 700), ("y_train", 700), ("x_test", 40), ("y_test", 40)):
        np.testing.assert_array_equal(getattr(small, field), getattr(large, field)[:rows])
    assert not np.array_equal(loader(4, 700, 40, nested=True, **options).x_train, small.x_train)


def test_nested_sphere_targets_are_the_stated_teacher_of_the_seeds_own_stream():
    """y = k^-1/2 sum_j a_j sin(omega v_j^T x), (v, a) from the seed's teacher stream, at every
    n; without ``nested`` the one stream's teacher follows n_train + n_test draws."""
    ds = data.synthetic(5, 300, 20, nested=True, frequency=2.0, terms=3)
    rng = np.random.default_rng((5, 1))
    v = rng.standard_normal((3, 8))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    a = rng.standard_normal(3)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        np.testing.assert_allclose(y[:, 0], np.sin(2.0 * x @ v.T) @ a / np.sqrt(3), rtol=1e-12)
    unnested = [data.synthetic(5, n, 20, terms=3) for n in (300, 600)]
    np.testing.assert_array_equal(unnested[0].x_train, unnested[1].x_train[:300])
    assert not np.allclose(unnested[0].y_train, unnested[1].y_train[:300])


def test_anisotropic_without_decay_is_the_sphere_and_with_it_crowds_the_first_axis():
    flat = data.anisotropic(4, 300, 10, decay=0.0)
    np.testing.assert_array_equal(flat.x_train, data.synthetic(4, 300, 10).x_train)
    x = data.anisotropic(4, 2000, 10, decay=1.0).x_train
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-12)
    spread = np.abs(x).mean(0)
    assert np.all(np.diff(spread) < 0) and spread[0] > 4 * spread[-1]


@pytest.mark.parametrize("intrinsic", [1, 2])
def test_manifold_points_have_its_dimension(intrinsic):
    """The correlation dimension (slope of log P(|x - x'| < r) in log r at small r) is the
    manifold's, far below the sphere's d - 1 = 7."""
    x = data.manifold(0, 3000, 10, intrinsic=intrinsic).x_train
    dist = np.sqrt(np.maximum(2 - 2 * x @ x.T, 0))[np.triu_indices(len(x), 1)]
    r = np.quantile(dist, [0.001, 0.01])
    slope = np.log(0.01 / 0.001) / np.log(r[1] / r[0])
    assert abs(slope - intrinsic) < 0.35 * intrinsic


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
        ({"loader": "anisotropic", "decay": -1.0}, "decay must be a finite number >= 0"),
        ({"loader": "manifold", "intrinsic": 8}, "intrinsic must be < dim = 8"),
        ({"loader": "manifold", "thickness": -0.1}, "thickness"),
        ({"loader": "manifold", "curvature": 0.0}, "curvature"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, name):
    kwargs = dict(kwargs)
    loader = data.DATASETS[kwargs.pop("loader", "cone")]
    with pytest.raises(ValueError, match=name):
        loader(0, **kwargs)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="name"):
        data.load("mnist")


# ----------------------------------------------------------------- your own data (from_file)


def _arrays(n=40, d=3, k=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * [1.0, 5.0, 0.1] + [0.0, 3.0, -1.0], rng.normal(size=(n, k))


def test_from_file_npz_split_and_preprocessing_by_hand(tmp_path):
    x, y = _arrays()
    np.savez(tmp_path / "mine.npz", x=x, y=y)
    ds = data.from_file(str(tmp_path / "mine.npz"), seed=3, n_train=30, n_test=10)
    order = np.random.default_rng(3).permutation(40)
    tr, te = order[:30], order[30:]
    mean, std = x[tr].mean(0), x[tr].std(0)

    def sphere(a):
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    np.testing.assert_allclose(ds.x_train, sphere((x[tr] - mean) / std), rtol=1e-12)
    np.testing.assert_allclose(ds.x_test, sphere((x[te] - mean) / std), rtol=1e-12)
    ym, ys = y[tr].mean(0), y[tr].std(0)
    np.testing.assert_allclose(ds.y_test, (y[te] - ym) / ys, rtol=1e-12)
    assert ds.name == "mine" and ds.n_outputs == 2
    raw = data.from_file(
        str(tmp_path / "mine.npz"), seed=3, n_train=30, n_test=10, sphere=False, standardise=False
    )
    np.testing.assert_array_equal(raw.x_train, x[tr])
    # default split: a quarter for testing
    assert (data.from_file(str(tmp_path / "mine.npz")).n_test, raw.n_train) == (10, 30)


def test_from_file_given_test_split_npz_and_csv_agree(tmp_path):
    x, y = _arrays(n=30, k=1)
    xt, yt = _arrays(n=12, k=1, seed=1)
    np.savez(tmp_path / "both.npz", x=x, y=y[:, 0], x_test=xt, y_test=yt[:, 0])
    cols = ["a", "b", "c"]
    pd.DataFrame(np.c_[x, y], columns=[*cols, "t"]).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(np.c_[xt, yt], columns=[*cols, "t"]).to_csv(tmp_path / "test.csv", index=False)
    a = data.from_file(str(tmp_path / "both.npz"))
    b = data.from_file(
        str(tmp_path / "train.csv"), columns=["t"], test_path=str(tmp_path / "test.csv")
    )
    assert (a.n_train, a.n_test, b.n_train, b.n_test) == (30, 12, 30, 12)
    np.testing.assert_allclose(a.x_test, b.x_test, rtol=1e-12)  # csv round-trips 17 digits
    np.testing.assert_allclose(a.y_train, b.y_train, rtol=1e-12)
    # the given test rows are used in order, the training rows are shuffled by the seed
    mean, std = x.mean(0), x.std(0)
    expected = (xt - mean) / std
    np.testing.assert_allclose(a.x_test, expected / np.linalg.norm(expected, axis=1)[:, None])


@pytest.mark.parametrize(
    "setup,kwargs,message",
    [
        (None, {"path": "nowhere.npz"}, "path: no such file 'nowhere.npz'"),
        ("x_only", {}, "path: .* must hold arrays x and y"),
        ("ragged", {}, r"path: .*x must be \(n, d\) and y \(n,\) or \(n, k\)"),
        ("inf", {}, r"path: .*y has non-finite values \(first at y\[2\]\)"),
        ("nan_csv", {"columns": ["t"]}, r"path: .*x has non-finite values \(first at line 5\)"),
        ("ok", {"n_train": 35, "n_test": 10}, "n_train: n_train \\+ n_test = 45 exceeds the 40"),
        ("csv", {}, "columns: a .csv file needs its target columns"),
        ("csv", {"columns": ["nope"]}, "columns: no column 'nope' in .* \\(columns: a, b, t\\)"),
        ("text", {"columns": ["t"]}, "path: column 'b' of .* is not numeric"),
        ("ok", {"test_path": "gone.npz"}, "test_path: no such file 'gone.npz'"),
    ],
)
def test_from_file_refuses_bad_files_naming_the_key(tmp_path, setup, kwargs, message):
    x, y = _arrays()
    path = tmp_path / "f.npz"
    if setup == "x_only":
        np.savez(path, x=x)
    elif setup == "ragged":
        np.savez(path, x=x, y=y[:-1])
    elif setup == "inf":
        y[2, 1] = np.inf
        np.savez(path, x=x, y=y)
    elif setup == "ok":
        np.savez(path, x=x, y=y)
    elif setup in ("csv", "text", "nan_csv"):
        path = tmp_path / "f.csv"
        frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "t": y[:, 0]})
        if setup == "text":
            frame["b"] = "word"
        if setup == "nan_csv":
            frame.loc[3, "a"] = np.nan  # the 4th data row: line 5 after the header
        frame.to_csv(path, index=False)
    kwargs = {"path": str(path), **kwargs}
    with pytest.raises(ValueError, match=message):
        data.from_file(**kwargs)


@pytest.mark.parametrize("given_test", [False, True])
def test_a_folder_of_npy_files_reads_as_the_npz(tmp_path, given_test):
    x, y = _arrays(n=40)
    xt, yt = _arrays(n=12, seed=1)
    extra = {"x_test": xt, "y_test": yt} if given_test else {}
    np.savez(tmp_path / "mine.npz", x=x, y=y, **extra)
    folder = tmp_path / "mine"
    folder.mkdir()
    for name, a in {"x": x.astype(np.float32), "y": y, **extra}.items():
        np.save(folder / f"{name}.npy", a)
    a = data.from_file(str(tmp_path / "mine.npz"), seed=2)
    b = data.from_file(str(folder), seed=2)
    assert (b.name, b.n_train, b.n_test) == ("mine", a.n_train, a.n_test)
    # x was stored as float32 in the folder: the same rows, rounded once (6e-8 x scale / std)
    np.testing.assert_allclose(b.x_train, a.x_train, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(b.y_test, a.y_test, rtol=1e-12)
    assert b.x_train.dtype == np.float64


def test_a_large_npy_input_is_copied_once(tmp_path):
    """Reading x (n, d) from a folder allocates the training and test rows and little more:
    the file is memory-mapped, standardising and projecting work in place."""
    import tracemalloc

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40_000, 25))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", rng.normal(size=40_000))
    tracemalloc.start()
    try:
        ds = data.from_file(str(tmp_path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ds.n_train + ds.n_test == 40_000
    assert peak < 1.25 * x.nbytes, peak / x.nbytes  # an .npz is read whole, then split: > 2x
    np.testing.assert_allclose(np.linalg.norm(ds.x_train, axis=1), 1.0, rtol=1e-12)


def test_a_folder_without_x_and_y_is_refused_naming_the_key(tmp_path):
    np.save(tmp_path / "inputs.npy", np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"path: the folder .* must hold x.npy and y.npy"):
        data.from_file(str(tmp_path))


# ----------------------------------------------------------------- MNIST-1D


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NNKRR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_mnist1d_training_sets_are_nested_and_the_test_set_fixed(cache):
    raw = {n: data.mnist1d(0, n, 50, pool=600, sphere=False, standardise=False) for n in (60, 300)}
    np.testing.assert_array_equal(raw[60].x_train, raw[300].x_train[:60])
    np.testing.assert_array_equal(raw[60].x_test, raw[300].x_test)
    np.testing.assert_array_equal(raw[60].labels_train, raw[300].labels_train[:60])
    assert raw[60].name == "mnist1d_raw" and raw[60].x_train.shape == (60, 40)
    # one pool of 600: 60 signals of each digit; the test set is its last tenth
    x, labels = data._mnist1d_pool(0, 600)
    assert np.array_equal(np.bincount(labels), [60] * 10)
    np.testing.assert_array_equal(raw[300].x_test, x[540:590])
    assert not np.array_equal(data.mnist1d(1, 60, 50, pool=600).x_train, raw[60].x_train)


def test_mnist1d_is_preprocessed_as_the_shipped_classification_sets(cache):
    ds = data.mnist1d(0, 200, 60, pool=600)
    raw = data.mnist1d(0, 200, 60, pool=600, sphere=False, standardise=False)
    mean, std = raw.x_train.mean(0), raw.x_train.std(0)
    z = (raw.x_test - mean) / std
    np.testing.assert_allclose(ds.x_test, z / np.linalg.norm(z, axis=1, keepdims=True), rtol=1e-12)
    one_hot = np.eye(10)[ds.labels_train]
    np.testing.assert_allclose(ds.y_train, one_hot - one_hot.mean(0), atol=1e-15)
    np.testing.assert_allclose(ds.y_test, np.eye(10)[ds.labels_test] - one_hot.mean(0), atol=1e-15)
    assert ds.name == "mnist1d" and ds.n_outputs == 10


def test_mnist1d_is_generated_once_and_leaves_the_global_rngs_alone(cache, monkeypatch):
    import random

    import mnist1d

    np.random.seed(7)  # noqa: NPY002
    random.seed(7)
    before = np.random.random(), random.random()  # noqa: NPY002
    np.random.seed(7)  # noqa: NPY002
    random.seed(7)
    first = data.mnist1d(3, 40, 20, pool=300)
    assert (np.random.random(), random.random()) == before  # noqa: NPY002
    assert len(list((cache / "mnist1d").glob("*seed3-pool300.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("generated again")

    monkeypatch.setattr(mnist1d.data, "make_dataset", fail)
    np.testing.assert_array_equal(data.mnist1d(3, 40, 20, pool=300).x_train, first.x_train)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"n_train": 300, "pool": 300},
            r"n_train: 300 training points asked, .* pool of 300 has 270",
        ),
        ({"n_test": 31, "pool": 300}, r"n_test: 31 test points asked, .* keeps 30 for testing"),
        ({"pool": 305}, "pool: MNIST-1D draws as many signals of each of 10 digits"),
    ],
)
def test_mnist1d_refuses_sizes_its_pool_cannot_give(cache, kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.mnist1d(0, **{"n_train": 20, "n_test": 10, **kwargs})
    assert not (cache / "mnist1d").exists()  # refused before any work
