"""Several optimizers in one: Keras's MultiOptimizer and the OptimizerMap it routes by.

No keras3 R release wraps these two classes, so their signatures follow the
family's conventions: Keras's own arguments in Keras's order, R's `...` last
where Keras's base class could add arguments (the optimizer), none where it
cannot (the map, which is not an optimizer). In R, the patterns are the names
of a named list.
"""

from __future__ import annotations

from keras3r.checks import Text
from keras3r.routing_checks import OptimizerPatterns, OptimizerRouting, RoutableOptimizer
from keras3r.spec import shared
from keras3r.spec.model import Arg, FunctionSpec
from keras3r.spec.spelling import only_in

FAMILY = "optimizers"

_ROUTING = (
    "Keras gives each variable to the first optimizer of the map whose name equals "
    "the variable's path, else to the one whose pattern matches the whole path "
    "(Python's `re.fullmatch()`), else to `default_optimizer`; a path that two "
    "patterns match is an error. The choice is made once, when the optimizer is "
    "built at the first training step, and every step after it updates each "
    "variable with its own optimizer's state."
)

_RELOAD = (
    "A variable's path depends on how its model was built. In a sequential "
    "model the path starts with the model's name (`\"sequential/enc/kernel\"`), "
    "and so does it in a model nested in another one; once the model is saved "
    "and loaded, the same variable is `\"enc/kernel\"`. Keras matches the "
    "patterns again after loading, and a pattern that then picks another "
    "optimizer for a variable would leave the saved state of the optimizers "
    "unused, with only a warning from Keras. keras3r therefore checks, when the "
    "optimizer is built, that every variable goes to the same optimizer under "
    "both paths, and stops with an error that names the variable, the two "
    "paths and a pattern that matches both. Start a pattern with `(.*/)?` and "
    "write it from the layer's name on: `\"(.*/)?enc/.*\"` takes the variables "
    "of the layer `enc` in any model, before and after loading. keras3r checks "
    "the patterns rather than rewriting them, because the file must load in "
    "plain Keras, which reads the patterns exactly as they were given. Where it "
    "cannot see the model (an `opt$apply()` on variables given by hand), it "
    "cannot tell the names of models from those of layers, and warns instead."
)

_MULTI_RATE = (
    "A multi optimizer has no learning rate of its own: Keras raises an error "
    "when `opt$learning_rate` is read or set. Each optimizer in `opt$optimizers` "
    "has its own."
)
_MULTI_RATE_PRINTED = only_in(
    "R", "Printing a multi optimizer lists its optimizers with their patterns and learning rates."
)

_FUNCTION_MAP = (
    "A function given as `optimizer_map` is called once per variable, when the "
    "optimizer is built, and must return the variable's optimizer. "
    "Keras cannot write a function into a model file, so keras3r warns at the "
    "call that such a model cannot be saved and loaded; use `optimizer_map()` "
    "for a model that you will save."
)
_R_FUNCTION_MAP = only_in(
    "R",
    "An R function works as `optimizer_map` too: it is called when the optimizer "
    "is built, before the first step, and so on R's own thread.",
)

# R users give the patterns as a named list, Python users as a dict.
_PATTERNS_TAIL = (
    "The same optimizer may appear under several patterns. Loss-scale and multi "
    "optimizers cannot be elements. Defaults to `NULL`, no patterns."
)
_PATTERNS_DOC = (
    only_in(
        "R",
        "A named list of optimizers, or `NULL`. Each name is a regular expression "
        "that a variable's whole path must match (see Details), and each element "
        "the optimizer for the variables it matches. " + _PATTERNS_TAIL,
    )
    + "\n\n"
    + only_in(
        "Python",
        "A dict of optimizers, or `NULL`. Each key is a regular expression that a "
        "variable's whole path must match (see Details), and each value the "
        "optimizer for the variables it matches. " + _PATTERNS_TAIL,
    )
)

MAP = FunctionSpec(
    name="optimizer_map",
    keras_class="optimizers.OptimizerMap",
    family=FAMILY,
    title="Which optimizer updates which variable, for optimizer_multi().",
    description=(
        "An optimizer map names, by patterns of variable paths, the optimizer "
        "of each variable of a model, with a default for the variables that no "
        "pattern matches. Give it to [optimizer_multi()] to train parts of a "
        "model with different optimizers: an encoder with a small learning "
        "rate and a new head with a large one, or embeddings with Adam and "
        "everything else with SGD."
    ),
    details="\n\n".join((_ROUTING, _RELOAD)),
    args=(
        Arg(
            "default_optimizer",
            None,
            RoutableOptimizer(),
            "The optimizer of the variables that no pattern matches, such as one "
            "from [optimizer_sgd()]. It cannot be a loss-scale or multi optimizer.",
        ),
        Arg("optimizer_map", "NULL", OptimizerPatterns(optional=True), _PATTERNS_DOC),
    ),
    value="An `OptimizerMap` instance, for [optimizer_multi()].",
    example=(
        "routes <- optimizer_map(\n"
        "  optimizer_sgd(learning_rate = 0.1),\n"
        "  list(\"(.*/)?encoder/.*\" = optimizer_adam(learning_rate = 1e-4))\n"
        ")\n"
        "routes  # which optimizer takes which variable\n"
        "opt <- optimizer_multi(routes)"
    ),
    python_example=(
        ">>> adam = optimizer_adam(learning_rate=1e-4)\n"
        ">>> routes = optimizer_map(optimizer_sgd(learning_rate=0.1), {\"(.*/)?encoder/.*\": adam})\n"
        ">>> opt = optimizer_multi(routes)\n"
        ">>> list(routes)\n"
        "['(.*/)?encoder/.*']"
    ),
)

MULTI = FunctionSpec(
    name="optimizer_multi",
    keras_class="optimizers.MultiOptimizer",
    family=FAMILY,
    title="An optimizer that hands each variable to an optimizer of its own.",
    description=(
        "A multi optimizer trains the variables of one model with several "
        "optimizers: an optimizer map (see [optimizer_map()]) says which "
        "variable goes to which. Each optimizer keeps its own learning rate, "
        "schedule and state, and a training step updates every variable with "
        "its own optimizer. The whole is one Keras optimizer, for `compile()` or "
        "`opt$apply()`, saved and loaded with the model like any other."
    ),
    details="\n\n".join(
        (_ROUTING, _RELOAD, _MULTI_RATE, _MULTI_RATE_PRINTED, _FUNCTION_MAP, _R_FUNCTION_MAP)
    ),
    args=(
        Arg(
            "optimizer_map",
            None,
            OptimizerRouting(),
            "An optimizer map from [optimizer_map()], or a function that takes a "
            "variable and returns its optimizer (which cannot be saved: see Details).",
        ),
        Arg(
            "loss_scale_factor",
            "NULL",
            shared.OPTIONAL_POSITIVE,
            "Float or `NULL`. If a float, the loss is multiplied by it before the "
            "gradients are computed, and the gradients are divided by it before "
            "the update; it replaces the `loss_scale_factor` of every optimizer "
            "in the map. Useful against underflow in mixed precision training.",
        ),
        Arg(
            "name",
            "NULL",
            Text(optional=True, forbidden="/"),
            "String or `NULL`. The name of the optimizer; `NULL` lets Keras "
            "choose one (`\"multi_optimizer\"`).",
        ),
    ),
    dots_at=3,
    dots_doc=shared.DOTS_DOC,
    value="A `MultiOptimizer` instance.",
    example=(
        "opt <- optimizer_multi(optimizer_map(\n"
        "  optimizer_sgd(learning_rate = 0.1),\n"
        "  list(\"(.*/)?encoder/.*\" = optimizer_adam(learning_rate = 1e-4))\n"
        "))\n"
        "opt  # each optimizer, its patterns and its learning rate"
    ),
    python_example=(
        ">>> adam = optimizer_adam(learning_rate=1e-4)\n"
        ">>> routes = optimizer_map(optimizer_sgd(learning_rate=0.1), {\"(.*/)?encoder/.*\": adam})\n"
        ">>> opt = optimizer_multi(routes)\n"
        ">>> [o.name for o in opt.optimizers]\n"
        "['adam', 'SGD']"
    ),
)

MULTI_SPECS: tuple[FunctionSpec, ...] = (MAP, MULTI)
