"""Boundary checks shared by the public functions: shapes, dtypes, finiteness.

Checks on values (NaN/inf) run only on concrete arrays, so every checked
function stays usable under ``jax.jit`` (where the shape checks still apply).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def default_float() -> jnp.dtype:
    """float64 when ``jax_enable_x64`` is on, float32 otherwise."""
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64))


try:  # public name in jax 0.5; kept working on newer jax (e.g. on accelerator images)
    from jax.core import Tracer as _Tracer
except ImportError:  # pragma: no cover
    from jax._src.core import Tracer as _Tracer


def is_concrete(x) -> bool:
    """False for a tracer inside ``jit``/``vmap``/``grad``, where values are unknown."""
    return not isinstance(x, _Tracer)


def as_matrix(name: str, x, *, dtype=None, ndim: int = 2) -> jax.Array:
    """Return ``x`` as a float array of rank ``ndim``; ValueError naming ``name`` otherwise."""
    if x is None:
        raise ValueError(f"{name} must be an array, got None")
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    if x.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {tuple(x.shape)}")
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
    x = jnp.asarray(x, dtype=dtype or default_float())
    check_finite(name, x)
    return x


def check_finite(name: str, x) -> None:
    if not is_concrete(x):
        return
    finite = jnp.all(jnp.isfinite(x))  # a tracer when x is a constant inside a trace: unchecked
    if is_concrete(finite) and not bool(finite):
        raise ValueError(f"{name} contains NaN or inf")


def check_same_features(name1: str, x1, name2: str, x2) -> None:
    if x1.shape[-1] != x2.shape[-1]:
        raise ValueError(
            f"{name2} has {x2.shape[-1]} features (columns) but {name1} has {x1.shape[-1]}"
        )


def check_positive(name: str, value) -> None:
    if is_concrete(value) and not float(value) > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools and floats rejected)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive_int(name: str, value) -> int:
    return check_int(name, value, 1)


def check_number(name: str, value, *, positive: bool = False) -> float:
    """``value`` as a finite float >= 0 (> 0 with ``positive``); ValueError naming ``name``."""
    try:
        number = float(value) if not isinstance(value, bool) and value is not None else None
    except (TypeError, ValueError):
        number = None
    if number is None or not np.isfinite(number) or number < 0 or (positive and number == 0):
        raise ValueError(
            f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}"
        )
    return number


def float_dtype_of(x):
    """The (x64-canonical) dtype of a floating array, or None (then the default float applies)."""
    if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating):
        return jax.dtypes.canonicalize_dtype(x.dtype)
    return None


def resolve_seed_axis(seed_axis: str | None, per_backend: dict[str, str]) -> str:
    """``seed_axis`` if given, else ``per_backend`` for this backend (``"vmap"`` if unlisted):
    how a batch of seeds runs, ``"vmap"`` (one batched program) or ``"loop"`` (one each)."""
    import jax

    if seed_axis is None:
        return per_backend.get(jax.default_backend(), "vmap")
    if seed_axis not in ("vmap", "loop"):
        raise ValueError(f"seed_axis must be 'vmap', 'loop' or None, got {seed_axis!r}")
    return seed_axis
