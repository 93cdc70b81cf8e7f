"""Hydra entry points (run as scripts) and their edge helpers: ``results`` (tables) and ``plots``.

A package so that launcher workers (submitit unpickles the jobs and the gathering
callback) can import ``experiments.results`` and ``experiments.plots``: the editable
install puts the repository root on ``sys.path``.
"""
