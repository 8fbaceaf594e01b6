"""Every function has keras3 R's signature, checked against the contract file."""

from __future__ import annotations

import inspect

import keras
import pytest

import keras3r
from keras3r.spec import SPECS
from keras3r.spec.model import python_default
from spec_table import rows

CONTRACT = rows()
# Functions that newest-signatures.md describes without a fixed signature.
UNFIXED = {"optimizer_multi", "optimizer_map"}
NEWEST = ["optimizer_lamb", "optimizer_muon", "optimizer_schedule_free_adam_w"]


def test_the_contract_and_the_spec_list_the_same_functions() -> None:
    assert sorted(SPECS) == sorted(keras3r.__all__)
    assert set(CONTRACT) <= set(SPECS)
    assert set(SPECS) - set(CONTRACT) <= UNFIXED
    assert len(CONTRACT) == 18 + len(NEWEST)
    assert set(NEWEST) <= set(CONTRACT)


@pytest.mark.parametrize("name", NEWEST)
def test_newest_optimizers_put_dots_last(name: str) -> None:
    """Unlike the 1.1.0 family, every argument comes before `...` (keyword or positional)."""
    assert CONTRACT[name].formals[-1] == ("...", None)
    params = list(inspect.signature(getattr(keras3r, name)).parameters.values())
    assert params[-1].kind is inspect.Parameter.VAR_KEYWORD
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params[:-1])


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_spec_renders_the_contract_signature(name: str) -> None:
    row = CONTRACT[name]
    expected = ", ".join(n if lit is None else f"{n} = {lit}" for n, lit in row.formals)
    assert SPECS[name].r_signature() == f"({expected})"
    assert SPECS[name].keras_class.rsplit(".", 1)[1] == row.keras_class


def _formals_with_position(formals: list) -> list[tuple[str, str | None, bool]]:
    """(name, R literal, comes after `...`) for each formal but `...` itself."""
    out, after_dots = [], False
    for name, literal in formals:
        if name == "...":
            after_dots = True
        else:
            out.append((name, literal, after_dots))
    return out


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_python_signature_mirrors_r(name: str) -> None:
    """Same names, order and defaults; keyword-only after R's `...`."""
    params = list(inspect.signature(getattr(keras3r, name)).parameters.values())
    formals = CONTRACT[name].formals
    if any(n == "..." for n, _ in formals):
        assert params[-1].kind is inspect.Parameter.VAR_KEYWORD
        params = params[:-1]
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params)
    expected = _formals_with_position(formals)
    assert [p.name for p in params] == [n for n, _, _ in expected]
    for param, (_, literal, after_dots) in zip(params, expected):
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        if after_dots:
            kind = inspect.Parameter.KEYWORD_ONLY
        assert param.kind is kind, param.name
        if literal is None:
            assert param.default is inspect.Parameter.empty, param.name
        else:
            default = python_default(literal)
            assert param.default == default, param.name
            # An R double is a Python float, an R integer (2000L) a Python int.
            assert type(param.default) is type(default), param.name


def test_literal_types_follow_r() -> None:
    assert python_default("2000L") == 2000 and isinstance(python_default("2000L"), int)
    assert isinstance(python_default("32768"), float)
    assert python_default('"adamw"') == "adamw"
    assert python_default("NULL") is None and python_default("FALSE") is False
    assert python_default("1e-04") == 1e-4


def test_adam_w_signature_shows_name_then_keyword_only_arguments() -> None:
    text = str(inspect.signature(keras3r.optimizer_adam_w))
    # `str | None`: None (keras3 R's NULL) lets Keras name the optimizer itself.
    assert "name: 'str | None' = 'adamw', *, loss_scale_factor" in text
    assert text.endswith("**kwargs: 'Any') -> 'keras.optimizers.AdamW'")


def test_keyword_only_arguments_cannot_be_positional() -> None:
    positional = [0.001, 0.004, 0.9, 0.999, 1e-7, False, None, None, None, False, 0.99, None, "x"]
    assert keras3r.optimizer_adam_w(*positional).name == "x"
    with pytest.raises(TypeError):
        keras3r.optimizer_adam_w(*positional, 2.0)


def test_keras_really_differs_on_the_name_default() -> None:
    # The reason names are carried over explicitly: Keras calls its AdamW "adam_w".
    assert keras.optimizers.AdamW().name != "adamw"
    assert keras3r.optimizer_adam_w().name == "adamw"
