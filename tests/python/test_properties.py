"""Property-based tests: no keras3r function takes a bad value in silence.

For every function in `keras3r.spec.SPECS` (new functions are covered without
a change here), hypothesis draws calls over the whole argument space: each
argument gets a value from a strategy derived from its check object, a mix of
valid values and bad ones (NaN, infinities, out-of-range and huge numbers,
2.5 where a whole number is meant, bools where numbers are meant, strings,
lists, None where a value is required, numpy scalars and arrays).

An oracle written here, independently of `keras3r.checks`, says for each value
whether it is valid and what Keras must receive. The property, for every call:

* if it returns, no value was bad and the Keras object holds exactly the
  coerced value of every argument (5.0 -> 5 for whole-number arguments);
* if it raises, the exception is a TypeError or a ValueError and its message
  names, in backticks, an argument whose value was bad (or that broke a
  cross-argument rule, or that Keras itself refuses).

The number of bad values tried goes to bad_inputs.json in the `figures`
directory (conftest.py).
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras3r
from keras3r.build import keras_class
from keras3r.checks import (
    Boolean,
    Check,
    Integer,
    LearningRate,
    OptimizerInstance,
    PatternList,
    Real,
    RealList,
    Text,
)
from keras3r.refusals import Refusal
from keras3r.routing_checks import OptimizerPatterns, OptimizerRouting, RoutableOptimizer
from keras3r.spec import SPECS, Arg, FunctionSpec, shared
from keras3r.spec import loss_scale as loss_scale_spec
from keras3r.spec import schedules as schedule_specs

# Keras computes in float32 and counts steps in int64: a value beyond these
# becomes inf, or fails at the first training step, so it is bad input.
F32_MAX = float(np.finfo(np.float32).max)
INT64_MAX = 2**63 - 1

# A function as optimizer_multi()'s map is valid and warned about at each
# call (tested in test_multi.py); here it would only fill the summary.
pytestmark = pytest.mark.filterwarnings("ignore::keras3r.routing_checks.UnsavableOptimizerWarning")

EXAMPLES_PER_FUNCTION = 300
SETTINGS = settings(
    max_examples=EXAMPLES_PER_FUNCTION,
    deadline=None,
    derandomize=True,  # the same examples on every run, in CI too
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Values for required arguments when a call leaves them at their "default".
BASELINE: dict[str, Callable[[], Any]] = {
    "initial_learning_rate": lambda: 0.1,
    "decay_steps": lambda: 10,
    "first_decay_steps": lambda: 10,
    "decay_rate": lambda: 0.5,
    "boundaries": lambda: [10.0, 20.0],
    "values": lambda: [0.1, 0.01, 0.001],
    "inner_optimizer": lambda: keras3r.optimizer_sgd(),
    "default_optimizer": lambda: keras3r.optimizer_sgd(),
    "optimizer_map": lambda: keras3r.optimizer_map(keras3r.optimizer_sgd()),
}


# ------------------------------------------------------------------ oracle


@dataclass(frozen=True)
class Verdict:
    """ok: Keras must get `expected`; bad: must be refused; either: Keras may refuse."""

    kind: str
    expected: Any = None


BAD = Verdict("bad")


def ok(expected: Any) -> Verdict:
    return Verdict("ok", expected)


def _exact_number(value: Any) -> int | float | Fraction | None:
    """The exact numeric value of a real-number scalar, None for anything else."""
    if isinstance(value, np.ndarray):
        # A 0-d array stands for the number it holds, as Keras takes it.
        is_real = value.ndim == 0 and value.dtype.kind in "iuf"
        return _exact_number(value[()]) if is_real else None
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, Fraction):
        return value
    return None


def real_verdict(check: Real, value: Any) -> Verdict:
    x = _exact_number(value)
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or abs(x) > F32_MAX:
        return BAD
    below = x <= check.low if check.low_open else x < check.low
    above = x >= check.high if check.high_open else x > check.high
    return BAD if below or above else ok(float(x))


def integer_verdict(check: Integer, value: Any) -> Verdict:
    x = _exact_number(value)
    if x is None:
        return BAD
    if isinstance(x, float) and not (math.isfinite(x) and x.is_integer()):
        return BAD
    if isinstance(x, Fraction) and x.denominator != 1:
        return BAD
    n = int(x)
    return ok(n) if check.low <= n <= INT64_MAX else BAD


def real_list_verdict(check: RealList, value: Any) -> Verdict:
    is_vector = isinstance(value, np.ndarray) and value.ndim == 1
    if not (isinstance(value, (list, tuple, range)) or is_vector):
        return BAD  # sets and dicts have no order that means anything here
    items = [real_verdict(Real(), item) for item in value]
    if not items or any(v.kind == "bad" for v in items):
        return BAD
    numbers = [v.expected for v in items]
    if check.increasing and any(b <= a for a, b in zip(numbers, numbers[1:])):
        return BAD
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, np.ndarray) for item in value):
            # A 0-d array among them becomes the number it holds.
            return ok([x.item() if isinstance(x, np.ndarray) else x for x in value])
        return ok(value)  # checked, then passed on as given: Keras stores what it gets
    return ok([item.item() if hasattr(item, "item") else item for item in value])


def pattern_list_verdict(value: Any) -> Verdict:
    if isinstance(value, str):
        value = [value]  # one pattern, as a length-1 character vector in R
    is_vector = isinstance(value, np.ndarray) and value.ndim == 1
    if not (isinstance(value, (list, tuple)) or is_vector) or len(value) == 0:
        return BAD  # no patterns at all is spelt None
    patterns = []
    for item in value:
        if not isinstance(item, str) or not item:
            return BAD
        try:
            re.compile(item)
        except re.error:
            return BAD
        patterns.append(str(item))
    return ok(patterns)


def routable(value: Any) -> bool:
    """An optimizer that a multi optimizer can route variables to."""
    return isinstance(value, keras.optimizers.Optimizer) and not isinstance(
        value, (keras.optimizers.LossScaleOptimizer, keras.optimizers.MultiOptimizer)
    )


def patterns_verdict(value: Any) -> Verdict:
    if not isinstance(value, dict):
        return BAD
    for pattern, opt in value.items():
        if not isinstance(pattern, str) or not pattern or not routable(opt):
            return BAD
        try:
            re.compile(pattern)
        except re.error:
            return BAD
    return ok(dict(value))


def routing_verdict(value: Any) -> Verdict:
    if isinstance(value, keras.optimizers.OptimizerMap):
        fine = all(routable(o) for o in value.values()) and routable(value.default_optimizer)
        return ok(value) if fine else BAD
    keras_object = type(value).__module__.startswith("keras")
    if callable(value) and not isinstance(value, type) and not keras_object:
        return ok(value) if ROUTING_FUNCTIONS[value] else BAD
    return BAD


def verdict(check: Check, value: Any) -> Verdict:
    if isinstance(check, OptimizerPatterns):
        return ok({}) if value is None else patterns_verdict(value)
    if isinstance(check, PatternList):
        # Keras keeps "no patterns" (None) as an empty list.
        return ok([]) if value is None else pattern_list_verdict(value)
    if value is None:
        return ok(None) if check.optional else BAD
    if isinstance(check, Boolean):
        return ok(bool(value)) if isinstance(value, (bool, np.bool_)) else BAD
    if isinstance(check, Text):
        if not isinstance(value, str) or not value:
            return BAD
        if any(char in value for char in check.forbidden):
            return BAD  # "/" in a name: Keras fails on it, at once or at the first call
        # Keras refuses "/" in names (with the argument named): either way.
        return Verdict("either", value) if "/" in value else ok(value)
    if isinstance(check, OptimizerInstance):
        return ok(value) if isinstance(value, keras.optimizers.Optimizer) else BAD
    if isinstance(check, RoutableOptimizer):
        return ok(value) if routable(value) else BAD
    if isinstance(check, OptimizerRouting):
        return routing_verdict(value)
    if isinstance(check, LearningRate):
        if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
            return ok(value)
        if callable(value):
            return ok(value) if RATE_FUNCTIONS[value] else BAD
        return real_verdict(Real(low=0.0), value)
    if isinstance(check, Real):
        return real_verdict(check, value)
    if isinstance(check, Integer):
        return integer_verdict(check, value)
    if isinstance(check, RealList):
        return real_list_verdict(check, value)
    raise AssertionError(f"No oracle for {type(check).__name__}: add one to {__file__}.")


# Cross-argument rules of the spec: which arguments break each, given the
# coerced values.  A rule without an oracle here lets any given argument be
# named (a weaker property, but new rules are still covered).
def _clip_oracle(values: dict[str, Any]) -> set[str]:
    given = {k for k in ("clipnorm", "clipvalue", "global_clipnorm") if values.get(k) is not None}
    return given if len(given) > 1 else set()


def _lengths_oracle(values: dict[str, Any]) -> set[str]:
    if len(values["values"]) != len(values["boundaries"]) + 1:
        return {"boundaries", "values"}
    return set()


def _ema_oracle(values: dict[str, Any]) -> set[str]:
    if values.get("use_ema") and "ema_momentum" in values and values["ema_momentum"] is None:
        return {"ema_momentum", "use_ema"}
    return set()


def _warmup_oracle(values: dict[str, Any]) -> set[str]:
    if values["warmup_target"] is not None and values["warmup_steps"] is None:
        return {"warmup_steps", "warmup_target"}
    return set()


RULE_ORACLES: dict[Any, Callable[[dict[str, Any]], set[str]]] = {
    shared.only_one_clip: _clip_oracle,
    shared.ema_needs_momentum: _ema_oracle,
    schedule_specs._one_more_value: _lengths_oracle,
    schedule_specs._warmup_needs_steps: _warmup_oracle,
    # The loss-scale wrapper's rule is modelled in rule_breakers() below.
    loss_scale_spec.inner_settings_only: lambda values: set(),
}


def _keras_base_defaults() -> dict[str, Any]:
    """Defaults of Keras's base optimizer (the backend class forwards *args)."""
    defaults: dict[str, Any] = {}
    for klass in reversed(keras.optimizers.Optimizer.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for name, param in inspect.signature(init).parameters.items():
            if param.default is not inspect.Parameter.empty:
                defaults[name] = param.default
    return defaults


_KERAS_BASE_DEFAULTS = _keras_base_defaults()


def rule_breakers(spec: FunctionSpec, values: dict[str, Any], given: set[str]) -> set[str]:
    breakers: set[str] = set()
    for rule in spec.rules:
        oracle = RULE_ORACLES.get(rule)
        breakers |= oracle(values) if oracle else set(given)
    if spec.pass_after_dots_only_when_given:
        # Keras's LossScaleOptimizer takes these (the base-class arguments that
        # its own __init__ does not name) only at their base-class default.
        own = inspect.signature(keras_class(spec).__init__).parameters
        for arg in spec.after_dots:
            if arg.name in own:
                continue
            value = values[arg.name]
            default = _KERAS_BASE_DEFAULTS.get(arg.name, inspect.Parameter.empty)
            if value is not None and default is not inspect.Parameter.empty and value != default:
                breakers.add(arg.name)
    return breakers


# --------------------------------------------------------------- strategies

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.booleans().map(np.bool_),
    st.text(max_size=4),
    st.sampled_from(["0.1", "5", "TRUE", "NA", "", "nan", "inf"]),
    st.lists(st.floats(-10, 10), max_size=3),
    st.tuples(st.integers(0, 5)),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.complex_numbers(max_magnitude=10, allow_nan=False),
    st.binary(max_size=3),
    st.sampled_from(
        [np.array(1.0), np.array(0.5), np.array(5), np.array(np.nan), np.array([1.0, 2.0])]
        + [np.array(True), Decimal("0.5"), object(), {1.0, 2.0}, b"1"]
    ),
)

HUGE_INTS = st.sampled_from([2**53 + 1, INT64_MAX, 2**63, 10**39, 10**400, -(10**400)])


def _floats_in(check: Real) -> st.SearchStrategy[float]:
    low, high = max(check.low, -F32_MAX), min(check.high, F32_MAX)
    return st.floats(
        low,
        high,
        exclude_min=check.low_open and low == check.low,
        exclude_max=check.high_open and high == check.high,
        allow_nan=False,
        allow_infinity=False,
    )


def reals(check: Real) -> st.SearchStrategy[Any]:
    edges = [check.low, check.high, 0.0, -0.0, 1.0, -1.0, 2.5, 5e-324, 1e39, 1e300, -1e300]
    edges += [math.nextafter(check.low, -math.inf), math.nextafter(check.low, math.inf)]
    edges += [math.nextafter(check.high, -math.inf), math.nextafter(check.high, math.inf)]
    edges += [F32_MAX, math.nextafter(F32_MAX, math.inf), -F32_MAX]
    inside = _floats_in(check)
    return st.one_of(
        inside,
        inside.map(np.float64),
        st.sampled_from(edges),
        st.floats(),  # NaN and infinities included
        st.floats(width=32).map(np.float32),
        st.integers(-5, 100),
        st.integers(-5, 100).map(np.int64),
        HUGE_INTS,
        st.fractions(-10, 10, max_denominator=7),
        st.just(Fraction(10**400, 3)),
        JUNK,
    )


def integers(check: Integer) -> st.SearchStrategy[Any]:
    near = st.integers(check.low - 3, check.low + 60)
    return st.one_of(
        near,
        near.map(float),  # what R sends for 5
        near.map(np.int64),
        near.map(np.int32),
        near.map(np.float64),
        st.sampled_from([2.5, 0.5, -1.0, 1e18, 1e19, 1e300, float(2**53 + 2)]),
        st.floats(),
        HUGE_INTS,
        st.just(np.uint64(2**64 - 1)),
        st.fractions(0, 10, max_denominator=3),
        JUNK,
    )


def booleans() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.booleans(),
        st.booleans().map(np.bool_),
        st.sampled_from([0, 1, 1.0, "TRUE", "yes", "True", np.int64(1), [True]]),
        JUNK,
    )


def texts() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.text(max_size=12),
        st.text(alphabet="ab/_ -", max_size=5),
        st.text(min_size=1, max_size=5).map(np.str_),
        st.integers(-3, 3),
        st.floats(),
        JUNK,
    )


@functools.cache
def _schedule_instance() -> Any:
    return keras3r.learning_rate_schedule_exponential_decay(0.1, 10, 0.5)


def _constant_rate() -> float:
    return 0.01


def _rate_of_step(step: int) -> float:
    return 0.1


def _rate_of_anything(*args: Any) -> float:
    return 0.1


# The functions given as `learning_rate`, each with whether Keras can call it
# as it does, with no arguments: written out case by case, not worked out by
# the rule that keras3r applies.
RATE_FUNCTIONS: dict[Callable, bool] = {
    _constant_rate: True,
    _rate_of_step: False,  # a function of the step: Keras calls it with no arguments
    _rate_of_anything: True,
    keras.optimizers.schedules.ExponentialDecay: False,  # the class, not an instance
}


def learning_rates() -> st.SearchStrategy[Any]:
    return st.one_of(
        reals(Real(low=0.0)),
        st.builds(_schedule_instance),
        st.sampled_from(list(RATE_FUNCTIONS)),
    )


def real_lists(check: RealList) -> st.SearchStrategy[Any]:
    good = st.floats(0, 1e4, allow_nan=False, allow_infinity=False)
    elements = st.one_of(good, reals(Real()))
    increasing = st.lists(good, min_size=1, max_size=4, unique=True).map(sorted)
    return st.one_of(
        increasing,
        increasing.map(tuple),
        increasing.map(np.array),
        st.lists(elements, min_size=0, max_size=4),
        st.lists(good, min_size=1, max_size=4).map(lambda xs: {x: "a" for x in xs}),
        st.lists(good, min_size=1, max_size=4).map(set),
        st.just(range(1, 4)),
        st.sampled_from([np.array(2.0), np.array([[1.0, 2.0]]), "1,2", 5.0]),
        JUNK,
    )


def pattern_lists() -> st.SearchStrategy[Any]:
    pattern = st.one_of(
        st.text(alphabet="ab_/.*()[]^$|\\", max_size=5),
        st.sampled_from(["out", "dense_1/kernel", "(", "[a-", "*", "a{2", ""]),
    )
    return st.one_of(
        pattern,
        st.lists(pattern, max_size=3),
        st.lists(pattern, max_size=3).map(tuple),
        st.lists(pattern, min_size=1, max_size=3).map(np.array),
        st.lists(st.one_of(pattern, st.integers(), st.none(), st.binary(max_size=2)), max_size=3),
        st.sets(pattern, max_size=2),
        JUNK,
    )


def optimizers() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(keras3r.optimizer_adam),
        st.just(keras.optimizers.Adam),  # the class, not an instance
        st.builds(_schedule_instance),
        JUNK,
    )


def _route_one(variable: Any) -> Any:
    return keras3r.optimizer_sgd()


def _route_two(variable: Any, other: Any) -> Any:
    return keras3r.optimizer_sgd()


def _route_none() -> Any:
    return keras3r.optimizer_sgd()


# The functions given as a multi optimizer's routing, each with whether Keras
# can call it as it does, with one variable: written out case by case.
ROUTING_FUNCTIONS: dict[Callable, bool] = {_route_one: True, _route_two: False, _route_none: False}


def routable_optimizers() -> st.SearchStrategy[Any]:
    return st.one_of(
        optimizers(),
        st.builds(lambda: keras.optimizers.LossScaleOptimizer(keras3r.optimizer_sgd())),
        st.builds(lambda: keras3r.optimizer_multi(keras3r.optimizer_map(keras3r.optimizer_sgd()))),
    )


def optimizer_patterns() -> st.SearchStrategy[Any]:
    pattern = st.one_of(
        st.text(alphabet="ab_/.*()[]?", max_size=5),
        st.sampled_from(["(.*/)?enc/.*", "dense_1/kernel", "(", "a{2", ""]),
        st.integers(0, 3),
    )
    return st.one_of(
        st.dictionaries(pattern, routable_optimizers(), max_size=3),
        st.lists(st.builds(keras3r.optimizer_sgd), max_size=2),
        JUNK,
    )


def optimizer_routings() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(lambda: keras3r.optimizer_map(keras3r.optimizer_sgd())),
        st.sampled_from([*ROUTING_FUNCTIONS, keras.optimizers.Adam]),
        st.builds(lambda: {"a/.*": keras3r.optimizer_sgd()}),
        st.builds(lambda: keras.optimizers.OptimizerMap(
            keras.optimizers.LossScaleOptimizer(keras3r.optimizer_sgd())
        )),
        routable_optimizers(),
    )


def strategy_for(check: Check) -> st.SearchStrategy[Any]:
    if isinstance(check, LearningRate):
        return learning_rates()
    if isinstance(check, Real):
        return reals(check)
    if isinstance(check, Integer):
        return integers(check)
    if isinstance(check, Boolean):
        return booleans()
    if isinstance(check, Text):
        return texts()
    if isinstance(check, RealList):
        return real_lists(check)
    if isinstance(check, OptimizerInstance):
        return optimizers()
    if isinstance(check, PatternList):
        return pattern_lists()
    if isinstance(check, RoutableOptimizer):
        return routable_optimizers()
    if isinstance(check, OptimizerPatterns):
        return optimizer_patterns()
    if isinstance(check, OptimizerRouting):
        return optimizer_routings()
    raise AssertionError(f"No strategy for {type(check).__name__}: add one to {__file__}.")


def baseline(arg: Arg) -> Any:
    if not arg.required:
        return arg.default
    if arg.name in BASELINE:
        return BASELINE[arg.name]()
    raise AssertionError(f"Add a valid value for the required argument `{arg.name}`.")


@st.composite
def calls(draw: st.DrawFn, spec: FunctionSpec) -> dict[str, Any]:
    """Keyword arguments for one call: one to three arguments drawn, the rest left out."""
    names = [a.name for a in spec.args]
    chosen = {draw(st.sampled_from(names))} | draw(st.sets(st.sampled_from(names), max_size=2))
    kwargs = {}
    for arg in spec.args:
        if arg.name in chosen:
            kwargs[arg.name] = draw(strategy_for(arg.check), label=arg.name)
        elif arg.required:
            kwargs[arg.name] = baseline(arg)
    return kwargs


# ----------------------------------------------------------- observation


def observed(obj: Any, arg: Arg, config: dict[str, Any]) -> Any:
    """What the Keras object holds for `arg`."""
    if isinstance(arg.check, LearningRate):
        # Keras keeps a number in a float32 variable (the config shows its value)
        # and a schedule or a function as it is (private attribute: identity).
        held = obj._learning_rate
        return config["learning_rate"] if isinstance(held, keras.Variable) else held
    if isinstance(arg.check, (OptimizerInstance, RoutableOptimizer)):
        return getattr(obj, arg.name)
    if isinstance(arg.check, (OptimizerPatterns, OptimizerRouting)):
        # The config holds them serialized; the objects are Keras's private state.
        return obj._optimizer_map
    if arg.name in config:
        return config[arg.name]
    return getattr(obj, arg.name)


def holds_exactly(check: Check, expected: Any, got: Any) -> bool:
    if isinstance(check, (RoutableOptimizer, OptimizerRouting)):
        return got is expected
    if isinstance(check, OptimizerPatterns):
        same = list(got) == list(expected)
        return same and all(got[k] is expected[k] for k in expected)
    if expected is None and isinstance(check, Text):
        return isinstance(got, str) and bool(got)  # None: Keras names the object itself
    if expected is None:
        return got is None
    if isinstance(check, LearningRate):
        if isinstance(expected, float):
            return type(got) is float and got == float(np.float32(expected))
        # keras3r may wrap a function (functools.wraps) to guard how it is called.
        return got is expected or inspect.unwrap(got) is expected
    if isinstance(check, OptimizerInstance):
        return got is expected
    if isinstance(check, Integer):
        return type(got) is int and got == expected
    if isinstance(check, Real):
        return type(got) is float and got == expected
    if isinstance(check, Boolean):
        return got is expected
    if isinstance(check, RealList):
        same_items = [type(x) for x in got] == [type(x) for x in expected]
        return type(got) is type(expected) and same_items and list(got) == list(expected)
    if isinstance(check, PatternList):
        # Keras tracks list attributes in a list subclass of its own.
        return isinstance(got, list) and all(type(x) is str for x in got) and got == expected
    return type(got) is type(expected) and got == expected


# -------------------------------------------------------------- property


@dataclass
class Tally:
    calls: int = 0
    built: int = 0
    refused: int = 0
    bad_values: int = 0
    calls_with_bad_values: int = 0


TALLIES: dict[str, Tally] = {}


def _named(message: str, names: set[str]) -> bool:
    # `boundaries[0]` names `boundaries` too.
    return any(re.search(rf"`{re.escape(n)}(\[\d+\])?`", message) for n in names)


R_WORDS = re.compile(r"\b(TRUE|FALSE|NULL|NA)\b")


def check_python_spelling(spec: FunctionSpec, error: Exception, refusable: set[str]) -> None:
    """A refusal is keras3r's own, names the function and speaks Python.

    keras3r's R side words the same refusal in R from its fields (see
    tests/testthat/test-bad-input-grid.R); from Python it reads as Python.
    """
    message = str(error)
    assert isinstance(error, Refusal), f"not a keras3r refusal: {type(error).__name__}: {message}"
    assert error.function == spec.name and message.startswith(f"{spec.name}(): "), message
    assert set(error.arguments) & refusable, (error.arguments, refusable, message)
    assert not re.search(r"\{(arg|value|true|false|null)\}", message), message
    shown = message
    if error.has_value:
        python_spelling = repr(error.value)[:50]
        assert python_spelling in message, (python_spelling, message)
        shown = message.replace(python_spelling, "")
    assert not R_WORDS.search(shown), f"R's words in a Python message: {message}"


def check_call(spec: FunctionSpec, kwargs: dict[str, Any], tally: Tally) -> None:
    verdicts = {a.name: verdict(a.check, kwargs.get(a.name, a.default)) for a in spec.args}
    bad = {name for name, v in verdicts.items() if v.kind == "bad"}
    either = {name for name, v in verdicts.items() if v.kind == "either"}
    breakers: set[str] = set()
    if not bad:
        values = {name: v.expected for name, v in verdicts.items()}
        breakers = rule_breakers(spec, values, set(kwargs))
    tally.calls += 1
    tally.bad_values += len(bad)
    tally.calls_with_bad_values += bool(bad)

    try:
        obj = getattr(keras3r, spec.name)(**kwargs)
    except Exception as error:  # noqa: BLE001 - the type is what is checked
        tally.refused += 1
        message = str(error)
        assert isinstance(error, (TypeError, ValueError)), (
            f"{spec.name}({kwargs!r}) raised {type(error).__name__}: {message}"
        )
        refusable = bad | either | breakers
        assert refusable, f"{spec.name}({kwargs!r}) refused valid values: {message}"
        assert _named(message, refusable), (
            f"{spec.name}({kwargs!r}): the message names none of {sorted(refusable)}: {message}"
        )
        if either and not (bad | breakers) and not isinstance(error, Refusal):
            return  # Keras's own refusal of a value that keras3r leaves to it
        check_python_spelling(spec, error, refusable)
        return

    tally.built += 1
    assert not bad, f"{spec.name} took bad values of {sorted(bad)} silently: {kwargs!r}"
    assert not breakers, f"{spec.name} took {sorted(breakers)} together: {kwargs!r}"
    config = obj.get_config()
    for arg in spec.args:
        expected = verdicts[arg.name].expected
        if expected is None and arg in spec.after_dots and spec.pass_after_dots_only_when_given:
            continue  # not passed on: Keras keeps its own default
        got = observed(obj, arg, config)
        assert holds_exactly(arg.check, expected, got), (
            f"{spec.name}: `{arg.name}` = {kwargs.get(arg.name, arg.default)!r} "
            f"should reach Keras as {expected!r}, but Keras holds {got!r}"
        )


@pytest.mark.parametrize("name", list(SPECS))
def test_every_call_builds_faithfully_or_refuses_by_name(name: str) -> None:
    spec = SPECS[name]
    tally = TALLIES.setdefault(name, Tally())

    @SETTINGS
    @given(kwargs=calls(spec))
    def run(kwargs: dict[str, Any]) -> None:
        check_call(spec, kwargs, tally)

    run()
    # The property must have been exercised both ways for this function.
    assert tally.built > 0, f"{name}: no generated call was valid"
    assert tally.calls_with_bad_values > 0, f"{name}: no generated call had a bad value"


def test_baseline_calls_build() -> None:
    for spec in SPECS.values():
        kwargs = {a.name: baseline(a) for a in spec.args if a.required}
        check_call(spec, kwargs, Tally())


def _outcome(function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any],
             unnamed: bool) -> tuple[Any, ...]:
    """What one call gives: the error's type and message, or the object's class and config."""
    try:
        obj = function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - both calls must fail alike
        return (type(error).__name__, str(error))
    config = dict(obj.get_config())
    if unnamed:
        config.pop("name", None)  # Keras numbers the names it gives
    return (type(obj).__name__, json.dumps(config, sort_keys=True, default=repr))


@pytest.mark.parametrize("name", list(SPECS))
def test_a_call_by_position_is_the_call_by_name(name: str) -> None:
    """Each value given by position reaches the argument of the spec's place.

    Every argument before R's `...` is given by position, in the spec's (R's)
    order, and the ones after it by keyword: the call must build what the call
    by name builds, or fail alike. A generated function whose parameters stand
    in another order than the spec's (Keras's order for Muon, which puts
    `adam_weight_decay` fourth) sends a drawn value to another argument.
    """
    spec = SPECS[name]
    function = getattr(keras3r, name)

    @settings(SETTINGS, max_examples=40)
    @given(kwargs=calls(spec))
    def run(kwargs: dict[str, Any]) -> None:
        values = {a.name: kwargs[a.name] if a.name in kwargs else a.default for a in spec.args}
        positional = [values[a.name] for a in spec.before_dots]
        by_keyword = {a.name: values[a.name] for a in spec.after_dots}
        unnamed = values.get("name", "") is None
        assert _outcome(function, positional, by_keyword, unnamed) == _outcome(
            function, [], values, unnamed
        ), kwargs

    run()


@SETTINGS
@given(
    name=st.sampled_from(list(SPECS)),
    key=st.one_of(
        st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True),
        st.sampled_from(["lr", "decay", "learningrate", "beta1", "nesterov_", "epsilon_"]),
    ),
)
def test_unknown_keywords_are_refused_by_name(name: str, key: str) -> None:
    spec = SPECS[name]
    if key in {a.name for a in spec.args}:
        return
    kwargs = {a.name: baseline(a) for a in spec.args if a.required}
    function = getattr(keras3r, name)
    with pytest.raises((TypeError, ValueError)) as caught:
        function(**kwargs, **{key: 1.0})
    # Without `...` Python itself refuses the name, in its own quotes.
    named = f"`{key}`" if spec.dots_at is not None else f"'{key}'"
    assert named in str(caught.value)


@pytest.fixture(scope="module", autouse=True)
def report_counts(request: pytest.FixtureRequest, figures: Path) -> Any:
    yield
    if not TALLIES:
        return
    total = Tally()
    for tally in TALLIES.values():
        for field in vars(total):
            setattr(total, field, getattr(total, field) + getattr(tally, field))
    record = {
        "bad_inputs_tried": total.bad_values,
        "calls_with_bad_inputs": total.calls_with_bad_values,
        "calls": total.calls,
        "built": total.built,
        "refused": total.refused,
        "examples_per_function": EXAMPLES_PER_FUNCTION,
        "per_function": {name: vars(t) for name, t in TALLIES.items()},
    }
    figure = figures / "bad_inputs.json"
    figure.write_text(json.dumps(record, indent=2) + "\n")
    line = (
        f"test_properties: {total.bad_values} bad inputs tried in {total.calls} calls "
        f"({total.built} built, {total.refused} refused) -> {figure}"
    )
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n" + line)
    else:
        print(line)
