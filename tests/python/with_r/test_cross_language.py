"""R and Python, called with the same arguments, build the same Keras object.

rpy2 runs R inside this Python process; keras3r's R wrappers then reach this
very Python through reticulate. (conftest.py deals with rpy2's exit.)
"""

from __future__ import annotations

import inspect
import json

import pytest
import rpy2.robjects as ro

import keras3r
from keras3r.spec import SPECS


@pytest.fixture(scope="module")
def r():  # noqa: ANN201
    ro.r("suppressPackageStartupMessages(library(keras3r))")
    # The config is dumped by Python itself: an R round trip of the dict would
    # simplify [5.0] to 5.0 on the way back.
    ro.r('''.config_json <- reticulate::py_eval(
        "lambda o: __import__('json').dumps(o.get_config(), sort_keys=True)")''')
    return ro.r


def _config_json(obj: object) -> str:
    return json.dumps(obj.get_config(), sort_keys=True)


CASES = [
    ("optimizer_adam_w()", lambda: keras3r.optimizer_adam_w()),
    ("optimizer_adam_w(1e-3)", lambda: keras3r.optimizer_adam_w(1e-3)),
    (
        "optimizer_adam_w(learning_rate = 0.01, weight_decay = 0.1, amsgrad = TRUE, "
        "clipnorm = 1, use_ema = TRUE, ema_overwrite_frequency = 5, name = 'w', "
        "gradient_accumulation_steps = 4)",
        lambda: keras3r.optimizer_adam_w(
            learning_rate=0.01, weight_decay=0.1, amsgrad=True, clipnorm=1.0, use_ema=True,
            ema_overwrite_frequency=5, name="w", gradient_accumulation_steps=4,
        ),
    ),
    ("optimizer_adam_w(ema_overwrite_frequency = 3L, use_ema = TRUE, loss_scale_factor = 128)",
     lambda: keras3r.optimizer_adam_w(ema_overwrite_frequency=3, use_ema=True,
                                      loss_scale_factor=128.0)),
    ("optimizer_sgd(0.1, momentum = 0.9, nesterov = TRUE)",
     lambda: keras3r.optimizer_sgd(0.1, momentum=0.9, nesterov=True)),
    ("optimizer_ftrl(l1_regularization_strength = 0.01)",
     lambda: keras3r.optimizer_ftrl(l1_regularization_strength=0.01)),
    ("learning_rate_schedule_cosine_decay(1e-3, 1000, warmup_target = 0.01, warmup_steps = 100)",
     lambda: keras3r.learning_rate_schedule_cosine_decay(1e-3, 1000, warmup_target=0.01,
                                                         warmup_steps=100)),
    ("learning_rate_schedule_piecewise_constant_decay(c(10, 20), c(0.1, 0.01, 0.001))",
     lambda: keras3r.learning_rate_schedule_piecewise_constant_decay([10, 20], [0.1, 0.01, 0.001])),
    ("learning_rate_schedule_piecewise_constant_decay(5, c(0.1, 0.01))",
     lambda: keras3r.learning_rate_schedule_piecewise_constant_decay([5], [0.1, 0.01])),
    ("optimizer_adam_w(learning_rate = learning_rate_schedule_exponential_decay(0.1, 100, 0.5))",
     lambda: keras3r.optimizer_adam_w(
         learning_rate=keras3r.learning_rate_schedule_exponential_decay(0.1, 100, 0.5))),
    ("optimizer_loss_scale(optimizer_adam(), dynamic_growth_steps = 10)",
     lambda: keras3r.optimizer_loss_scale(keras3r.optimizer_adam(), dynamic_growth_steps=10)),
    # A length-1 character vector is one pattern, as a Python string is.
    ("optimizer_muon(exclude_layers = 'out', ns_steps = 6, rms_rate = NULL)",
     lambda: keras3r.optimizer_muon(exclude_layers=["out"], ns_steps=6, rms_rate=None)),
    ("optimizer_muon(exclude_layers = c('out', 'head/'), nesterov = FALSE)",
     lambda: keras3r.optimizer_muon(exclude_layers=("out", "head/"), nesterov=False)),
    # keras3 R 1.5's order by position in both; Keras 3.15's additions by name.
    ("optimizer_muon(0.01, 0.8, 0.9, 1e-6, adam_weight_decay = 0.01, rms_rate = NULL)",
     lambda: keras3r.optimizer_muon(0.01, 0.8, 0.9, 1e-6, adam_weight_decay=0.01,
                                    rms_rate=None)),
    ("optimizer_lamb(0.01, weight_decay = 0.1, gradient_accumulation_steps = 4)",
     lambda: keras3r.optimizer_lamb(0.01, weight_decay=0.1, gradient_accumulation_steps=4)),
    ("optimizer_schedule_free_adam_w(warmup_steps = 100, beta_1 = 1)",
     lambda: keras3r.optimizer_schedule_free_adam_w(warmup_steps=100, beta_1=1.0)),
    # A named list of patterns is a dict of patterns.
    ("optimizer_multi(optimizer_map(optimizer_sgd(0.1), list('(.*/)?enc/.*' = optimizer_adam(),"
     " 'dec/kernel' = optimizer_lion())), loss_scale_factor = 2, name = 'm')",
     lambda: keras3r.optimizer_multi(
         keras3r.optimizer_map(keras3r.optimizer_sgd(0.1), {
             "(.*/)?enc/.*": keras3r.optimizer_adam(), "dec/kernel": keras3r.optimizer_lion(),
         }),
         loss_scale_factor=2.0, name="m")),
]


@pytest.mark.parametrize(("r_call", "python_call"), CASES, ids=[c[0][:60] for c in CASES])
def test_r_and_python_build_equal_configs(r, r_call: str, python_call) -> None:  # noqa: ANN001
    from_r = json.loads(r(f".config_json({r_call})")[0])
    from_python = json.loads(_config_json(python_call()))
    if from_r.get("name", "").startswith("loss_scale_optimizer"):
        from_r.pop("name"), from_python.pop("name")  # auto-numbered by Keras
    assert from_r == from_python


@pytest.mark.parametrize("name", sorted(SPECS))
def test_r_formals_equal_python_signature(r, name: str) -> None:  # noqa: ANN001
    r_formals = list(r(f"vapply(formals({name}), function(x) paste(deparse(x), collapse = ''), '')")
                     .names)
    python = [
        p.name for p in inspect.signature(getattr(keras3r, name)).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    assert [n for n in r_formals if n != "..."] == python
    assert ("..." in r_formals) == (SPECS[name].dots_at is not None)


def test_r_errors_name_the_argument(r) -> None:  # noqa: ANN001
    cases = {
        "optimizer_adam_w(amsgrad = NA)": "`amsgrad` is NA",
        "optimizer_adam_w(beta_1 = NaN)": "`beta_1` must be",
        "optimizer_adam_w(lr = 0.1)": "did you mean `learning_rate`",
    }
    for call, message in cases.items():
        text = r(f"tryCatch({{{call}; 'no error'}}, error = conditionMessage)")[0]
        assert message in text, (call, text)
