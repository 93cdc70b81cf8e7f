"""The examples in the docstrings are run: each states a number or a message that could be
wrong (a rule's words, a derived ridge, a job directory's name, a chosen training step, a matrix-free solve)."""

import doctest
import importlib

import pytest

MODULES = [
    "nnkrr.rules",
    "nnkrr.scale",
    "nnkrr.config.reference",
    "nnkrr.config.store",
    "nnkrr.config.checks",
    "nnkrr.train",
    "nnkrr.krr",
    "nnkrr.sampling",
    "nnkrr.features",
    "nnkrr.scaling",
    "nnkrr.savings",
]


@pytest.mark.parametrize("name", MODULES)
def test_the_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
