"""The one place nnkrr imports ``neural_tangents``.

Why a shim: neural-tangents 0.6.5 (its last release) runs
``from . import experimental`` at import time, and ``neural_tangents.experimental``
imports TensorFlow and tf2jax for its jax2tf helpers.  nnkrr never uses those
helpers, and ``pyproject.toml`` drops TensorFlow and tf2jax from the environment
(uv ``override-dependencies``; about 1.9 GB saved).  Registering an empty module
under that name before the import lets the rest of the package (``stax``,
``predict``, ``batch``, ...) load normally.  neural-tangents 0.6.5 also fails on
jax >= 0.6 (it uses ``jax.core.Jaxpr``), which is why ``pyproject.toml`` pins jax.

Every other module does ``from nnkrr._nt import nt, stax``; nothing imports
``neural_tangents`` directly.
"""

from __future__ import annotations

import sys
import types
import warnings

_EXPERIMENTAL = "neural_tangents.experimental"

if _EXPERIMENTAL not in sys.modules:
    _stub = types.ModuleType(
        _EXPERIMENTAL,
        "Empty stand-in registered by nnkrr._nt: the real module needs TensorFlow.",
    )
    sys.modules[_EXPERIMENTAL] = _stub

# neural-tangents 0.6.5 touches names that jax 0.5 deprecates (``jax.core.Jaxpr``
# and others, removed in jax 0.6): silence those warnings for this import only.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import neural_tangents as nt
    from neural_tangents import stax

__all__ = ["nt", "stax"]
