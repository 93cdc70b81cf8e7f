"""Test configuration: strict JAX numerics (as in equinox's suite) and an x64 fixture."""

import jax
import pytest
from jax.experimental import enable_x64

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture
def x64():
    """Run the test body with ``jax_enable_x64`` on (float64 by default)."""
    with enable_x64():
        yield
