"""Argument checks: each turns a user value into what Keras expects, or raises.

Keras accepts many bad values without a word (a NaN learning rate, ``amsgrad="yes"``,
``gradient_accumulation_steps=2.5``) and fails much later, deep inside a training
step.  Every argument of every keras3r function goes through one of these checks
first, so a bad value is refused at the call, with the argument named.

Values arrive from Python or, through reticulate, from R: an R double is a Python
``float`` even where an integer is meant, and an R ``TRUE`` is a Python ``bool``.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Keras computes in float32 (its default floatx) and counts steps in int64.  A
# number beyond these limits is taken by Keras without a word and turns into inf
# (a learning rate of 1e39 is stored as inf) or fails at the first training step
# ("out-of-range integer"), so the checks refuse it at the call.
FLOAT32_MAX = 3.4028234663852886e38
INT64_MAX = 2**63 - 1


class ArgumentError(ValueError):
    """A value that has the right type but is out of range or inconsistent."""


class ArgumentTypeError(TypeError):
    """A value of a type that the argument never accepts."""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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


def _is_bool(value: Any) -> bool:
    # numpy.bool_ is not a subclass of bool, but R logicals can arrive as one.
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def _as_real(value: Any, name: str, what: str) -> float:
    """A real number from any numeric scalar (not a bool, not a string)."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"`{name}` must be {what}, not {_describe(value)}.")
    try:
        return float(value)
    except OverflowError:
        # A Python int (or Fraction) beyond the range of a double, such as
        # 10**400: float() raises OverflowError, which names no argument.
        raise ArgumentError(
            f"`{name}` must be {what}, not {_describe(value)} (too large)."
        ) from None


@dataclass(frozen=True)
class Check:
    """Base class: `coerce` returns the value Keras gets, or raises."""

    optional: bool = False

    def coerce(self, value: Any, name: str) -> Any:
        if value is None:
            if self.optional:
                return None
            raise ArgumentTypeError(f"`{name}` must not be None (NULL in R).")
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


@dataclass(frozen=True)
class Real(Check):
    """A finite real number within [low, high], either bound optionally open."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    base_type = "float"

    def range_text(self) -> str:
        if self.low == -math.inf and self.high == math.inf:
            return "a finite number"
        if self.high == math.inf:
            return f"a number {'>' if self.low_open else '>='} {self.low:g}"
        if self.low == -math.inf:
            return f"a number {'<' if self.high_open else '<='} {self.high:g}"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"a number in {left}{self.low:g}, {self.high:g}{right}"

    def coerce_present(self, value: Any, name: str) -> Any:
        number = _as_real(value, name, self.range_text())
        below = number <= self.low if self.low_open else number < self.low
        above = number >= self.high if self.high_open else number > self.high
        if math.isnan(number) or math.isinf(number) or below or above:
            raise ArgumentError(
                f"`{name}` must be {self.range_text()}, not {_describe(value)}."
            )
        if abs(number) > FLOAT32_MAX:
            raise ArgumentError(
                f"`{name}` must be {self.range_text()} that float32 holds "
                f"(at most {FLOAT32_MAX:.7g} in size), not {_describe(value)}."
            )
        return number


@dataclass(frozen=True)
class Integer(Check):
    """A whole number >= low.  R sends `5` as 5.0: whole doubles become ints."""

    low: int = 0

    base_type = "int"

    def coerce_present(self, value: Any, name: str) -> Any:
        what = f"a whole number >= {self.low}"
        if isinstance(value, numbers.Integral) and not _is_bool(value):
            # Exact: through float, 2**53 + 1 would silently become 2**53.
            number = int(value)
        else:
            real = _as_real(value, name, what)
            if not math.isfinite(real) or real != int(real):
                raise ArgumentError(f"`{name}` must be {what}, not {_describe(value)}.")
            number = int(real)
        if number < self.low:
            raise ArgumentError(f"`{name}` must be {what}, not {_describe(value)}.")
        if number > INT64_MAX:
            raise ArgumentError(
                f"`{name}` must be {what} and at most 2^63 - 1 (Keras counts steps "
                f"in 64-bit integers), not {_describe(value)}."
            )
        return number


@dataclass(frozen=True)
class Boolean(Check):
    """Exactly True or False: no 0/1, no strings such as "yes"."""

    base_type = "bool"

    def coerce_present(self, value: Any, name: str) -> Any:
        if not _is_bool(value):
            raise ArgumentTypeError(
                f"`{name}` must be True or False (TRUE or FALSE in R), "
                f"not {_describe(value)}."
            )
        return bool(value)


@dataclass(frozen=True)
class Text(Check):
    """A non-empty string."""

    base_type = "str"

    def coerce_present(self, value: Any, name: str) -> Any:
        if not isinstance(value, str):
            raise ArgumentTypeError(f"`{name}` must be a string, not {_describe(value)}.")
        if not value:
            raise ArgumentError(f"`{name}` must not be an empty string.")
        return value


@dataclass(frozen=True)
class LearningRate(Check):
    """A rate >= 0, a Keras LearningRateSchedule, or a zero-argument callable."""

    base_type = "float | LearningRateSchedule | Callable[[], float]"

    def coerce_present(self, value: Any, name: str) -> Any:
        from keras.optimizers.schedules import LearningRateSchedule

        if isinstance(value, LearningRateSchedule):
            return value
        if callable(value):
            # Keras calls it with no arguments at every step: a function of the
            # step (or a schedule class instead of an instance) would be taken
            # here and fail only inside the first training step.
            if not _callable_without_arguments(value):
                raise ArgumentTypeError(
                    f"`{name}` must be a function of no arguments, not "
                    f"{_describe(value)}, which needs arguments. For a rate that "
                    "depends on the step, use a learning_rate_schedule_*() function."
                )
            from keras3r.host_rate import guard_rate_function

            return guard_rate_function(value)
        what = "a number >= 0, a LearningRateSchedule or a function of no arguments"
        return Real(low=0.0).coerce_present(_as_real(value, name, what), name)


@dataclass(frozen=True)
class RealList(Check):
    """A non-empty sequence of finite numbers (an R numeric vector)."""

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
            raise ArgumentTypeError(
                f"`{name}` must be a sequence of numbers, not {_describe(value)}."
            )
        items = list(value)
        if not items:
            raise ArgumentError(f"`{name}` must hold at least one number.")
        numbers_ = [Real().coerce(item, f"{name}[{i}]") for i, item in enumerate(items)]
        if self.increasing and any(b <= a for a, b in zip(numbers_, numbers_[1:])):
            raise ArgumentError(f"`{name}` must be strictly increasing, not {items}.")
        return numbers_


@dataclass(frozen=True)
class OptimizerInstance(Check):
    """A Keras optimizer object, such as one that optimizer_adam() returns."""

    base_type = "keras.optimizers.Optimizer"

    def coerce_present(self, value: Any, name: str) -> Any:
        from keras.optimizers import Optimizer

        if not isinstance(value, Optimizer):
            raise ArgumentTypeError(
                f"`{name}` must be a Keras optimizer, such as optimizer_adam(), "
                f"not {_describe(value)}."
            )
        return value
