"""A pytest plugin that runs Keras's own tests with keras3r's per-instance behaviour.

keras3r promises that an optimizer it builds is still Keras. Keras ships the
tests that define what "still Keras" means (`keras/src/**/*_test.py` inside
the wheel); this plugin runs them with every optimizer that Keras constructs,
whoever constructs it (a test, `from_config`, `compile("adam")`, a loaded
file), given what `keras3r.adapt.attach()` gives the optimizers keras3r
builds.

How: each Keras optimizer class's `__init__` (and that of every subclass
defined later, the tests' own included) is wrapped so that `attach()` runs
once, when the outermost `__init__` of the instance returns, exactly where
`keras3r.build` calls it on the objects it returns.

Tests that fail on stock Keras in this environment (optional packages that
are not installed, and the like) are listed with their reason in
`stock_failures.txt`, next to this file, and marked as expected failures.
Any other failure fails the run, which is how "passes on stock Keras, fails
with keras3r" shows up. With keras3r a listed test that passes does not fail
the run (the summary names it: an optional package was installed since, or
keras3r makes it pass); on stock Keras it does, which keeps the list exact.
The summary also counts the optimizers prepared and the compiled updates
they ran, and a run that prepared none fails: the wrapping did not happen.

Environment:
  KERAS_BACKEND            the backend, one per pytest process (Keras reads it once).
  KERAS3R_SUITE_STOCK=1    stock Keras: no optimizer is touched, and every listed
                           test must fail (strict), which verifies the list.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
FAILURES_FILE = HERE / "stock_failures.txt"
STOCK = os.environ.get("KERAS3R_SUITE_STOCK", "") == "1"

_LINE = re.compile(r"^(?P<backends>\S+)\s+(?P<test>\S+)\s+#\s*(?P<reason>\S.*)$")


def read_failures(path: Path, backend: str) -> dict[str, str]:
    """Test id -> reason for the tests listed as failing on stock Keras with `backend`.

    One test a line: `BACKENDS TEST_ID  # reason`, where BACKENDS is `*` or a
    comma-separated list (tensorflow,jax,torch) and TEST_ID is pytest's id
    starting at `keras/src/`. `#` lines and blank lines are comments.
    """
    found: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise pytest.UsageError(
                f"{path.name}:{number}: expected `BACKENDS TEST_ID  # reason`, got {raw!r}"
            )
        backends = match["backends"].split(",")
        if "*" in backends or backend in backends:
            found[match["test"]] = match["reason"]
    return found


def keras_test_id(nodeid: str) -> str:
    """A node id from `keras/src/` on, wherever the wheel is installed."""
    at = nodeid.find("keras/src/")
    return nodeid[at:] if at >= 0 else nodeid


class Prepared:
    """What the wrapped constructors did in this process, for the summary and the checks."""

    def __init__(self) -> None:
        self.optimizers = 0
        self.compiled_calls = 0
        # Optimizers built during the current test, held until it ends so
        # that their counters can be read (their cycles may outlive the
        # test's frame until the garbage collector runs).
        self.current: list[Any] = []

    def collect(self) -> None:
        from keras3r.adapt.eager_apply import stats

        for optimizer in self.current:
            self.compiled_calls += stats(optimizer)["compiled_calls"]
        self.current.clear()


PREPARED = Prepared()
# Instances whose outermost __init__ is running (by id): attach() waits for it.
_CONSTRUCTING: set[int] = set()
_WRAPPED = "__keras3r_suite_wrapped__"


def _wrap_init(cls: type) -> None:
    """Make `cls(...)` end with keras3r's attach(), as keras3r.build does."""
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, _WRAPPED, False):
        return  # inherits an __init__ that is (or will be) wrapped

    from keras3r.adapt import attach

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        key = id(self)
        if key in _CONSTRUCTING:  # a super().__init__ call: not the end yet
            init(self, *args, **kwargs)
            return
        _CONSTRUCTING.add(key)
        try:
            init(self, *args, **kwargs)
        finally:
            _CONSTRUCTING.discard(key)
        attach(self)
        PREPARED.optimizers += 1
        PREPARED.current.append(self)

    setattr(__init__, _WRAPPED, True)
    cls.__init__ = __init__  # type: ignore[misc]


def _all_subclasses(cls: type) -> list[type]:
    seen: list[type] = [cls]
    for sub in cls.__subclasses__():
        for found in _all_subclasses(sub):
            if found not in seen:
                seen.append(found)
    return seen


def install() -> None:
    """Wrap every Keras optimizer class now defined, and each one defined later."""
    import keras  # noqa: F401  (defines the backend's optimizer classes)
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    from keras3r.adapt import eager_apply

    # Keras's tests take an optimizer a step or two: compile from the first,
    # so that they check keras3r's compiled update, not Keras's path, which
    # keras3r keeps for a new structure's first calls.
    eager_apply.KERAS_CALLS_BEFORE_COMPILING = 0
    for cls in _all_subclasses(BaseOptimizer):
        _wrap_init(cls)
    own = BaseOptimizer.__dict__.get("__init_subclass__")

    def __init_subclass__(cls: type, **kwargs: Any) -> None:
        if own is not None:
            own.__func__(cls, **kwargs)
        else:
            super(BaseOptimizer, cls).__init_subclass__(**kwargs)
        _wrap_init(cls)

    BaseOptimizer.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]


def _keras_test_environment() -> None:
    """What Keras's own test configuration (not shipped in the wheel) sets up.

    JAX's default dtypes stay at 32 bits when a test enables x64, and torch is
    imported before TensorFlow, which can crash the other way round; the
    tests assume both. Done here, before any test module imports Keras.
    """
    os.environ.setdefault("JAX_DEFAULT_DTYPE_BITS", "32")
    try:
        import torch  # noqa: F401
    except ImportError:  # torch is part of the dev environment; without it, no matter
        pass


def pytest_configure(config: pytest.Config) -> None:
    _keras_test_environment()
    # Keras's own marker: every backend run here can train.
    config.addinivalue_line("markers", "requires_trainable_backend: needs a backend that trains")
    if not STOCK:
        install()


def _backend() -> str:
    import keras

    return str(keras.backend.backend())


# First, before `-k` deselects: a listed test left out by `-k` is not stale.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    failures = read_failures(FAILURES_FILE, _backend())
    config.stash[_LISTED] = failures
    collected = set()
    for item in items:
        test = keras_test_id(item.nodeid)
        collected.add(test)
        reason = failures.get(test)
        if reason is not None:
            mark = pytest.mark.xfail(reason=f"fails on stock Keras: {reason}", strict=STOCK)
            item.add_marker(mark)
    # A listed test that was not collected in a run of its whole file is a
    # stale entry (renamed upstream): say so rather than carry it silently.
    files = {keras_test_id(str(item.path)) for item in items}
    config.stash[_STALE] = sorted(
        t for t in failures if t not in collected and t.split("::")[0] in files
    )


_LISTED = pytest.StashKey[dict[str, str]]()
_STALE = pytest.StashKey[list[str]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    yield
    if not STOCK:
        PREPARED.collect()


# Listed tests that passed: the list may be shorter now (a package installed).
_xpassed: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed and hasattr(report, "wasxfail"):
        _xpassed.append(keras_test_id(report.nodeid))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    mode = "stock Keras" if STOCK else "keras3r"
    write = terminalreporter.write_line
    write(f"keras suite ({mode}, backend {_backend()}):")
    if not STOCK:
        write(
            f"  optimizers prepared by keras3r: {PREPARED.optimizers}; "
            f"compiled eager updates run: {PREPARED.compiled_calls}"
        )
        if PREPARED.optimizers == 0:
            write(
                "  FAILED: no optimizer was given keras3r's behaviour, so these tests "
                "proved nothing about it (the constructors were not wrapped, or the "
                "selected tests build no optimizer)",
                red=True,
            )
    if _xpassed:
        write(f"  listed as failing on stock Keras but passed ({len(_xpassed)}):")
        for test in _xpassed:
            write(f"    {test}")
    for test in config.stash.get(_STALE, []):
        write(f"  listed in {FAILURES_FILE.name} but not collected: {test}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A plugin that prepared nothing would pass vacuously: make that a failure.
    if not STOCK and session.testscollected and PREPARED.optimizers == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
