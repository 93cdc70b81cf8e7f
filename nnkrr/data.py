"""Datasets as plain arrays, split deterministically from a seed.

Every loader returns a :class:`Dataset` of NumPy float64 arrays (convert with
``jnp.asarray``; the dtype then follows ``jax_enable_x64``).  Nothing is downloaded:
synthetic sets are generated, real sets are the ones scikit-learn ships inside
its wheel (``load_digits``, ``load_diabetes``, ``load_wine``, ``load_breast_cancer``) and
MNIST-1D, made by its package's generator from the templates it ships.

* ``synthetic``: x uniform on the unit sphere S^{d-1}; smooth teacher
  ``y = k^{-1/2} sum_j a_j sin(omega v_j^T x)`` (unit v_j, a_j ~ N(0, 1)) plus
  Gaussian noise.  On such isotropic data the ridge leverage function of the ReLU
  NTK is nearly flat (sup score / s_lam >= 1.38 at n = 128, d = 8, lam = 0.01, logged by
  ``experiments/spectral.py -m``): leverage sampling has little to gain.
* ``cone``: a clustered, anisotropic set on which leverage sampling has something
  to gain.  Points ``x = normalise(c + spread * g)``, g ~ N(0, I), around
  ``clusters`` unit centres c (the first is e_1).  For small spread most Gaussian
  first-layer weights w cut no cluster: their half-space {w^T x >= 0} contains all
  points or none, so the feature 1[w^T x >= 0] x is constant across the data, and
  about a third of them (spread 0.05) have score 0.  The ridge leverage function is far
  from flat (sup score / s_lam >= 9.32 and P(score = 0) = 0.37 at n = 128, d = 8,
  lam = 0.01, from the same command).  The teacher
  oscillates *across* each cluster (``omega = frequency / spread``), which makes
  this a stress case for the network-versus-kernel gap.
* ``anisotropic``: a Gaussian with standard deviations ``j^-decay`` along the axes,
  projected to the sphere: the points crowd around +-e_1, a smooth non-uniform density
  (with the sphere's teacher).
* ``manifold``: points near a curved ``intrinsic``-dimensional manifold (a random Fourier
  embedding of the sphere S^intrinsic into R^dim, ``thickness`` off it), projected to the
  sphere; the teacher is a sum of sines of the latent point.
* ``nested=True`` (any of the four above): the training sets are prefixes of one another
  across n_train and share one teacher and one test set, each drawn from its own stream of the
  seed; by default one stream draws the points, then the teacher, so that the teacher changes
  with n_train + n_test (the sets of the results published before this option; a study across
  n with them varies the target with n: :func:`_generated`).
* ``digits`` (1797 x 64, 10 classes), ``wine`` (178 x 13, 3 classes),
  ``breast_cancer`` (569 x 30, 2 classes): targets are one-hot rows, centred with
  the training mean (one-hot regression); integer labels are kept in ``labels_*``.
* ``diabetes`` (442 x 10): regression target, centred and scaled to unit variance
  with training statistics.
* ``mnist1d`` (Greydanus & Kalai 2024; any n up to its pool, 100,000 by default, x 40, 10
  classes): one cached pool per seed, training sets nested across n, a fixed test set;
  targets as the classification sets above (:func:`mnist1d`).

Real inputs are standardised with the training split's mean and standard deviation
(constant columns are left at 0; ``standardise=False`` keeps them raw, e.g. digits'
non-negative pixels, which all lie in one orthant: a cone-like leverage function) and,
with ``sphere=True`` (default), projected to the unit sphere, the setting of the paper.

* ``from_file``: your own arrays, from a ``.npz`` (``x``, ``y``; optional ``x_test``,
  ``y_test``), a folder of ``.npy`` files with those names (memory-mapped: the training and
  test rows are the only copies made, which suits inputs larger than the memory left once
  they are loaded) or a ``.csv`` file with a header row (``columns`` names the targets); with
  a given test split or a seeded one, and the real sets' ``sphere`` and ``standardise``.
"""

from __future__ import annotations

import dataclasses
import inspect
import zipfile
from collections.abc import Callable

import numpy as np

from nnkrr import _checks

__all__ = [
    "DATASETS",
    "Dataset",
    "anisotropic",
    "cache_dir",
    "cone",
    "manifold",
    "from_file",
    "load",
    "mnist1d",
    "synthetic",
]


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split.  Shapes: x ``(n, d)``, y ``(n, k)``, labels ``(n,)`` or None."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels_train: np.ndarray | None = None
    labels_test: np.ndarray | None = None

    def __post_init__(self):
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
                raise ValueError(f"x_{part}/y_{part} shapes {x.shape}/{y.shape} do not match")
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise ValueError("x_train and x_test have different numbers of features")

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    @property
    def n_test(self) -> int:
        return self.x_test.shape[0]

    @property
    def dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.y_train.shape[1]


# --------------------------------------------------------------------------- checks


def _normalise(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    # row chunks: the same norms as one call, without an (n, d) temporary
    chunk = 4096
    norms = np.concatenate(
        [np.linalg.norm(x[i : i + chunk], axis=1) for i in range(0, x.shape[0], chunk)] or [[]]
    )[:, None]
    norms[norms == 0] = 1.0
    if inplace:
        x /= norms
        return x
    return x / norms


# --------------------------------------------------------------------------- synthetic


def _label(name: str, loader: Callable, **values) -> str:
    """A generated set's name: ``name``, with the geometry options that differ from
    ``loader``'s defaults, sorted, e.g. ``cone(clusters=4,spread=0.1)`` (a switch turned on by
    its bare name: ``synthetic(nested)``); rows, tables and
    figures tell the variants apart by it."""
    defaults = inspect.signature(loader).parameters
    parts = [
        k if v is True else f"{k}={v:g}"
        for k, v in sorted(values.items())
        if v != defaults[k].default
    ]
    return name + (f"({','.join(parts)})" if parts else "")


def _teacher(rng: np.random.Generator, dim: int, terms: int, omega: float):
    """y(u) = terms^{-1/2} sum_j a_j sin(omega v_j^T u), unit v_j, a_j ~ N(0, 1)."""
    v = _normalise(rng.standard_normal((terms, dim)))
    a = rng.standard_normal(terms)
    return lambda u: (np.sin(omega * u @ v.T) @ a / np.sqrt(terms))[:, None]


#: Nested generated sets draw their training and test points in blocks of this many rows, each
#: from its own stream, so that every block, and so every prefix, is the same whatever n is.
NESTED_BLOCK = 1024


def _generated(
    name: str, seed, n_train, n_test, dim, noise, frequency, terms, nested, geometry
) -> Dataset:
    """Checks, seeding, teacher and noise shared by the synthetic sets.

    ``geometry(rng, dim, frequency) -> (draw, omega)`` draws what the points share (cone
    centres, a manifold's embedding; nothing on the sphere) and returns ``draw(rng, n) -> (x,
    u)``, the inputs x and the teacher's inputs u, with the teacher's angular frequency omega.

    ``nested=False``: one stream of ``seed`` draws the shared geometry, the n_train + n_test
    points (training first), then the teacher, then the noise: the teacher, and the test
    points, change with n_train.  ``nested=True``: each of these has its own stream of
    ``seed`` (the training and the test points in blocks of :data:`NESTED_BLOCK` rows), so the
    training sets are prefixes of one another across n_train and share one teacher and one
    test set (whose prefixes are the smaller test sets), as a study across n needs (MNIST-1D's
    sets are nested the same way).
    """
    n_train, n_test = (
        _checks.check_int("n_train", n_train, 1),
        _checks.check_int("n_test", n_test, 1),
    )
    dim, terms = _checks.check_int("dim", dim, 2), _checks.check_int("terms", terms, 1)
    noise, frequency = (
        _checks.check_number("noise", noise),
        _checks.check_number("frequency", frequency),
    )
    seed = _checks.check_int("seed", seed, 0)
    if not nested:
        rng = np.random.default_rng(seed)
        draw, omega = geometry(rng, dim, frequency)
        x, u = draw(rng, n_train + n_test)
        y = _teacher(rng, dim, terms, omega)(u)
        y[:n_train] += noise * rng.standard_normal((n_train, 1))
        return Dataset(name, x[:n_train], y[:n_train], x[n_train:], y[n_train:])

    def stream(*key: int) -> np.random.Generator:
        return np.random.default_rng((seed, *key))

    draw, omega = geometry(stream(0), dim, frequency)
    teacher = _teacher(stream(1), dim, terms, omega)

    def rows(split: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        blocks = [draw(stream(split, b), NESTED_BLOCK) for b in range(-(-n // NESTED_BLOCK))]
        x, u = (np.concatenate(parts)[:n] for parts in zip(*blocks, strict=True))
        return x, teacher(u)

    (x_tr, y_tr), (x_te, y_te) = rows(3, n_train), rows(4, n_test)
    y_tr += noise * stream(2).standard_normal((n_train, 1))
    return Dataset(name, x_tr, y_tr, x_te, y_te)


def synthetic(
    seed: int = 0,
    n_train: int = 128,
    n_test: int = 128,
    dim: int = 8,
    *,
    noise: float = 0.0,
    frequency: float = 2.0,
    terms: int = 4,
    nested: bool = False,
) -> Dataset:
    """Uniform points on S^{dim-1} with a smooth sum-of-sines teacher (module docstring);
    ``nested``: training sets nested across n_train with one teacher and test set (the
    module docstring)."""

    def geometry(rng, dim, frequency):
        def draw(rng, n):
            x = _normalise(rng.standard_normal((n, dim)))
            return x, x

        return draw, frequency

    name = _label("synthetic", synthetic, nested=nested)
    return _generated(name, seed, n_train, n_test, dim, noise, frequency, terms, nested, geometry)


def cone(
    seed: int = 0,
    n_train: int = 128,
    n_test: int = 128,
    dim: int = 8,
    *,
    spread: float = 0.05,
    clusters: int = 1,
    noise: float = 0.0,
    frequency: float = 1.0,
    terms: int = 4,
    nested: bool = False,
) -> Dataset:
    """Points in ``clusters`` narrow cones of angular width ~``spread`` (module docstring)."""
    clusters = _checks.check_int("clusters", clusters, 1)
    spread = _checks.check_number("spread", spread, positive=True)

    def geometry(rng, dim, frequency):
        centres = np.eye(dim)[:1]
        if clusters > 1:
            centres = np.vstack([centres, _normalise(rng.standard_normal((clusters - 1, dim)))])

        def draw(rng, n):
            member = rng.integers(0, clusters, size=n)
            x = _normalise(centres[member] + spread * rng.standard_normal((n, dim)))
            return x, x - centres[member]

        return draw, frequency / spread

    name = _label("cone", cone, spread=spread, clusters=clusters, nested=nested)
    return _generated(name, seed, n_train, n_test, dim, noise, frequency, terms, nested, geometry)


def anisotropic(
    seed: int = 0,
    n_train: int = 128,
    n_test: int = 128,
    dim: int = 8,
    *,
    decay: float = 1.0,
    noise: float = 0.0,
    frequency: float = 2.0,
    terms: int = 4,
    nested: bool = False,
) -> Dataset:
    """An anisotropic Gaussian projected to the sphere (module docstring): ``x =
    normalise(g * sigma)``, g ~ N(0, I), ``sigma_j = j^-decay`` (j = 1..dim)."""
    decay = _checks.check_number("decay", decay)

    def geometry(rng, dim, frequency):
        def draw(rng, n):
            x = _normalise(rng.standard_normal((n, dim)) * np.arange(1, dim + 1) ** -decay)
            return x, x

        return draw, frequency

    name = _label("anisotropic", anisotropic, decay=decay, nested=nested)
    return _generated(name, seed, n_train, n_test, dim, noise, frequency, terms, nested, geometry)


def manifold(
    seed: int = 0,
    n_train: int = 128,
    n_test: int = 128,
    dim: int = 8,
    *,
    intrinsic: int = 1,
    curvature: float = 2.0,
    thickness: float = 0.0,
    noise: float = 0.0,
    frequency: float = 2.0,
    terms: int = 4,
    nested: bool = False,
) -> Dataset:
    """Points near a curved ``intrinsic``-dimensional manifold in R^dim (module docstring):
    latent t uniform on S^intrinsic, embedded by dim random Fourier features
    ``cos(curvature * B t + b)`` (B Gaussian, b uniform), plus ``thickness * g`` off it,
    projected to the sphere; the teacher reads t."""
    intrinsic = _checks.check_int("intrinsic", intrinsic, 1)
    curvature = _checks.check_number("curvature", curvature, positive=True)
    thickness = _checks.check_number("thickness", thickness)
    if intrinsic >= dim:
        raise ValueError(f"intrinsic must be < dim = {dim}, got {intrinsic}")

    def geometry(rng, dim, frequency):
        b_mat = rng.standard_normal((intrinsic + 1, dim))
        phase = rng.uniform(0, 2 * np.pi, dim)

        def draw(rng, n):
            t = _normalise(rng.standard_normal((n, intrinsic + 1)))
            x = np.cos(curvature * t @ b_mat + phase) + thickness * rng.standard_normal((n, dim))
            # the teacher reads the latent point t, padded to dim (its v_j are dim-dimensional)
            u = np.zeros((n, dim))
            u[:, : intrinsic + 1] = t
            return _normalise(x), u

        return draw, frequency

    name = _label(
        "manifold",
        manifold,
        intrinsic=intrinsic,
        curvature=curvature,
        thickness=thickness,
        nested=nested,
    )
    return _generated(name, seed, n_train, n_test, dim, noise, frequency, terms, nested, geometry)


def _split(seed: int, total: int, n_train, n_test, where) -> tuple[np.ndarray, np.ndarray]:
    """Training and test row indices of a seeded split of ``total`` rows: ``n_test`` (None: a
    quarter, or the rest after ``n_train``) and ``n_train`` (None: the rest)."""
    if n_test is None and n_train is not None:
        n_train = _checks.check_int("n_train", n_train, 1)
        if n_train >= total:
            raise ValueError(
                f"n_train: {n_train} training points leave no test points of the {total} "
                f"rows of {where}"
            )
    if n_test is None:
        n_test = max(total // 4, 1) if n_train is None else total - n_train
    n_test = _checks.check_int("n_test", n_test, 1)
    n_train = _checks.check_int("n_train", total - n_test if n_train is None else n_train, 1)
    if n_train + n_test > total:
        raise ValueError(
            f"n_train: n_train + n_test = {n_train + n_test} exceeds the {total} rows of {where}"
        )
    order = np.random.default_rng(seed).permutation(total)
    return order[:n_train], order[n_train : n_train + n_test]


# --------------------------------------------------------------------------- scikit-learn


def _sklearn(loader_name: str) -> tuple[np.ndarray, np.ndarray]:
    import sklearn.datasets  # imported lazily: only these loaders need it

    bunch = getattr(sklearn.datasets, loader_name)()
    return np.asarray(bunch.data, np.float64), np.asarray(bunch.target)


def _real(
    name: str,
    loader_name: str,
    classification: bool,
    seed: int,
    n_train: int | None,
    n_test: int | None,
    sphere: bool,
    standardise: bool = True,
) -> Dataset:
    x, target = _sklearn(loader_name)
    tr, te = _split(_checks.check_int("seed", seed, 0), x.shape[0], n_train, n_test, name)
    if standardise:
        mean, std = x[tr].mean(0), x[tr].std(0)
        std = np.where(std > 0, std, 1.0)
        x = (x - mean) / std
    else:  # raw features (for digits: non-negative pixels, all in one orthant)
        name = f"{name}_raw"
    if sphere:
        x = _normalise(x)
    labels = None
    if classification:
        labels = target.astype(np.int64)
        y = np.eye(int(labels.max()) + 1)[labels]
        y = y - y[tr].mean(0)
    else:
        y = target.astype(np.float64)[:, None]
        y = (y - y[tr].mean(0)) / y[tr].std(0)
    return Dataset(
        name,
        x[tr],
        y[tr],
        x[te],
        y[te],
        None if labels is None else labels[tr],
        None if labels is None else labels[te],
    )


# --------------------------------------------------------------------------- files


def _read(key: str, path: str, columns: list[str] | None, tag: str):
    """``(x, y)`` of one ``.npz`` or ``.csv`` file; ``tag`` ("" or "_test") picks the npz
    arrays.  Errors name the config key (``path``, ``test_path``, ``columns``)."""
    import os

    if isinstance(path, str | os.PathLike) and os.path.isdir(path):
        names = sorted(f[:-4] for f in os.listdir(path) if f.endswith(".npy"))
        if "x" not in names or "y" not in names:
            raise ValueError(f"{key}: the folder {path} must hold x.npy and y.npy, has {names}")

        def load(name):  # memory-mapped: nothing read until rows are taken
            return np.load(os.path.join(path, f"{name}.npy"), mmap_mode="r", allow_pickle=False)

        if tag and "x_test" in names and "y_test" in names:
            return (load("x"), load("y")), (load("x_test"), load("y_test"))
        return (load("x"), load("y")), None
    if not isinstance(path, str | os.PathLike) or not os.path.isfile(path):
        raise ValueError(f"{key}: no such file {str(path)!r}")
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix == ".npz":
        if not zipfile.is_zipfile(path):  # numpy would say "pickled data", which misleads
            raise ValueError(
                f"{key}: {path} is not a readable .npz file (not a zip archive, as "
                "numpy.savez writes)"
            )
        try:
            opened = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:  # a damaged archive (numpy's words after ours)
            raise ValueError(f"{key}: {path} is not a readable .npz file ({err})") from None
        with opened as arrays:
            names = sorted(arrays.files)
            if "x" not in names or "y" not in names:
                raise ValueError(f"{key}: {path} must hold arrays x and y, has {names}")
            x, y = arrays["x"], arrays["y"]
            if tag and "x_test" in names and "y_test" in names:
                return (x, y), (arrays["x_test"], arrays["y_test"])
            return (x, y), None
    if suffix == ".csv":
        import pandas as pd

        if not columns:
            raise ValueError("columns: a .csv file needs its target columns (data.columns=[y])")
        frame = pd.read_csv(path)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"columns: no column {missing[0]!r} in {path} (columns: "
                f"{', '.join(map(str, frame.columns))})"
            )
        inputs = frame.drop(columns=list(columns))
        bad = [c for c in inputs.columns if not pd.api.types.is_numeric_dtype(inputs[c])]
        if bad:
            raise ValueError(f"{key}: column {bad[0]!r} of {path} is not numeric")
        return (inputs.to_numpy(np.float64), frame[list(columns)].to_numpy(np.float64)), None
    raise ValueError(f"{key}: {path} is neither a .npz, a .csv file nor a folder of .npy files")


def _arrays(key: str, path, x, y) -> tuple[np.ndarray, np.ndarray]:
    """``x`` as ``(n, d)`` and ``y`` as ``(n, k)``, numeric and finite; errors name ``key``.
    Memory-mapped arrays stay mapped (rows are copied, as float64, when a split takes them)."""
    x, y = (a if isinstance(a, np.memmap) else np.asarray(a) for a in (x, y))
    for a in (x, y):
        if not any(np.issubdtype(a.dtype, t) for t in (np.floating, np.integer, np.bool_)):
            raise ValueError(f"{key}: {path}: arrays are not numeric (dtype {a.dtype})")
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"{key}: {path}: x must be (n, d) and y (n,) or (n, k) with n >= 1, got x "
            f"{x.shape} and y {y.shape}"
        )
    for name, a in (("x", x), ("y", y)):
        bad = _first_non_finite(a)
        if bad is not None:
            row = bad
            # where a reader finds it: a .csv file's line (after its header), an array's index
            where = f"line {row + 2}" if str(path).lower().endswith(".csv") else f"{name}[{row}]"
            raise ValueError(f"{key}: {path}: {name} has non-finite values (first at {where})")
    return x, y


def _standardise(train: np.ndarray, test: np.ndarray) -> None:
    """Both, in place, to the training columns' mean 0 and std 1 (constant columns: std 1),
    without an (n, d) temporary."""
    mean = train.mean(0)
    train -= mean
    test -= mean
    std = np.sqrt(np.einsum("ij,ij->j", train, train) / train.shape[0])
    std[std == 0] = 1.0
    train /= std
    test /= std


def _first_non_finite(a: np.ndarray, rows: int = 65_536) -> int | None:
    """The first row of ``a`` holding a NaN or inf (read in chunks of ``rows``), or None."""
    if not np.issubdtype(a.dtype, np.inexact):
        return None
    for start in range(0, a.shape[0], rows):
        ok = np.isfinite(a[start : start + rows]).reshape(min(rows, a.shape[0] - start), -1)
        if not ok.all():
            return start + int(np.argwhere(~ok.all(axis=1))[0, 0])
    return None


def _rows(a: np.ndarray, index) -> np.ndarray:
    """``a[index]`` as a new float64 array (the one copy of a memory-mapped file's rows)."""
    rows = np.asarray(a[index], dtype=np.float64)
    return rows.copy() if np.may_share_memory(rows, a) else rows


def from_file(
    path: str,
    seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    *,
    columns: list[str] | None = None,
    test_path: str | None = None,
    sphere: bool = True,
    standardise: bool = True,
) -> Dataset:
    """Your own data from a ``.npz`` or ``.csv`` file (module docstring).

    Args:
      path: ``.npz`` with ``x`` ``(n, d)`` and ``y`` ``(n,)`` or ``(n, k)`` (and optionally
        ``x_test``, ``y_test``: a given test split), a folder of ``.npy`` files with those
        names (read memory-mapped), or ``.csv`` with a header row.
      seed: the split's seed (when no test split is given).
      n_train, n_test: sizes; ``None``: with a given test split, all of each; otherwise a
        quarter of the rows for testing and the rest for training.
      columns: the target columns of a ``.csv`` file (the other columns are the inputs).
      test_path: a file of the same format holding the test split.
      sphere: project the inputs to the unit sphere (after standardising).
      standardise: inputs to the training split's mean 0 and std 1 (constant columns to 0),
        targets centred and scaled to unit variance with training statistics.

    Raises:
      ValueError: naming the argument (``path: no such file 'x.npz'``), for a missing file,
        wrong shapes, non-finite values, a missing column or too few rows for the split.
    """
    seed = _checks.check_int("seed", seed, 0)
    columns = None if columns is None else [str(c) for c in columns]
    (x, y), given = _read("path", path, columns, "" if test_path else "_test")
    x, y = _arrays("path", path, x, y)
    if test_path is not None:
        (xt, yt), _ = _read("test_path", test_path, columns, "")
        xt, yt = _arrays("test_path", test_path, xt, yt)
    elif given is not None:
        xt, yt = _arrays("path", f"{path} (x_test, y_test)", *given)
    else:
        xt = yt = None
    if xt is not None:
        if xt.shape[1] != x.shape[1] or yt.shape[1] != y.shape[1]:
            raise ValueError(
                f"{'test_path' if test_path else 'path'}: the test split has {xt.shape[1]} "
                f"inputs and {yt.shape[1]} targets, the training data {x.shape[1]} and "
                f"{y.shape[1]}"
            )
        n_train = x.shape[0] if n_train is None else _checks.check_int("n_train", n_train, 1)
        n_test = xt.shape[0] if n_test is None else _checks.check_int("n_test", n_test, 1)
        if n_train > x.shape[0] or n_test > xt.shape[0]:
            raise ValueError(
                f"n_train: {n_train} training and {n_test} test points asked, the files have "
                f"{x.shape[0]} and {xt.shape[0]} rows"
            )
        order = np.random.default_rng(seed).permutation(x.shape[0])[:n_train]
        x_tr, y_tr = _rows(x, order), _rows(y, order)
        x_te, y_te = _rows(xt, slice(0, n_test)), _rows(yt, slice(0, n_test))
    else:
        tr, te = _split(seed, x.shape[0], n_train, n_test, path)
        x_tr, y_tr, x_te, y_te = _rows(x, tr), _rows(y, tr), _rows(x, te), _rows(y, te)
    # in place from here: the rows above are this function's own copies
    if standardise:
        _standardise(x_tr, x_te)
        _standardise(y_tr, y_te)
    if sphere:
        x_tr, x_te = _normalise(x_tr, inplace=True), _normalise(x_te, inplace=True)
    import os

    name = os.path.splitext(os.path.basename(str(path)))[0]
    return Dataset(name, x_tr, y_tr, x_te, y_te)


def _real_loader(name: str, loader_name: str, classification: bool):
    def load_real(
        seed: int = 0,
        n_train: int | None = None,
        n_test: int | None = None,
        *,
        sphere: bool = True,
        standardise: bool = True,
    ) -> Dataset:
        return _real(name, loader_name, classification, seed, n_train, n_test, sphere, standardise)

    load_real.__name__ = name
    load_real.__doc__ = (
        f"scikit-learn's shipped ``{loader_name}`` (module docstring); "
        "default split: a quarter of the samples for testing; ``standardise=False`` keeps "
        "the raw features (the dataset is then named ``<name>_raw``)."
    )
    return load_real


digits = _real_loader("digits", "load_digits", True)
diabetes = _real_loader("diabetes", "load_diabetes", False)
wine = _real_loader("wine", "load_wine", True)
breast_cancer = _real_loader("breast_cancer", "load_breast_cancer", True)

# --------------------------------------------------------------------------- MNIST-1D

#: MNIST-1D's pool: one draw of this many signals per seed, generated once and cached
#: (:func:`cache_dir`); its last tenth is the test set, training sets are prefixes of the rest.
MNIST1D_POOL = 100_000


def cache_dir() -> str:
    """Where generated data sets are cached: ``$NNKRR_CACHE``, else ``$XDG_CACHE_HOME/nnkrr``,
    else ``~/.cache/nnkrr``."""
    import os

    if os.environ.get("NNKRR_CACHE"):
        return os.environ["NNKRR_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nnkrr")


def _mnist1d_pool(seed: int, pool: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x (pool, 40), labels (pool,))``: ``mnist1d.make_dataset`` with ``seed`` and
    ``num_samples = pool`` (no split), from the cache when there, else generated and written
    (atomically: jobs of a sweep may race; each writes the same file)."""
    import os
    import random
    import tempfile
    from importlib.metadata import version

    import mnist1d

    folder = os.path.join(cache_dir(), "mnist1d")
    path = os.path.join(folder, f"mnist1d-{version('mnist1d')}-seed{seed}-pool{pool}.npz")
    if os.path.isfile(path):
        with np.load(path) as f:
            return f["x"], f["labels"]
    args = mnist1d.get_dataset_args()
    args.num_samples, args.train_split, args.seed = pool, 1.0, seed
    states = random.getstate(), np.random.get_state()  # noqa: NPY002 (make_dataset seeds them)
    try:
        made = mnist1d.data.make_dataset(args)
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])  # noqa: NPY002
    x, labels = np.asarray(made["x"], np.float64), np.asarray(made["y"], np.int64)
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, x=x, labels=labels)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp.name, 0o666 & ~umask)  # as open() would have made it, not 0600
    os.replace(tmp.name, path)
    return x, labels


def mnist1d(
    seed: int = 0,
    n_train: int | None = 1024,
    n_test: int | None = 1024,
    *,
    sphere: bool = True,
    standardise: bool = True,
    pool: int = MNIST1D_POOL,
) -> Dataset:
    """MNIST-1D (Greydanus & Kalai, "Scaling down deep learning with MNIST-1D", ICML 2024):
    10 classes of 40-sample 1-D signals, each a digit's template padded, shifted, sheared,
    scaled and noised, made by the ``mnist1d`` package's generator from its built-in
    templates (nothing downloaded).

    One pool of ``pool`` signals is drawn per ``seed`` and cached (:func:`cache_dir`; the
    first call took 1.5 min here at the default pool, later calls a fraction of a second).
    Its last tenth is the test set (the first ``n_test`` of it, whatever ``n_train``); the
    training set is the first ``n_train`` of the rest, so training sets are nested across n.
    Inputs are standardised with the training set's statistics and projected to the sphere
    (as the shipped real sets; ``standardise=False`` keeps the generator's scale and names the
    set ``mnist1d_raw``); targets are one-hot rows centred with the training mean, labels
    kept in ``labels_*``.

    Raises:
      ValueError: naming ``n_train``/``n_test``/``pool`` when the pool is too small.
    """
    seed = _checks.check_int("seed", seed, 0)
    pool = _checks.check_int("pool", pool, 20)
    if pool % 10:
        raise ValueError(f"pool: MNIST-1D draws as many signals of each of 10 digits, got {pool}")
    test_rows = pool // 10
    n_train = pool - test_rows if n_train is None else _checks.check_int("n_train", n_train, 1)
    n_test = test_rows if n_test is None else _checks.check_int("n_test", n_test, 1)
    if n_train > pool - test_rows:
        raise ValueError(
            f"n_train: {n_train} training points asked, MNIST-1D's pool of {pool} has "
            f"{pool - test_rows} (raise data.pool)"
        )
    if n_test > test_rows:
        raise ValueError(
            f"n_test: {n_test} test points asked, MNIST-1D's pool of {pool} keeps {test_rows} "
            "for testing (raise data.pool)"
        )
    x, labels = _mnist1d_pool(seed, pool)
    x_tr, x_te = x[:n_train].copy(), x[pool - test_rows :][:n_test].copy()
    l_tr, l_te = labels[:n_train], labels[pool - test_rows :][:n_test]
    name = "mnist1d"
    if standardise:
        _standardise(x_tr, x_te)
    else:
        name = "mnist1d_raw"
    if sphere:
        x_tr, x_te = _normalise(x_tr, inplace=True), _normalise(x_te, inplace=True)
    eye = np.eye(10)
    centre = eye[l_tr].mean(0)
    return Dataset(name, x_tr, eye[l_tr] - centre, x_te, eye[l_te] - centre, l_tr, l_te)


#: Loaders by name; each takes ``seed`` first and returns a :class:`Dataset`.
DATASETS: dict[str, Callable[..., Dataset]] = {
    "synthetic": synthetic,
    "cone": cone,
    "anisotropic": anisotropic,
    "manifold": manifold,
    "digits": digits,
    "diabetes": diabetes,
    "wine": wine,
    "breast_cancer": breast_cancer,
    "mnist1d": mnist1d,
}


def load(name: str, seed: int = 0, **kwargs) -> Dataset:
    """Load dataset ``name`` (a key of :data:`DATASETS`) with loader keyword arguments."""
    if name not in DATASETS:
        raise ValueError(f"name must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name](seed, **kwargs)
