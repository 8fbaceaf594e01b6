"""Argument checks: each turns a user value into what Keras expects, or raises.

Keras accepts many bad values without a word (a NaN learning rate, ``amsgrad="yes"``,
``gradient_accumulation_steps=2.5``) and fails much later, deep inside a training
step.  Every argument of every keras3r function goes through one of these checks
first, so a bad value is refused at the call, with the argument named.

Values arrive from Python or, through reticulate, from R: an R double is a Python
``float`` even where an integer is meant, and an R ``TRUE`` is a Python ``bool``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any


class ArgumentError(ValueError):
    """A value that has the right type but is out of range or inconsistent."""


class ArgumentTypeError(TypeError):
    """A value of a type that the argument never accepts."""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_bool(value: Any) -> bool:
    # numpy.bool_ is not a subclass of bool, but R logicals can arrive as one.
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def _as_real(value: Any, name: str, what: str) -> float:
    """A real number from any numeric scalar (not a bool, not a string)."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"`{name}` must be {what}, not {_describe(value)}.")
    return float(value)


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
        return number


@dataclass(frozen=True)
class Integer(Check):
    """A whole number >= low.  R sends `5` as 5.0: whole doubles become ints."""

    low: int = 0

    base_type = "int"

    def coerce_present(self, value: Any, name: str) -> Any:
        what = f"a whole number >= {self.low}"
        number = _as_real(value, name, what)
        if not math.isfinite(number) or number != int(number) or number < self.low:
            raise ArgumentError(f"`{name}` must be {what}, not {_describe(value)}.")
        return int(number)


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
            return value
        what = "a number >= 0, a LearningRateSchedule or a function of no arguments"
        return Real(low=0.0).coerce_present(_as_real(value, name, what), name)


@dataclass(frozen=True)
class RealList(Check):
    """A non-empty sequence of finite numbers (an R numeric vector)."""

    increasing: bool = False

    base_type = "Sequence[float]"
    r_vector = True

    def coerce_present(self, value: Any, name: str) -> Any:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
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
