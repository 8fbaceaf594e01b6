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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Keras computes in float32 (its default floatx) and counts steps in int64.  A
# number beyond these limits is taken by Keras without a word and turns into inf
# (a learning rate of 1e39 is stored as inf) or fails at the first training step
# ("out-of-range integer"), so the checks refuse it at the call.
FLOAT32_MAX = 3.4028234663852886e38
INT64_MAX = 2**63 - 1


# The words a refusal may use that each language spells its own way.
PYTHON_WORDS = {"true": "True", "false": "False", "null": "None"}
R_WORDS = {"true": "TRUE", "false": "FALSE", "null": "NULL"}
# How each language names element `index` (0-based; `number` is 1-based) of
# the sequence argument `name`.
PYTHON_ELEMENT = "{name}[{index}]"
R_ELEMENT = "{name}[[{number}]]"
# `{{` and `}}` stand for a literal brace: text the user wrote (a pattern, a
# regular-expression error) is put into a template through _literal(), so
# that a `{null}` inside it is never taken for a placeholder.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(arg|value|true|false|null)\}")
_BRACES = {"{{": "{", "}}": "}"}


def _literal(text: str) -> str:
    """`text` as it must stand in a refusal's template to be shown as it is."""
    return text.replace("{", "{{").replace("}", "}}")
_FIRST_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_.]*)")


class Refusal(Exception):
    """A refused argument value, kept in a form that each language can spell.

    `template` is the message with placeholders: `{arg}` (the argument, with
    its element where one element is at fault), `{value}` (the refused value)
    and `{true}`, `{false}`, `{null}`.  Python's message uses Python's
    spelling (`True`, `None`, `'0.01'`, `[1.0, 2.0]`); `message_in_r()` renders
    the same template with R's (`TRUE`, `NULL`, `boundaries[[2]]`), given the
    value the R user actually passed as R writes it (`"0.01"`, `c(1, 2)`),
    which only R can spell.  A message without placeholders is shown as it
    is in both languages.
    """

    def __init__(
        self,
        template: str,
        *,
        arguments: tuple[str, ...] = (),
        value: Any = None,
        has_value: bool = False,
        index: int | None = None,
        function: str | None = None,
    ) -> None:
        self.template = template
        if not arguments:
            # A plain message names its argument first, in backticks.
            found = _FIRST_NAME.search(template)
            arguments = (found.group(1),) if found else ()
        self.arguments = tuple(arguments)
        self.value = value
        self.has_value = has_value
        self.index = index  # 0-based position in a sequence argument, or None
        self.function = function
        super().__init__(self.render(_describe, PYTHON_WORDS, PYTHON_ELEMENT))

    @property
    def argument(self) -> str | None:
        """The argument at fault (the first one, where a rule names several)."""
        return self.arguments[0] if self.arguments else None

    def render(
        self, spell: Callable[[Any], str], words: dict[str, str], element: str
    ) -> str:
        """The message: `element` formats `{arg}` when one element is at fault."""
        name = self.argument or ""
        if self.index is not None:
            name = element.format(name=name, index=self.index, number=self.index + 1)
        fills = dict(words, arg=name)
        if self.has_value:
            fills["value"] = spell(self.value)
        body = _PLACEHOLDER.sub(
            lambda m: _BRACES.get(m.group(0)) or fills.get(m.group(1), m.group(0)), self.template
        )
        return f"{self.function}(): {body}" if self.function else body

    def message_in_r(self, value_in_r: str | None = None) -> str:
        """The message in R's spelling; `value_in_r` is the refused value as R writes it."""
        return self.render(lambda _value: value_in_r or "", R_WORDS, R_ELEMENT)

    def _copy(self, **changes: Any) -> Refusal:
        fields = {
            "arguments": self.arguments,
            "value": self.value,
            "has_value": self.has_value,
            "index": self.index,
            "function": self.function,
        }
        return type(self)(self.template, **(fields | changes))

    def for_function(self, function: str) -> Refusal:
        """The same refusal, its message prefixed with `function()`."""
        return self._copy(function=function)

    def at_index(self, name: str, index: int) -> Refusal:
        """The same refusal, about element `index` of the sequence `name`."""
        return self._copy(arguments=(name,), index=index)


class ArgumentError(Refusal, ValueError):
    """A value that has the right type but is out of range or inconsistent."""


class ArgumentTypeError(Refusal, TypeError):
    """A value of a type that the argument never accepts."""


def refuse(kind: type[Refusal], template: str, name: str, *value: Any) -> Refusal:
    """A refusal of argument `name`; pass the refused value where `template` shows it."""
    if value:
        return kind(template, arguments=(name,), value=value[0], has_value=True)
    return kind(template, arguments=(name,))


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


def _is_bool(value: Any) -> bool:
    # numpy.bool_ is not a subclass of bool, but R logicals can arrive as one.
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def _as_real(value: Any, name: str, what: str) -> float:
    """A real number from any numeric scalar (not a bool, not a string)."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise refuse(ArgumentTypeError, f"`{{arg}}` must be {what}, not {{value}}.", name, value)
    try:
        return float(value)
    except OverflowError:
        # A Python int (or Fraction) beyond the range of a double, such as
        # 10**400: float() raises OverflowError, which names no argument.
        raise refuse(
            ArgumentError, f"`{{arg}}` must be {what}, not {{value}} (too large).", name, value
        ) from None


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
        if not _is_bool(value):
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
        return Real(low=0.0).coerce_present(_as_real(value, name, what), name)


@dataclass(frozen=True)
class RealList(Check):
    """A non-empty sequence of finite numbers (an R numeric vector).

    Each element is checked, but a list or tuple is passed on as given, as Keras
    stores it: `boundaries=[5, 10]` stays integers in the schedule and its config.
    An array becomes a list of its elements as Python numbers of their kind.
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
            return value
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
                f"`{{arg}}` is not a valid regular expression ({_literal(str(error))}): {{value}}."
            )
            raise refuse(ArgumentError, template, name, item) from None
        return str(item)


class UnsavableOptimizerWarning(UserWarning):
    """An optimizer that trains but that a saved model cannot bring back."""


def _quoted(pattern: str) -> str:
    """A pattern in double quotes, as both R and Python write a string, for a template."""
    import json

    return _literal(json.dumps(pattern))


def _routing_target(opt: Any, name: str, where: str | None) -> Any:
    """An optimizer that MultiOptimizer may route variables to, or a refusal."""
    from keras.optimizers import LossScaleOptimizer, MultiOptimizer, Optimizer

    if not isinstance(opt, Optimizer):
        if where is None:  # the argument itself: each language spells the value
            raise refuse(
                ArgumentTypeError,
                "`{arg}` must be a Keras optimizer, such as optimizer_adam(), not {value}.",
                name,
                opt,
            )
        raise refuse(
            ArgumentTypeError,
            f"`{{arg}}`: {where} must be a Keras optimizer, such as optimizer_adam(), "
            f"not {_literal(_describe(opt))}.",
            name,
        )
    where = where or "the optimizer"
    # Keras refuses these only once a variable reaches them (at the first
    # training step); they are refused here, at the call.
    if isinstance(opt, LossScaleOptimizer):
        raise refuse(
            ArgumentError,
            f"`{{arg}}`: {where} is a loss-scale optimizer, which Keras cannot route "
            "variables to; give the optimizer it wraps, and set `loss_scale_factor` "
            "on optimizer_multi().",
            name,
        )
    if isinstance(opt, MultiOptimizer):
        raise refuse(
            ArgumentError,
            f"`{{arg}}`: {where} is itself a multi optimizer, which Keras cannot route "
            "variables to; put its patterns in this map instead.",
            name,
        )
    return opt


@dataclass(frozen=True)
class RoutableOptimizer(Check):
    """A Keras optimizer that a MultiOptimizer can hand variables to."""

    base_type = "keras.optimizers.Optimizer"

    def coerce_present(self, value: Any, name: str) -> Any:
        return _routing_target(value, name, None)


@dataclass(frozen=True)
class OptimizerPatterns(Check):
    """Variable-path patterns, each naming the optimizer of the variables it matches.

    A dict in Python, a named list in R (reticulate hands it over as a dict).
    Keras compares each pattern with a variable's whole path (`re.fullmatch`)
    at the first training step; a pattern that does not compile, or an
    optimizer that Keras cannot route to, would fail only there.
    """

    base_type = "dict[str, keras.optimizers.Optimizer]"
    r_mapping = True

    def coerce_present(self, value: Any, name: str) -> Any:
        from collections.abc import Mapping

        if not isinstance(value, Mapping):
            raise refuse(
                ArgumentTypeError,
                "`{arg}` must be a named list (a dict in Python) of optimizers, named "
                "by the variable-path patterns they take, not {value}.",
                name,
                value,
            )
        patterns: dict[str, Any] = {}
        for pattern, opt in value.items():
            if not isinstance(pattern, str) or not pattern:
                raise refuse(
                    ArgumentTypeError,
                    "`{arg}`: every element must be named by a pattern of variable "
                    f"paths (a non-empty string), not {_literal(_describe(pattern))}.",
                    name,
                )
            try:
                re.compile(pattern)
            except re.error as error:
                raise refuse(
                    ArgumentError,
                    f"`{{arg}}`: the pattern {_quoted(pattern)} is not a valid regular "
                    f"expression ({_literal(str(error))}).",
                    name,
                ) from None
            patterns[pattern] = _routing_target(
                opt, name, f"the element for pattern {_quoted(pattern)}"
            )
        return patterns


@dataclass(frozen=True)
class OptimizerRouting(Check):
    """What MultiOptimizer routes by: an OptimizerMap, or a function of a variable.

    A function is accepted, but Keras cannot save it in a model file: the user
    is told so here, when it is given, rather than when the model is saved or,
    worse, loaded.
    """

    base_type = "keras.optimizers.OptimizerMap | Callable[[Any], keras.optimizers.Optimizer]"
    r_function_of_one = True

    def coerce_present(self, value: Any, name: str) -> Any:
        import warnings
        from collections.abc import Mapping

        from keras.optimizers import Optimizer, OptimizerMap

        if isinstance(value, OptimizerMap):
            for pattern, opt in value.items():
                _routing_target(opt, name, f"the optimizer for pattern {_quoted(pattern)}")
            _routing_target(value.default_optimizer, name, "the default optimizer")
            return value
        if isinstance(value, Mapping):
            raise refuse(
                ArgumentTypeError,
                "`{arg}` must be made by optimizer_map(default_optimizer, optimizer_map), "
                "which also names the optimizer for the variables that no pattern matches; "
                "not a bare list of patterns.",
                name,
            )
        # Keras's own callables (a schedule, a layer) are never a routing function.
        keras_object = type(value).__module__.startswith("keras")
        if callable(value) and not isinstance(value, (type, Optimizer)) and not keras_object:
            if _takes_one_argument(value) is False:
                raise refuse(
                    ArgumentTypeError,
                    "`{arg}` must be a function of one argument (a variable) that returns "
                    "its optimizer, not {value}.",
                    name,
                    value,
                )
            warnings.warn(
                f"`{name}` is a function: it routes variables for training, but a model "
                "compiled with this optimizer cannot be saved and loaded again (Keras "
                "cannot write a function into a model file). Use optimizer_map() with "
                "patterns of variable paths for a model that you will save.",
                UnsavableOptimizerWarning,
                stacklevel=_stacklevel_outside_keras3r(),
            )
            return value
        raise refuse(
            ArgumentTypeError,
            "`{arg}` must be made by optimizer_map(), or be a function of a variable "
            "that returns its optimizer, not {value}.",
            name,
            value,
        )


def _takes_one_argument(value: Any) -> bool | None:
    """False for a callable that surely cannot be called with one argument."""
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(object())
    except TypeError:
        return False
    return True


def _stacklevel_outside_keras3r() -> int:
    """The `stacklevel` that points a warning at the first caller outside keras3r."""
    import os

    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = inspect.currentframe(), 0
    try:
        while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
            frame, level = frame.f_back, level + 1
        return level  # counted from the caller of this function, as warn() counts
    finally:
        del frame
