"""Matrix products at full float32 precision, shared by every module.

On GPUs, JAX's default float32 matmul precision may use TF32 (10-bit mantissa); the
kernels, scores and gradients here are compared to 1e-10 and better, so every product
asks for ``Precision.HIGHEST`` (no effect on CPUs).
"""

import jax
import jax.numpy as jnp

HIGHEST = jax.lax.Precision.HIGHEST


def mm(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a @ b`` at full precision."""
    return jnp.matmul(a, b, precision=HIGHEST)
