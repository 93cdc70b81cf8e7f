"""The neural-tangents compatibility layer (nnkrr/_nt.py) on whatever jax is installed.

CI runs this file on the locked (current) stack and on the oldest supported one (jax 0.5.3).
"""

import importlib
import json
import pathlib
import warnings

import jax
import numpy as np
import pytest

from nnkrr import _nt, kernels

GOLDEN = pathlib.Path(__file__).parent / "golden" / "mlp_ntk.json"


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".")[:3] if p.isdigit())


def _resolve(dotted: str):
    """Resolve 'pkg.mod.Name' as the import system and attribute access would."""
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError:
        module, _, name = dotted.rpartition(".")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("name", sorted(_nt.REMOVED_IN))
def test_every_name_neural_tangents_needs_resolves(name):
    assert _resolve(name) is not None


def test_exactly_the_names_this_jax_removed_were_restored():
    """Nothing is touched on jax 0.5; each name is restored from the release that removed it."""
    installed = _version(jax.__version__)
    expected = {n for n, v in _nt.REMOVED_IN.items() if installed >= _version(v)}
    assert set(_nt.RESTORED) == expected
    assert len(_nt.RESTORED) == len(set(_nt.RESTORED))


def test_restored_core_names_are_the_public_extend_ones():
    if "jax.core.Jaxpr" not in _nt.RESTORED:
        pytest.skip(f"jax {jax.__version__} still has jax.core.Jaxpr")
    core, extend_core = _resolve("jax.core"), _resolve("jax.extend.core")
    for name in ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive"):
        assert getattr(core, name) is getattr(extend_core, name)


def test_safe_map_and_safe_zip():
    assert _nt.safe_map(lambda a, b: a * b, [1, 2, 3], (4, 5, 6)) == [4, 10, 18]
    assert _nt.safe_zip("ab", [1, 2]) == [("a", 1), ("b", 2)]
    with pytest.raises(ValueError, match="length mismatch"):
        _nt.safe_map(lambda a, b: a, [1, 2], [1])
    with pytest.raises(ValueError, match="length mismatch"):
        _nt.safe_zip([1, 2, 3], [1, 2])


def mlp_ntk_numpy(x, z, depth, w_std, b_std, train_last):
    """Independent float64 recursion for the NTK-parameterised ReLU MLP of ``kernels.mlp_stax``.

    Dense layers give Sigma <- W^2 E[..] + b^2 (the input layer's mean is x.z / d) and
    Theta <- W^2 Theta + Sigma; ReLU gives the arc-cosine maps
    Sigma <- sqrt(q_x q_z) (sin t + (pi - t) cos t) / (2 pi), Theta <- Theta (pi - t) / (2 pi).
    """
    b2 = 0.0 if b_std is None else b_std**2
    w2 = w_std**2
    d = x.shape[1]
    sig = w2 * (x @ z.T) / d + b2
    qx = w2 * np.sum(x * x, 1) / d + b2
    qz = w2 * np.sum(z * z, 1) / d + b2
    theta = sig.copy()
    for _ in range(depth):
        norm = np.sqrt(np.outer(qx, qz))
        t = np.arccos(np.clip(sig / norm, -1.0, 1.0))
        sig_relu = norm * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi)
        theta_relu = theta * (np.pi - t) / (2 * np.pi)
        qx, qz = qx / 2, qz / 2  # E[relu(u)^2] = q / 2
        sig = w2 * sig_relu + b2
        theta = w2 * theta_relu + sig
        qx, qz = w2 * qx + b2, w2 * qz + b2
    return theta if train_last else theta - sig


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("train_last", [True, False])
@pytest.mark.parametrize("w_std,b_std", [(1.0, None), (2.0**0.5, 0.2)])
def test_stax_mlp_equals_numpy_recursion(x64, depth, train_last, w_std, b_std):
    rng = np.random.default_rng(depth)
    x, z = rng.standard_normal((9, 4)), rng.standard_normal((6, 4))
    got = np.asarray(
        kernels.mlp_ntk(x, z, depth=depth, train_last=train_last, W_std=w_std, b_std=b_std)
    )
    want = mlp_ntk_numpy(x, z, depth, w_std, b_std, train_last)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12 * np.abs(want).max())


def test_two_layer_stax_equals_closed_form_and_recursion(x64):
    """The paper's kernel three ways: stax, the closed form, the recursion (depth 1, frozen, x d)."""
    rng = np.random.default_rng(5)
    x, z = rng.standard_normal((11, 6)), rng.standard_normal((8, 6))
    stax_k = np.asarray(kernels.relu_ntk(x, z))
    closed = np.asarray(kernels.relu_ntk_closed_form(x, z))
    recursion = 6 * mlp_ntk_numpy(x, z, 1, 1.0, None, train_last=False)
    np.testing.assert_allclose(stax_k, closed, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(closed, recursion, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("case", range(4))
def test_golden_deep_mlp_ntk_from_jax_0_5_3(x64, case):
    """Values written by scripts/record_golden_mlp_ntk.py under jax 0.5.3 reproduce here."""
    golden = json.loads(GOLDEN.read_text())
    assert golden["jax"] == "0.5.3"
    spec = golden["cases"][case]
    kwargs = {k: spec[k] for k in ("depth", "train_last", "W_std", "b_std")}
    got = np.asarray(kernels.mlp_ntk(np.array(golden["x1"]), np.array(golden["x2"]), **kwargs))
    want = np.array(spec["kernel"])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14 * np.abs(want).max())


# neural-tangents passes ShapeDtypeStructs to jnp.size, which jax >= 0.8 deprecates.
@pytest.mark.filterwarnings("ignore:size requires ndarray:DeprecationWarning")
def test_empirical_ntk_on_restored_names(x64):
    """neural-tangents' own finite-width NTK (implementations 1 and 2 use the restored jaxpr names)."""
    nt, stax = _nt.nt, _nt.stax
    init_fn, apply_fn, _ = stax.serial(stax.Dense(64), stax.Relu(), stax.Dense(1))
    x = np.random.default_rng(0).standard_normal((5, 3))
    _, params = init_fn(jax.random.PRNGKey(0), x.shape)
    k1 = nt.empirical_ntk_fn(apply_fn, implementation=1, trace_axes=())(x, None, params)
    k2 = nt.empirical_ntk_fn(apply_fn, implementation=2, trace_axes=())(x, None, params)
    jac = jax.jacobian(lambda p: apply_fn(p, x)[:, 0])(params)
    leaves = [j.reshape(5, -1) for j in jax.tree_util.tree_leaves(jac)]
    ref = sum(j @ j.T for j in leaves)
    np.testing.assert_allclose(np.squeeze(k1), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.squeeze(k2), ref, rtol=1e-12, atol=1e-12)
