"""Hydra entry points (run as scripts, or installed as ``nnkrr-sweep``, ``nnkrr-spectral``,
``nnkrr-krr``, ``nnkrr-gather``) and their edge helpers: ``cli`` (checks, refusals,
progress), ``results`` (tables) and ``plots``.

A package so that launcher workers (submitit unpickles the jobs and the gathering
callback) can import ``experiments.results`` and ``experiments.plots``: the wheel installs it
beside ``nnkrr``, and an editable install puts the repository root on ``sys.path``.
"""
