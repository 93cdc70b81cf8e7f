"""nnkrr's submitit launchers (configs/hydra/launcher/slurm*.yaml): hydra-submitit-launcher's,
waiting for every job, logging their states, never raising for one failed, cancelled or
timed-out job, and checkpointing a job's training before submitit requeues it (the machinery
and the reasons are in :mod:`experiments.launchers`).

Hydra accepts launcher plugins only from the ``hydra_plugins`` namespace package, hence this
module; ``hydra_plugins/`` has no ``__init__.py`` (it is a portion of the namespace package
Hydra's own plugins share, found through the repository root on ``sys.path``).  Without hydra-submitit-launcher (the
``cluster`` extra) the module defines nothing, so that Hydra's plugin scan stays quiet; choosing
a submitit launcher is then refused in one line by :func:`experiments.cli.run`.
"""

from collections.abc import Sequence
from pathlib import Path

from experiments import launchers

try:
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher
except ImportError:  # installed without the `cluster` extra: no submitit launchers here
    submitit_launcher = None


if submitit_launcher is not None:

    class SlurmLauncher(submitit_launcher.SlurmLauncher):
        """SLURM jobs through submitit; job states read with ``scontrol`` (no accounting needed)."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int):
            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            with (
                launchers.refusals_in_one_line(sweep_dir, self.params),
                launchers.tolerant_map_array(
                    launchers.labels(job_overrides, initial_job_idx), True
                ),
            ):
                return super().launch(job_overrides, initial_job_idx)

        def checkpoint(self, *args, **kwargs):
            launchers.on_stop_signal()
            return super().checkpoint(*args, **kwargs)

    class LocalLauncher(submitit_launcher.LocalLauncher):
        """submitit's local executor (the SLURM code path on this machine)."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int):
            with launchers.tolerant_map_array(
                launchers.labels(job_overrides, initial_job_idx), False
            ):
                return super().launch(job_overrides, initial_job_idx)

        def checkpoint(self, *args, **kwargs):
            launchers.on_stop_signal()
            return super().checkpoint(*args, **kwargs)
