"""A multi optimizer's routing must survive saving and loading the model.

Keras's MultiOptimizer gives each variable to an optimizer by matching the
patterns of its OptimizerMap against the variable's path, once, when it is
built. A saved model keeps the patterns and, in order, the state of every
optimizer; loading builds the optimizer again on the loaded model and matches
the patterns again, against the paths that the *loaded* variables have. Those
are not always the paths of training: a layer built inside a model's name
scope (every layer of a Sequential model, every layer of a nested model) gets
the model's name in front (`sequential/enc/kernel`), and the loaded copy of
that layer is built outside it (`enc/kernel`). A pattern that matches one form
and not the other sends the variable to another optimizer after loading;
Keras then finds the saved state the wrong size and skips it with a warning,
and training goes on from fresh moments.

keras3r cannot change how plain Keras routes a loaded model (the file must
load without keras3r), and rewriting the user's patterns would silently change
what they match. So it checks, when the optimizer is built, that each variable
goes to the same optimizer under the path it has now and the path it will have
after loading, and refuses to build otherwise, naming the variable, both
paths, and a pattern that works.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Callable
from typing import Any

from keras3r.adapt.instance import bind, method_in_force


class RoutingError(ValueError):
    """A multi optimizer's patterns would route a variable differently after loading."""


class RoutingWarning(UserWarning):
    """The same, where keras3r cannot see the model and so cannot be sure."""


def is_multi_optimizer(obj: Any) -> bool:
    from keras.optimizers import MultiOptimizer

    return isinstance(obj, MultiOptimizer)


def attach(optimizer: Any) -> Any:
    """Make a MultiOptimizer check its routing when it is built; return it.

    Its class and config stay Keras's.
    """
    return check_on_build(optimizer, check_routing)


def check_on_build(optimizer: Any, check: Callable[[Any, list[Any], Any], None]) -> Any:
    """Make `optimizer` run `check(optimizer, variables, model)` before it is first built.

    Returns `optimizer` itself.
    """
    build = method_in_force(optimizer, "build")

    def checked_build(self: Any, var_list: Any) -> Any:
        if not self.built:
            check(self, list(var_list), owning_model(var_list))
        return build(self, var_list)

    bind(optimizer, "build", checked_build)
    return optimizer


def owning_model(var_list: Any) -> Any:
    """The Keras model whose variables these are, when a model is building the optimizer.

    Keras passes `build()` only the variables; the model that owns them (which
    decides their paths after loading) is the caller: `fit()`, `evaluate()`
    and Keras's other build paths call `self.optimizer.build(
    self.trainable_variables)` from a method of the model, and the
    BackupAndRestore callback from one of its own, with the model as
    `self.model`. A candidate counts only if every variable is one of its
    trainable variables. None when no such model is found (an `apply()` on
    variables given by hand).
    """
    import keras

    wanted = {id(v) for v in var_list}
    frame = inspect.currentframe()
    try:
        for _ in range(8):
            if frame is None:
                return None
            owner = frame.f_locals.get("self")
            for candidate in (owner, getattr(owner, "model", None)):
                if isinstance(candidate, keras.Model) and wanted <= {
                    id(v) for v in candidate.trainable_variables
                }:
                    return candidate
            frame = frame.f_back
        return None
    finally:
        del frame  # a frame in a local keeps every frame above it alive


def model_names(model: Any) -> set[str]:
    """Names of `model` and of every model nested in it, through their layers."""
    import keras

    names, todo = set(), [model]
    while todo:
        current = todo.pop()
        names.add(current.name)
        todo += [layer for layer in current.layers if isinstance(layer, keras.Model)]
    return names


def path_after_loading(path: str, model_names: set[str]) -> str:
    """The path that a variable at `path` has once its model is saved and loaded.

    Loading builds each layer of a model outside the name scopes of the models
    around it, so a path loses every leading part up to the innermost model's
    name; the layer's own name and the parts below it (the sublayers of a
    custom layer, then the variable's name) stay.
    """
    parts = path.split("/")
    keep_from = 0
    for i, part in enumerate(parts[:-2]):  # never the layer itself nor the variable
        if part in model_names:
            keep_from = i + 1
    return "/".join(parts[keep_from:])


def _paths_it_may_have(path: str) -> list[str]:
    """Without the model: every whole-part suffix that keeps a layer and a variable."""
    parts = path.split("/")
    return ["/".join(parts[i:]) for i in range(1, len(parts) - 1)]


def later_paths(path: str, model_names: set[str] | None) -> list[str]:
    """The path after loading where the model's names are known, else every one it may have."""
    if model_names is not None:
        return [path_after_loading(path, model_names)]
    return _paths_it_may_have(path)


def refuse(message: str, sure: bool) -> None:
    """Raise RoutingError where keras3r saw the model; otherwise only warn.

    Built from variables given by hand (an apply() outside fit()): without
    their model, keras3r cannot tell which leading parts of the path are
    models' names (dropped on loading) and which are custom layers' (kept).
    Say it, but do not stop a training that may never be saved.
    """
    if sure:
        raise RoutingError(message)
    warnings.warn(
        message + " (keras3r could not see the model, so this may not happen; "
        "fit() lets it check for sure.)",
        RoutingWarning,
        # Past refuse(), the check, checked_build() and Keras's build caller.
        stacklevel=5,
    )


def _route(routes: Any, path: str) -> tuple[str, Any]:
    """Keras's own choice for `path`: ("pattern", optimizer), ("default", ...) or an error."""
    try:
        chosen = routes[path]  # OptimizerMap.__getitem__: Keras's matching, not a copy
    except ValueError:
        return ("several patterns", None)
    for pattern, opt in routes.items():
        if opt is chosen and (pattern == path or re.fullmatch(pattern, path)):
            return (f"pattern {pattern!r}", chosen)
    return ("the default", chosen)


def _describe(route: tuple[str, Any]) -> str:
    how, opt = route
    if opt is None:
        return "no optimizer (it matches several patterns, which Keras refuses)"
    return f"optimizer {opt.name!r} ({how})"


def _suggestion(path: str, later: str, routes: Any) -> str:
    """A pattern that takes the variable under both of its paths, where one can be given."""
    for pattern in routes:
        if re.fullmatch(pattern, later) and not re.fullmatch(pattern, path):
            return f"{'(.*/)?' + pattern!r}"
        prefix = path[: len(path) - len(later)]
        if prefix and pattern.startswith(prefix) and re.fullmatch(pattern, path):
            return f"{'(.*/)?' + pattern[len(prefix):]!r}"
    return ""


def check_routing(optimizer: Any, var_list: list[Any], model: Any) -> None:
    """Raise RoutingError for a variable routed one way now and another after loading."""
    from keras.optimizers import OptimizerMap

    from keras3r import compat

    routes = compat.multi_optimizer_routes(optimizer)
    if not isinstance(routes, OptimizerMap):
        # A function cannot be saved at all (said when it was given); None:
        # a Keras that keeps the map elsewhere, which this check cannot read.
        return
    names = model_names(model) if model is not None else None
    for variable in var_list:
        path = variable.path
        now = _route(routes, path)
        for other in later_paths(path, names):
            then = _route(routes, other)
            if then[1] is now[1]:
                continue
            sure = names is not None
            suggestion = _suggestion(path, other, routes)
            message = (
                f"optimizer_multi(): the variable {path!r} goes to {_describe(now)}, "
                f"but once the model is saved and loaded its path "
                f"{'is' if sure else 'can be'} {other!r}, which goes to "
                f"{_describe(then)}: the loaded model would drop the optimizers' "
                "saved state. Write each pattern from the layer's name on and start "
                "it with '(.*/)?', so that it matches the path with and without the "
                "names of the models in front"
                + (f", such as {suggestion}." if suggestion else ".")
            )
            refuse(message, sure)
            return
