"""Record golden deep-MLP NTK values on the stack this runs on (done once, with jax 0.5.3).

    .venv-oldest/bin/python scripts/record_golden_mlp_ntk.py   # see .ci/run for .venv-oldest

``tests/test_nt_compat.py`` checks that every later stack reproduces them.
"""

import json
import pathlib

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from nnkrr import kernels  # noqa: E402

CASES = [
    {"depth": 3, "train_last": True, "W_std": 2.0**0.5, "b_std": 0.1},
    {"depth": 3, "train_last": False, "W_std": 2.0**0.5, "b_std": 0.1},
    {"depth": 2, "train_last": True, "W_std": 1.3, "b_std": None},
    {"depth": 2, "train_last": False, "W_std": 1.3, "b_std": None},
]


def main() -> None:
    rng = np.random.default_rng(20261128)
    x1 = rng.standard_normal((7, 5)) * 10.0 ** rng.uniform(-1, 1, size=(7, 1))
    x2 = rng.standard_normal((4, 5))
    out = {
        "jax": jax.__version__,
        "x1": x1.tolist(),
        "x2": x2.tolist(),
        "cases": [
            dict(case, kernel=np.asarray(kernels.mlp_ntk(x1, x2, **case)).tolist())
            for case in CASES
        ],
    }
    path = pathlib.Path(__file__).parents[1] / "tests" / "golden" / "mlp_ntk.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} with jax {jax.__version__}")


if __name__ == "__main__":
    main()
