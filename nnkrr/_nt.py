"""The one place nnkrr imports ``neural_tangents``, with a compatibility layer for current jax.

neural-tangents 0.6.5 is its last release.  Two things stop it importing as published:

1. ``import neural_tangents`` runs ``from . import experimental``, which imports TensorFlow
   and tf2jax for jax2tf helpers nnkrr never uses.  ``pyproject.toml`` drops both packages
   (uv ``override-dependencies``, ~1.9 GB saved) and an empty module is registered under
   ``neural_tangents.experimental`` before the import.
2. It imports names that newer jax removed.  Each is put back, *only when missing*, from its
   public new home (or as a trivial helper), before the import.  On jax 0.5.x nothing is
   touched.  The table (name -> the jax release that removed it -> what stands in):

   ======================================  ========  ==========================================
   ``jax.core.Jaxpr``                      0.6.0     ``jax.extend.core.Jaxpr``
   ``jax.core.JaxprEqn``                   0.6.0     ``jax.extend.core.JaxprEqn``
   ``jax.core.Literal``                    0.6.0     ``jax.extend.core.Literal``
   ``jax.core.Var``                        0.6.0     ``jax.extend.core.Var``
   ``jax.core.Primitive``                  0.6.0     ``jax.extend.core.Primitive``
   ``jax.util.safe_map``                   0.7.0     :func:`safe_map` below
   ``jax.util.safe_zip``                   0.7.0     :func:`safe_zip` below
   ``jax.util`` (the module itself)        0.8.0     an empty module holding the two helpers
   ``jax.interpreters.ad.zeros_like_p``    0.9.0     an inert ``Primitive("zeros_like")``
   ======================================  ========  ==========================================

   ``zeros_like_p`` is only a key in neural-tangents' structured-derivative rule tables;
   jax >= 0.9 never emits that primitive, so an unused stand-in keeps the tables valid.
   Names used only inside ``empirical_ntk_fn(implementation=3)`` (``ad.backward_pass``,
   ``ad.source_info_util``, ...) are not restored: implementations 0 (AUTO) and 3 fail on
   every jax, 0.5.3 included.  nnkrr uses ``stax``, ``nt.batch`` and, in tests,
   ``empirical_ntk_fn`` implementations 1 and 2.

:data:`RESTORED` lists what this process actually patched (empty on jax 0.5.x).  Every other
module does ``from nnkrr._nt import nt, stax``; nothing else imports ``neural_tangents``.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings

__all__ = ["REMOVED_IN", "RESTORED", "nt", "safe_map", "safe_zip", "stax"]

#: Each name neural-tangents 0.6.5 needs that newer jax removed, and the jax release that did.
REMOVED_IN: dict[str, str] = {
    "jax.core.Jaxpr": "0.6.0",
    "jax.core.JaxprEqn": "0.6.0",
    "jax.core.Literal": "0.6.0",
    "jax.core.Var": "0.6.0",
    "jax.core.Primitive": "0.6.0",
    "jax.util.safe_map": "0.7.0",
    "jax.util.safe_zip": "0.7.0",
    "jax.util": "0.8.0",
    "jax.interpreters.ad.zeros_like_p": "0.9.0",
}

#: The names this process restored (a subset of :data:`REMOVED_IN`'s keys).
RESTORED: list[str] = []


def safe_map(f, *args) -> list:
    """``map`` that insists all arguments have the same length and returns a list.

    The helper jax shipped as ``jax.util.safe_map`` until 0.7.
    """
    args = [list(a) for a in args]
    return [f(*xs) for xs in safe_zip(*args)]


def safe_zip(*args) -> list:
    """``zip`` that insists all arguments have the same length and returns a list.

    The helper jax shipped as ``jax.util.safe_zip`` until 0.7.
    """
    args = [list(a) for a in args]
    if len({len(a) for a in args}) > 1:
        raise ValueError(f"length mismatch: {[len(a) for a in args]}")
    return list(zip(*args, strict=True))


def _has(module: types.ModuleType, name: str) -> bool:
    # jax 0.5 still resolves the deprecated names, with a DeprecationWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return hasattr(module, name)


def _restore_jax_names() -> None:
    import jax.core
    from jax.interpreters import ad

    missing_core = [
        n for n in ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive") if not _has(jax.core, n)
    ]
    if missing_core:
        import jax.extend.core as jex_core

        for name in missing_core:
            setattr(jax.core, name, getattr(jex_core, name))
            RESTORED.append(f"jax.core.{name}")

    try:
        util = importlib.import_module("jax.util")
    except ModuleNotFoundError:
        util = types.ModuleType("jax.util", "Stand-in registered by nnkrr._nt (gone in jax 0.8).")
        sys.modules["jax.util"] = util
        jax.util = util
        RESTORED.append("jax.util")
    for name, helper in (("safe_map", safe_map), ("safe_zip", safe_zip)):
        if not _has(util, name):
            setattr(util, name, helper)
            RESTORED.append(f"jax.util.{name}")

    if not _has(ad, "zeros_like_p"):
        import jax.extend.core as jex_core

        ad.zeros_like_p = jex_core.Primitive("zeros_like")
        RESTORED.append("jax.interpreters.ad.zeros_like_p")


_EXPERIMENTAL = "neural_tangents.experimental"
if _EXPERIMENTAL not in sys.modules:
    sys.modules[_EXPERIMENTAL] = types.ModuleType(
        _EXPERIMENTAL, "Empty stand-in registered by nnkrr._nt: the real module needs TensorFlow."
    )

_restore_jax_names()

# neural-tangents 0.6.5 touches names that jax 0.5 deprecates (``jax.core.Jaxpr`` and others):
# silence those warnings for this import only.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import neural_tangents as nt
    from neural_tangents import stax
