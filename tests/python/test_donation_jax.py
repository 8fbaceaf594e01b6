"""No buffer the user holds is donated (deleted) by keras3r's compiled update on JAX.

keras3r's eager `apply()` on JAX donates the old buffers of the weights and
slots so that XLA updates them in place. jax_donation_driver.py (a process
of its own, KERAS_BACKEND=jax) holds one weight's and one slot's buffer in
every way a user can, runs more updates, and reports; here each holder must
still read its old values, no JAX array it holds may be deleted, and the
update must still have happened on the compiled path. Where nothing is held
the update must still be in place: donation is kept where it is safe.

The unit tests below drive the donation rule itself on plain JAX arrays,
including the fallback for a JAX that no longer lists live arrays newest
first.
"""

from __future__ import annotations

from typing import Any

import pytest

from driver_reports import run_driver

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from keras3r import compiled_apply_jax  # noqa: E402

HOLDERS = [
    "value",
    "numpy_view",
    "numpy_of_variable",
    "convert_to_numpy",
    "convert_to_tensor",
    "list",
    "closure",
    "another_variable",
    "dlpack_numpy",
    "dlpack_torch",
    "device_put_alias",
    "shard_alias",
    "single_device_arrays_alias",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_driver("jax_donation_driver.py", "jax", tmp_path_factory.mktemp("jax_donation"))


def test_every_holder_is_exercised(report: dict[str, Any]) -> None:
    assert sorted(report["holders"]) == sorted(HOLDERS)


@pytest.mark.parametrize("holder", HOLDERS)
def test_a_held_buffer_keeps_its_values_and_is_not_deleted(report, holder: str) -> None:
    run = report["holders"][holder]
    assert run["errors"] == [], run["errors"]
    assert run["deleted"] == [False, False]  # the weight's holder, the slot's holder
    assert run["unchanged"] == [True, True]
    assert run["weight_moved"]
    assert run["stats"]["keras_calls"] == 0 and run["stats"]["compiled_calls"] == 3


def test_the_numpy_and_dlpack_holders_really_share_the_device_buffer(report) -> None:
    # Else the holders above would prove nothing on this machine's backend.
    if report["platform"] == "cpu":
        assert report["zero_copy"] == {
            "numpy_view": True,
            "dlpack_numpy": True,
            "device_put_alias": True,
        }
    else:  # a GPU: np.asarray copies to the host, aliases still share
        assert report["zero_copy"]["device_put_alias"]


def test_a_model_s_weights_survive_compiled_updates(report) -> None:
    run = report["model_weights"]
    assert run["get_weights_unchanged"] and run["arrays_unchanged"]
    assert run["arrays_deleted"] == [False] * 4
    assert run["moved"] and run["stats"]["keras_calls"] == 0


@pytest.mark.parametrize("name", ["nothing_held", "read_not_held"])
def test_buffers_nobody_holds_are_still_updated_in_place(report, name: str) -> None:
    if report["platform"] != "cpu":
        pytest.skip("in-place addresses are checked on the CPU backend")
    run = report[name]
    assert run["in_place"] == [True, True]
    assert run["stats"]["traces"] == 1


def test_donation_resumes_once_a_holder_is_dropped(report) -> None:
    if report["platform"] != "cpu":
        pytest.skip("in-place addresses are checked on the CPU backend")
    run = report["released"]
    assert run["in_place"]
    assert run["stats"]["traces"] == 2  # one update without donation, one with


def test_plain_on_jax_is_stock_keras(report) -> None:
    run = report["plain"]
    assert "apply" in run["added"] and run["left"] == []
    assert run["same"]  # bit for bit: both run Keras's own eager path
    assert run["stats"] == {"traces": 0, "compiled_calls": 0, "keras_calls": 0, "entries": 0}


# --- The rule itself, on plain JAX arrays ------------------------------------------------


class Holder:
    """Stands for a Keras variable: the one object that should reference the array."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _holders(n: int = 3) -> list[Holder]:
    return [Holder(jnp.arange(4.0) + i) for i in range(n)]


def _verdict(holders: list[Holder]) -> bool:
    return compiled_apply_jax._donatable_groups([[h.value for h in holders]])[0]


def test_arrays_held_by_their_holder_alone_may_be_donated() -> None:
    assert _verdict(_holders())


@pytest.mark.parametrize(
    "alias",
    [
        lambda x: x,
        lambda x: jax.device_put(x, jax.devices()[0]),
        lambda x: x.addressable_shards[0].data,
        lambda x: jax.make_array_from_single_device_arrays(x.shape, x.sharding, [x]),
    ],
    ids=["same_object", "device_put", "shard_data", "single_device_arrays"],
)
def test_an_array_over_the_same_buffer_stops_donation(alias: Any) -> None:
    holders = _holders()
    kept = alias(holders[1].value)
    assert not _verdict(holders)
    del kept
    assert _verdict(_holders())


def test_a_jax_that_lists_live_arrays_in_another_order_is_scanned_whole(monkeypatch) -> None:
    # The short scan relies on newest-first; reversed, the rule must notice and
    # look at every live array, still finding the alias.
    newest_first = jax.live_arrays
    monkeypatch.setattr(jax, "live_arrays", lambda *a: list(reversed(newest_first(*a))))
    holders = _holders()
    assert _verdict(holders)
    kept = jax.device_put(holders[2].value, jax.devices()[0])
    assert not _verdict(holders)
    del kept


def test_an_array_missing_from_the_live_list_is_not_donated(monkeypatch) -> None:
    holders = _holders()
    hidden = id(holders[0].value)
    listed = jax.live_arrays
    monkeypatch.setattr(jax, "live_arrays", lambda *a: [x for x in listed(*a) if id(x) != hidden])
    assert not _verdict(holders)


def test_an_unexpected_jax_answers_no_donation(monkeypatch) -> None:
    from keras3r import compat

    def gone(array: Any) -> Any:
        raise AttributeError("_arrays")

    monkeypatch.setattr(compat, "jax_device_arrays", gone)
    assert not _verdict(_holders())
