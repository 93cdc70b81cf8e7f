"""The range rules of nnkrr's parameters, each written once.

A :class:`Rule` is a predicate with the words that describe the values it allows.  The config
schemas (:mod:`nnkrr.config.schemas`) attach one to a key, and the config check names the key
as typed (``regime.centre must be one of zero, init, got 'mid'``); the library's functions
check their arguments with the same object at their boundary (:meth:`Rule.require`:
``ValueError: centre must be one of zero, init, got 'mid'``).  A rule changed here changes both.

>>> CENTRE("mid")
'one of zero, init'
>>> CENTRE("init") is None
True
>>> STEP_FACTOR.require("step_factor", 2.0)
Traceback (most recent call last):
...
ValueError: step_factor must be in (0, 2), got 2.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = [
    "CENTRE",
    "NON_NEGATIVE",
    "OPTIMIZER",
    "POSITIVE",
    "STEP_FACTOR",
    "Rule",
    "at_least",
    "each_at_least",
    "each_one_of",
    "one_of",
]


@dataclasses.dataclass(frozen=True)
class Rule:
    """A range rule: ``test(value)`` is true for allowed values, ``what`` says which they are
    (``"> 0"``, ``"one of zero, init"``); ``options`` lists them for a rule of names."""

    what: str
    test: Callable[[Any], bool]
    options: tuple[str, ...] | None = None

    def __call__(self, value) -> str | None:
        """``None`` when ``value`` is allowed, otherwise :attr:`what`."""
        return None if self.test(value) else self.what

    def require(self, name: str, value):
        """``value`` if allowed; else ``ValueError: <name> must be <what>, got <value>``."""
        if not self.test(value):
            raise ValueError(f"{name} must be {self.what}, got {value!r}")
        return value


def at_least(low: int) -> Rule:
    return Rule(f">= {low}", lambda v: v >= low)


def one_of(*options: str) -> Rule:
    return Rule("one of " + ", ".join(options), lambda v: v in options, options)


def each_one_of(*options: str) -> Rule:
    what = "a non-empty list of " + ", ".join(options)
    return Rule(what, lambda vs: bool(vs) and all(v in options for v in vs))


def each_at_least(low: int) -> Rule:
    what = f"a non-empty list of integers >= {low}"
    return Rule(what, lambda vs: bool(vs) and all(v >= low for v in vs))


def _optax_optimizer(name) -> bool:
    import optax

    return (
        isinstance(name, str) and not name.startswith("_") and callable(getattr(optax, name, None))
    )


POSITIVE = Rule("> 0", lambda v: v > 0)
NON_NEGATIVE = Rule(">= 0", lambda v: v >= 0)
#: The GD step as a fraction of the stable one, 1 / (lambda_max + lam): GD converges below 2.
STEP_FACTOR = Rule("in (0, 2)", lambda v: 0 < v < 2)
#: The regulariser's centre theta_c in lam/2 ||theta - theta_c||^2.
CENTRE = one_of("zero", "init")
#: An optax optimizer factory taking the learning rate first.
OPTIMIZER = Rule("the name of an optax optimizer (sgd, adam, ...)", _optax_optimizer)
