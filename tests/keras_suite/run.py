"""Run Keras's own tests on one backend, with keras3r's behaviour (or stock, to compare).

    python tests/keras_suite/run.py BACKEND [--stock] [--all] [pytest arguments...]

BACKEND is tensorflow, jax or torch; each gets a pytest process of its own,
because Keras fixes its backend once per process. The tests are the ones
shipped inside the installed keras wheel (TESTS below); plugin.py, next to
this file, gives every optimizer Keras builds keras3r's per-instance
behaviour, and marks the tests that fail on stock Keras here
(stock_failures.txt). `--stock` runs them on stock Keras, with every listed
test required to fail: that verifies the list. `--all` also runs the tests
that LEFT_OUT keeps out of `make test` for time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BACKENDS = ("tensorflow", "jax", "torch")

# Keras's tests that drive optimizers, relative to the keras package:
# every optimizer and schedule test, and the trainer, saving and model tests
# that compile, fit, save and reload models with optimizers.
TESTS = [
    "src/optimizers",
    "src/trainers/trainer_test.py",
    "src/saving/saving_lib_test.py",
    "src/saving/saving_api_test.py",
    "src/saving/serialization_lib_test.py",
    "src/models/model_test.py",
]
# tf.distribute and SavedModel export: TensorFlow only (they skip elsewhere).
TENSORFLOW_TESTS = [
    "src/backend/tensorflow/optimizer_distribute_test.py",
    "src/backend/tensorflow/distribute_test.py",
    "src/backend/tensorflow/saved_model_test.py",
]
# On torch keras3r's per-instance behaviour is the fused update of AdamW,
# Adam, SGD and Adagrad, the schedule-free update and the multi-optimizer
# routing check, which the optimizer and saving tests exercise. The trainer
# and model tests (140 of the 150 s that `run.py torch --all` took on a
# 2-core CPU machine) run with --all: tests/python/with_torch/
# test_fused_torch.py drives fit() through the fused update against stock.
TORCH_ONLY_WITH_ALL = ["src/trainers/trainer_test.py", "src/models/model_test.py"]
# Left out of `make test` (run them with --all): tests of those files that
# never update weights or that test something other than the optimizer at
# length: quantization, evaluate/predict loops, steps_per_execution's data
# bookkeeping (dozens of variants), the permutations of functional models'
# output and loss structures, weight-file sharding of a 10 MB EfficientNet and
# a bidirectional LSTM round trip. Together half of these files' time on JAX.
LEFT_OUT = (
    "quantize or evaluate or predict or steps_per_execution or test_functional_"
    " or weights_sharding or bidirectional_lstm"
)


def keras_dir() -> Path:
    """The installed keras package, found without importing it (and a backend)."""
    import importlib.util

    spec = importlib.util.find_spec("keras")
    if spec is None or spec.origin is None:
        raise SystemExit("keras is not installed in this Python")
    return Path(spec.origin).parent


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BACKENDS:
        print(__doc__, file=sys.stderr)
        return 2
    backend, rest = argv[0], argv[1:]
    stock = "--stock" in rest
    everything = "--all" in rest
    rest = [a for a in rest if a not in ("--stock", "--all")]
    selection = [] if everything else ["-k", f"not ({LEFT_OUT})"]
    keras = keras_dir()
    paths = TESTS + (TENSORFLOW_TESTS if backend == "tensorflow" else [])
    if backend == "torch" and not everything:
        paths = [p for p in paths if p not in TORCH_ONLY_WITH_ALL]
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        KERAS3R_SUITE_STOCK="1" if stock else "0",
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "plugin",
        "-c",
        str(HERE / "pytest.ini"),
        # Node ids start at keras/src/, as stock_failures.txt names them.
        "--rootdir",
        str(keras.parent),
        *(str(keras / p) for p in paths),
        *selection,
        *rest,
    ]
    started = time.monotonic()
    done = subprocess.run(command, env=env, check=False)
    mode = "stock Keras" if stock else "keras3r"
    print(f"keras suite: {backend} ({mode}) took {time.monotonic() - started:.0f} s")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
