"""Argument checks: each turns a user value into what Keras expects, or raises.

Keras accepts many bad values without a word (a NaN learning rate, ``amsgrad="yes"``,
``gradient_accumulation_steps=2.5``) and fails much later, deep inside a training
step.  Every argument of every keras3r function goes through one of these checks
first, so a bad value is refused at the call, with the argument named.  The
checks of what a multi optimizer routes variables by are in
`keras3r.routing_checks`; the refusals they raise, in `keras3r.refusals`; the
reading of the number that a tensor or array holds, in `keras3r.scalars`.

Values arrive from Python or, through reticulate, from R: an R double is a Python
``float`` even where an integer is meant, and an R ``TRUE`` is a Python ``bool``.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keras3r.refusals import (
    ArgumentError,
    ArgumentTypeError,
    Refusal,
    literal,
    refuse,
)
from keras3r.scalars import (
    FLOAT32_MAX,
    INT64_MAX,
    as_real,
    is_bool,
    is_keras_variable,
    is_tensor,
    python_number,
    scalar,
)


def _callable_without_arguments(value: Any) -> bool:
    """False only for a callable that surely needs arguments."""
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return True  # some builtins hide their signature: give them the benefit
    try:
        signature.bind()
    except TypeError:
        return False
    return True


def _keras_callable_kind(value: Any) -> str | None:
    """What a callable Keras object is ("a Keras layer", ...), None for others."""
    if not callable(value) or not type(value).__module__.startswith("keras"):
        return None
    import keras

    for cls, kind in (
        (keras.Model, "a Keras model"),
        (keras.layers.Layer, "a Keras layer"),
        (keras.metrics.Metric, "a Keras metric"),
        (keras.losses.Loss, "a Keras loss"),
        (keras.optimizers.Optimizer, "a Keras optimizer"),
    ):
        if isinstance(value, cls):
            return kind
    return None


@dataclass(frozen=True)
class Check:
    """Base class: `coerce` returns the value Keras gets, or raises."""

    optional: bool = False

    def coerce(self, value: Any, name: str) -> Any:
        if value is None:
            if self.optional:
                return None
            raise refuse(ArgumentTypeError, "`{arg}` must not be {null}.", name)
        return self.coerce_present(value, name)

    def coerce_present(self, value: Any, name: str) -> Any:
        raise NotImplementedError

    @property
    def python_type(self) -> str:
        """The type hint that the generated Python signature shows."""
        base = self.base_type
        return f"{base} | None" if self.optional else base

    base_type = "Any"
    #: True where the R side passes a whole vector, not a single value.
    r_vector = False
    #: True where R passes a named list, which reaches Python as a dict.
    r_mapping = False
    #: True where R may pass a function that Keras calls with one argument.
    r_function_of_one = False


@dataclass(frozen=True)
class Real(Check):
    """A finite real number within [low, high], either bound optionally open."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    base_type = "float"

    def range_text(self, finite: bool = False) -> str:
        """The rule in words; `finite` says so where a bound alone would not."""
        number = "a finite number" if finite else "a number"
        if self.low == -math.inf and self.high == math.inf:
            return "a finite number"
        if self.high == math.inf:
            return f"{number} {'>' if self.low_open else '>='} {self.low:g}"
        if self.low == -math.inf:
            return f"{number} {'<' if self.high_open else '<='} {self.high:g}"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"{number} in {left}{self.low:g}, {self.high:g}{right}"

    def coerce_present(self, value: Any, name: str) -> Any:
        number = as_real(value, name, self.range_text())
        below = number <= self.low if self.low_open else number < self.low
        above = number >= self.high if self.high_open else number > self.high
        if not math.isfinite(number):
            # Inf is >= 0: the words of the range alone would not say what is wrong.
            template = f"`{{arg}}` must be {self.range_text(finite=True)}, not {{value}}."
            raise refuse(ArgumentError, template, name, value)
        if below or above:
            raise refuse(
                ArgumentError, f"`{{arg}}` must be {self.range_text()}, not {{value}}.", name, value
            )
        if abs(number) > FLOAT32_MAX:
            raise refuse(
                ArgumentError,
                f"`{{arg}}` must be {self.range_text()} that float32 holds "
                f"(at most {FLOAT32_MAX:.7g} in size), not {{value}}.",
                name,
                value,
            )
        # A Keras variable goes on as given: Keras reads it at every step, so
        # assigning to it changes the optimizer, as in stock Keras.  A constant
        # tensor or array goes on as the number it holds, which is the same to
        # the update on every backend (torch's kernels take no NumPy array, nor
        # another backend's tensor) and which a saved config can hold.
        return value if is_keras_variable(value) else number


@dataclass(frozen=True)
class Integer(Check):
    """A whole number >= low.  R sends `5` as 5.0: whole doubles become ints.

    A tensor or 0-d array becomes the int it holds: Keras counts steps in
    Python ints (`gradient_accumulation_steps`, `decay_steps` in configs).
    """

    low: int = 0

    base_type = "int"

    def coerce_present(self, value: Any, name: str) -> Any:
        what = f"a whole number >= {self.low}"
        held = scalar(value, name, what)
        if isinstance(held, numbers.Integral) and not is_bool(held):
            # Exact: through float, 2**53 + 1 would silently become 2**53.
            number = int(held)
        else:
            real = as_real(value, name, what)
            if not math.isfinite(real) or real != int(real):
                template = f"`{{arg}}` must be {what}, not {{value}}."
                raise refuse(ArgumentError, template, name, value)
            number = int(real)
        if number < self.low:
            raise refuse(ArgumentError, f"`{{arg}}` must be {what}, not {{value}}.", name, value)
        if number > INT64_MAX:
            raise refuse(
                ArgumentError,
                f"`{{arg}}` must be {what} and at most 2^63 - 1 (Keras counts steps "
                "in 64-bit integers), not {value}.",
                name,
                value,
            )
        return number


@dataclass(frozen=True)
class Boolean(Check):
    """Exactly True or False: no 0/1, no strings such as "yes"."""

    base_type = "bool"

    def coerce_present(self, value: Any, name: str) -> Any:
        if not is_bool(value):
            raise refuse(
                ArgumentTypeError, "`{arg}` must be {true} or {false}, not {value}.", name, value
            )
        return bool(value)


@dataclass(frozen=True)
class Text(Check):
    """A non-empty string, without any of the characters in `forbidden`."""

    forbidden: str = ""

    base_type = "str"

    def coerce_present(self, value: Any, name: str) -> Any:
        if not isinstance(value, str):
            raise refuse(ArgumentTypeError, "`{arg}` must be a string, not {value}.", name, value)
        if not value:
            raise refuse(ArgumentError, "`{arg}` must not be an empty string.", name)
        for char in self.forbidden:
            if char in value:
                template = f'`{{arg}}` must not contain "{char}", not {{value}}.'
                raise refuse(ArgumentError, template, name, value)
        return value


@dataclass(frozen=True)
class LearningRate(Check):
    """A rate >= 0, a Keras LearningRateSchedule, or a zero-argument callable."""

    base_type = "float | LearningRateSchedule | Callable[[], float]"

    def coerce_present(self, value: Any, name: str) -> Any:
        from keras.optimizers.schedules import LearningRateSchedule

        if isinstance(value, LearningRateSchedule):
            return value
        kind = _keras_callable_kind(value)
        if kind is not None:
            # Layers, models and metrics take any arguments, so the check below
            # would let them through; Keras would call one at every step and
            # get a tensor of outputs, or an object, instead of a rate.
            raise refuse(
                ArgumentTypeError,
                "`{arg}` must be a number >= 0, a LearningRateSchedule or a function of no "
                f"arguments, not {{value}}, which is {kind}.",
                name,
                value,
            )
        if callable(value):
            # Keras calls it with no arguments at every step: a function of the
            # step (or a schedule class instead of an instance) would be taken
            # here and fail only inside the first training step.
            if not _callable_without_arguments(value):
                raise refuse(
                    ArgumentTypeError,
                    "`{arg}` must be a function of no arguments, not {value}, which needs "
                    "arguments. For a rate that depends on the step, use a "
                    "learning_rate_schedule_*() function.",
                    name,
                    value,
                )
            # keras3r.adapt.rate_guard guards it against a compiled step on
            # the optimizer built from it.
            return value
        what = "a number >= 0, a LearningRateSchedule or a function of no arguments"
        as_real(value, name, what)  # the words for a value that is no number at all
        # Keras keeps a rate in a variable of its own, made from a number; it
        # refuses a Keras variable here, so a variable gives the number it holds.
        rate = Real(low=0.0).coerce_present(value, name)
        return python_number(rate) if is_keras_variable(rate) else rate


@dataclass(frozen=True)
class RealList(Check):
    """A non-empty sequence of finite numbers (an R numeric vector).

    Each element is checked, but a list or tuple is passed on as given, as Keras
    stores it: `boundaries=[5, 10]` stays integers in the schedule and its config.
    An array becomes a list of its elements as Python numbers of their kind,
    and so do tensors among the elements.
    """

    increasing: bool = False

    base_type = "Sequence[float]"
    r_vector = True

    def coerce_present(self, value: Any, name: str) -> Any:
        # Only ordered sequences: a set or a dict is iterable too, but a set has
        # no order that means anything and a dict would hand over its keys; a
        # 0-d numpy array has __iter__ yet cannot be iterated.  (R vectors reach
        # Python as lists.)
        is_vector = getattr(value, "ndim", None) == 1 and hasattr(value, "__iter__")
        if isinstance(value, (str, bytes)) or not (isinstance(value, Sequence) or is_vector):
            template = "`{arg}` must be a sequence of numbers, not {value}."
            raise refuse(ArgumentTypeError, template, name, value)
        items = list(value)
        if not items:
            raise refuse(ArgumentError, "`{arg}` must hold at least one number.", name)
        numbers_ = []
        for i, item in enumerate(items):
            try:
                numbers_.append(Real().coerce(item, name))
            except Refusal as error:
                raise error.at_index(name, i) from None
        if self.increasing and any(b <= a for a, b in zip(numbers_, numbers_[1:])):
            raise refuse(
                ArgumentError, "`{arg}` must be strictly increasing, not {value}.", name, items
            )
        if isinstance(value, (list, tuple)):
            if not any(map(is_tensor, items)):
                return value
            # A tensor among the elements becomes the number it holds: Keras's
            # schedules stack the elements into one tensor, which fails on a
            # float64 array beside float32 numbers.
            return [python_number(item) if is_tensor(item) else item for item in items]
        return [item.item() if hasattr(item, "item") else item for item in items]


@dataclass(frozen=True)
class OptimizerInstance(Check):
    """A Keras optimizer object, such as one that optimizer_adam() returns."""

    base_type = "keras.optimizers.Optimizer"

    def coerce_present(self, value: Any, name: str) -> Any:
        from keras.optimizers import Optimizer

        if not isinstance(value, Optimizer):
            raise refuse(
                ArgumentTypeError,
                "`{arg}` must be a Keras optimizer, such as optimizer_adam(), not {value}.",
                name,
                value,
            )
        return value


@dataclass(frozen=True)
class PatternList(Check):
    """Regular expressions, as a sequence of strings (an R character vector).

    A bare string counts as one pattern, as a length-1 character vector does in
    R: Keras iterates over what it gets, and would take each character of a
    string as a pattern of its own.  Each pattern must compile, so that a typo
    fails here and not at the first training step.
    """

    base_type = "Sequence[str]"
    r_vector = True

    def coerce_present(self, value: Any, name: str) -> Any:
        if isinstance(value, str):
            value = [value]
        is_vector = getattr(value, "ndim", None) == 1 and hasattr(value, "__iter__")
        if isinstance(value, bytes) or not (isinstance(value, Sequence) or is_vector):
            template = "`{arg}` must be a sequence of strings, not {value}."
            raise refuse(ArgumentTypeError, template, name, value)
        if len(value) == 0:
            # As R refuses character(0): "no patterns" is spelt NULL.
            template = "`{arg}` must hold at least one pattern; for none, give {null}."
            raise refuse(ArgumentError, template, name)
        patterns = []
        for i, item in enumerate(value):
            try:
                patterns.append(self._pattern(item, name))
            except Refusal as error:
                raise error.at_index(name, i) from None
        return patterns

    @staticmethod
    def _pattern(item: Any, name: str) -> str:
        if not isinstance(item, str):
            raise refuse(ArgumentTypeError, "`{arg}` must be a string, not {value}.", name, item)
        if not item:
            template = "`{arg}` must not be an empty string (it would match every path)."
            raise refuse(ArgumentError, template, name)
        try:
            re.compile(item)
        except re.error as error:
            template = (
                f"`{{arg}}` is not a valid regular expression ({literal(str(error))}): {{value}}."
            )
            raise refuse(ArgumentError, template, name, item) from None
        return str(item)
