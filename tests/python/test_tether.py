"""The tether: each spec entry against the Keras API it was written against.

`.tether/<function>.txt` (written by `tools/tether.py --update`) holds the
Keras class's signature and docstring as they were when the spec entry was
reviewed. A Keras release that adds, removes or changes an argument, or
rewords its documentation, fails here naming the function and the change; a
spec entry without a snapshot fails until the tool is run. The spec is
checked against its snapshot too, less the reviewed differences of
`.tether/accepted.toml`. The last tests swap a Keras class for a fake one
to show that each kind of change is caught.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import keras
import pytest

import tether
from keras3r.spec import SPECS


def tether_problems(name: str) -> list[str]:
    """What the test reports for one spec entry: empty when it is tethered and current."""
    spec = SPECS[name]
    snapshot = tether.stored(name)
    if snapshot is None:
        return [
            f"{name}: no snapshot in .tether/; run `.venv/bin/python tools/tether.py "
            "--update` and review the spec against it"
        ]
    return [
        f"{name}: Keras {keras.__version__} differs from the snapshot (Keras "
        f"{snapshot.keras_version}): {change}"
        for change in tether.changes(snapshot, tether.live(spec))
    ]


def spec_problems(name: str, reviewed: list[tether.Accepted]) -> list[str]:
    snapshot = tether.stored(name)
    assert snapshot is not None, f"{name}: no snapshot"
    found = tether.spec_differences(SPECS[name], snapshot)
    return [d.describe() for d in tether.unaccepted(found, reviewed)]


def test_every_spec_entry_has_a_snapshot() -> None:
    missing = [name for name in SPECS if tether.stored(name) is None]
    assert not missing, (
        f"spec entries without a snapshot: {', '.join(missing)}; run "
        "`.venv/bin/python tools/tether.py --update` and review them"
    )


def test_no_snapshot_without_a_spec_entry() -> None:
    stale = sorted(p.stem for p in tether.TETHER.glob("*.txt") if p.stem not in SPECS)
    assert not stale, f"snapshots of no spec entry: {stale}; run tools/tether.py --update"


@pytest.mark.parametrize("name", list(SPECS))
def test_installed_keras_matches_the_snapshot(name: str) -> None:
    problems = tether_problems(name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", list(SPECS))
def test_spec_agrees_with_its_snapshot(name: str) -> None:
    problems = spec_problems(name, tether.accepted())
    assert not problems, "\n".join(problems)


def test_every_accepted_difference_is_still_needed_and_reasoned() -> None:
    reviewed = tether.accepted()
    assert reviewed and all(len(entry.reason.split()) >= 8 for entry in reviewed)
    for name in SPECS:
        snapshot = tether.stored(name)
        if snapshot is not None:
            tether.unaccepted(tether.spec_differences(SPECS[name], snapshot), reviewed)
    unused = [f"{e.functions} {e.argument} {e.kind}: {e.keras}" for e in reviewed if not e.used]
    assert not unused, f"accepted.toml entries that match nothing any more: {unused}"


def test_gradient_accumulation_sentences_are_found_and_accepted_with_a_reason() -> None:
    # Keras 3.15's two sentences that keras3 R's page (and so the Arguments
    # section) lacks: reported, then covered by a reviewed entry.
    snapshot = tether.stored("optimizer_adam_w")
    assert snapshot is not None
    found = [
        d
        for d in tether.spec_differences(SPECS["optimizer_adam_w"], snapshot)
        if d.argument == "gradient_accumulation_steps"
    ]
    assert [d.keras.split()[0] for d in found] == ["EMA", "Learning"]
    assert tether.unaccepted(found, tether.accepted()) == []
    # The facts are in the page all the same, in the Details section.
    assert "gradient_accumulation_steps" in SPECS["optimizer_adam_w"].details


def test_snapshot_text_round_trips() -> None:
    for name, spec in SPECS.items():
        snapshot = tether.live(spec)
        assert tether.parse(snapshot.text()) == snapshot, name


# --- The test fails when Keras changes -------------------------------------------


def _fake(base: type, init: Any = None, doc: str | None = None) -> type:
    """A stand-in for a Keras class: another signature or docstring."""
    attrs: dict[str, Any] = {"__doc__": base.__doc__ if doc is None else doc}
    if init is not None:
        attrs["__init__"] = init
    return type(base.__name__, (base,), attrs)


def _init_with(base: type, parameters: list[inspect.Parameter]) -> Any:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)

    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *parameters]
    )
    return __init__


def _params(base: type) -> list[inspect.Parameter]:
    return [p for p in inspect.signature(base.__init__).parameters.values() if p.name != "self"]


def _swap(monkeypatch: pytest.MonkeyPatch, fake: type) -> None:
    monkeypatch.setattr(keras.optimizers, fake.__name__, fake)


def test_an_added_argument_fails_naming_function_and_argument(monkeypatch) -> None:
    base = keras.optimizers.AdamW
    params = _params(base)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    extra = inspect.Parameter("orthogonalize", kind, default=False)
    _swap(monkeypatch, _fake(base, _init_with(base, params[:-1] + [extra, params[-1]])))
    problems = tether_problems("optimizer_adam_w")
    assert len(problems) == 1
    assert problems[0].startswith("optimizer_adam_w: Keras")
    assert "argument added: `orthogonalize = False`" in problems[0]


def test_a_removed_argument_and_a_changed_default_fail(monkeypatch) -> None:
    base = keras.optimizers.AdamW
    params = [p for p in _params(base) if p.name != "amsgrad"]
    params = [p.replace(default=0.01) if p.name == "weight_decay" else p for p in params]
    _swap(monkeypatch, _fake(base, _init_with(base, params)))
    problems = "\n".join(tether_problems("optimizer_adam_w"))
    assert "argument removed: `amsgrad` (was `amsgrad = False`)" in problems
    assert "default changed: `weight_decay` 0.004 -> 0.01" in problems


def test_a_new_sentence_in_an_argument_doc_fails_with_a_diff(monkeypatch) -> None:
    base = keras.optimizers.AdamW
    old = "noise at each update step."
    assert old in base.__doc__
    doc = base.__doc__.replace(old, old + " Accumulation is skipped on the first step.")
    _swap(monkeypatch, _fake(base, doc=doc))
    problems = tether_problems("optimizer_adam_w")
    assert len(problems) == 1
    assert "documentation of `gradient_accumulation_steps` changed" in problems[0]
    assert "+ Accumulation is skipped on the first step." in problems[0]


def test_other_doc_text_changes_fail_with_a_short_diff(monkeypatch) -> None:
    base = keras.optimizers.schedules.CosineDecay
    doc = base.__doc__.replace("SGDR: Stochastic Gradient Descent", "SGDR: Stochastic Descent")
    monkeypatch.setattr(keras.optimizers.schedules, "CosineDecay", _fake(base, doc=doc))
    problems = tether_problems("learning_rate_schedule_cosine_decay")
    assert len(problems) == 1
    assert "doc text changed:" in problems[0]
    assert "-SGDR: Stochastic Gradient Descent" in problems[0]
    assert "+SGDR: Stochastic Descent" in problems[0]


def test_a_schedule_signature_change_fails(monkeypatch) -> None:
    base = keras.optimizers.schedules.ExponentialDecay
    params = [p.replace(default="Decay") if p.name == "name" else p for p in _params(base)]
    fake = _fake(base, _init_with(base, params))
    monkeypatch.setattr(keras.optimizers.schedules, "ExponentialDecay", fake)
    problems = tether_problems("learning_rate_schedule_exponential_decay")
    assert "default changed: `name` 'ExponentialDecay' -> 'Decay'" in "\n".join(problems)


def test_a_spec_entry_without_a_snapshot_fails(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tether, "TETHER", tmp_path)
    problems = tether_problems("optimizer_sgd")
    assert problems and "no snapshot" in problems[0] and "tools/tether.py --update" in problems[0]


def test_the_tool_writes_a_snapshot_for_every_entry_and_drops_stale_ones(
    monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tether, "TETHER", tmp_path)
    (tmp_path / "optimizer_gone.txt").write_text("old\n", encoding="utf-8")
    report = tether.update()
    assert sorted(p.stem for p in tmp_path.glob("*.txt")) == sorted(SPECS)
    assert any("removed" in line and "optimizer_gone" in line for line in report)
    assert tether.update() == []  # a second run finds nothing to change
    for name in SPECS:
        assert tether_problems(name) == []


def test_an_unreviewed_spec_difference_fails(monkeypatch) -> None:
    # Once the snapshot is updated to a Keras that documents more, an argument
    # whose spec text follows Keras's must carry the new sentence, or accept it.
    snapshot = tether.stored("optimizer_adam")
    assert snapshot is not None
    old = "noise at each update step."
    changed = tether.Snapshot(
        snapshot.function,
        snapshot.keras_class,
        snapshot.keras_version,
        snapshot.parameters,
        snapshot.docstring.replace(old, old + " Sparse gradients are densified first."),
    )
    found = tether.unaccepted(
        tether.spec_differences(SPECS["optimizer_adam"], changed), tether.accepted()
    )
    assert [d.describe() for d in found] == [
        "optimizer_adam: Keras documents `gradient_accumulation_steps` with a sentence "
        "the spec lacks: 'Sparse gradients are densified first.'"
    ]
