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


# The arguments after R's `...` in the newest optimizers: Muon's two that
# Keras 3.15 added after keras3 R 1.5, keyword-only in Python.
AFTER_DOTS = {
    "optimizer_lamb": [],
    "optimizer_muon": ["adam_weight_decay", "rms_rate"],
    "optimizer_schedule_free_adam_w": [],
}


@pytest.mark.parametrize("name", NEWEST)
def test_newest_optimizers_put_dots_last_but_muons_two_new_arguments(name: str) -> None:
    """Unlike the 1.1.0 family, `...` comes last, save for Muon's Keras 3.15 additions."""
    formals = [n for n, _ in CONTRACT[name].formals]
    assert formals[formals.index("...") + 1 :] == AFTER_DOTS[name]
    params = list(inspect.signature(getattr(keras3r, name)).parameters.values())
    assert params[-1].kind is inspect.Parameter.VAR_KEYWORD
    keyword_only = [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert keyword_only == AFTER_DOTS[name]
    positional = [p for p in params[:-1] if p.name not in keyword_only]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in positional)


def test_muon_by_position_means_what_it_means_in_keras3() -> None:
    """keras3 R 1.5's order: the fourth value is `epsilon`, not Keras's `adam_weight_decay`."""
    config = keras3r.optimizer_muon(0.01, 0.8, 0.9, 1e-6).get_config()
    assert (config["adam_beta_1"], config["adam_beta_2"], config["epsilon"]) == (0.8, 0.9, 1e-6)
    assert config["learning_rate"] == pytest.approx(0.01)
    assert config["adam_weight_decay"] == 0.004  # left at its default
    # Keras's own class reads the same call otherwise: the reason for the test.
    stock = keras.optimizers.Muon(0.01, 0.8, 0.9, 1e-6).get_config()
    assert (stock["adam_weight_decay"], stock["epsilon"]) == (1e-6, 1e-7)
    positional = [0.01, 0.8, 0.9, 1e-6, 0.004, None, None, None, False, 0.99, None, None,
                  None, "m", None, True, 3.4445, -4.775, 2.0315, 1.0, 0.95, 5, True]
    assert keras3r.optimizer_muon(*positional).name == "m"
    with pytest.raises(TypeError):  # adam_weight_decay and rms_rate: by keyword only
        keras3r.optimizer_muon(*positional, 0.01)
    opt = keras3r.optimizer_muon(adam_weight_decay=0.01, rms_rate=None)
    assert opt.get_config()["adam_weight_decay"] == 0.01 and opt.get_config()["rms_rate"] is None


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
