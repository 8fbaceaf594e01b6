"""Refusals: a refused argument, and its message in Python's or R's spelling.

Every check of keras3r raises one of these.  The message is kept as a template
so that each language can word it its own way: Python writes `True`, `None`,
`[1.0, 2.0]` and `boundaries[1]`; R writes `TRUE`, `NULL`, `c(1, 2)` and
`boundaries[[2]]`, and only R knows how the user wrote the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# The words a refusal may use that each language spells its own way.
PYTHON_WORDS = {"true": "True", "false": "False", "null": "None"}
R_WORDS = {"true": "TRUE", "false": "FALSE", "null": "NULL"}
# How each language names element `index` (0-based; `number` is 1-based) of
# the sequence argument `name`.
PYTHON_ELEMENT = "{name}[{index}]"
R_ELEMENT = "{name}[[{number}]]"
# `{{` and `}}` stand for a literal brace: text the user wrote (a pattern, a
# regular-expression error) is put into a template through literal(), so
# that a `{null}` inside it is never taken for a placeholder.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(arg|value|true|false|null)\}")
_BRACES = {"{{": "{", "}}": "}"}


def literal(text: str) -> str:
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
        super().__init__(self.render(describe, PYTHON_WORDS, PYTHON_ELEMENT))

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
        return (value_in_r or "").join(self.message_in_r_parts())

    def message_in_r_parts(self) -> list[str]:
        """The message in R's spelling, cut where the refused value goes.

        Only R can write the value as the user wrote it (`5L`, `c(1, 2)`), and
        it joins the parts with it, so that it needs no second call into Python.
        """
        cut = "\x00"  # no template holds it: R strings cannot
        return self.render(lambda _value: cut, R_WORDS, R_ELEMENT).split(cut)

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


def describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
