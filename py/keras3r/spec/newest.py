"""Optimizers added after keras3 R 1.1.0: Lamb, Muon and ScheduleFreeAdamW.

Their signatures follow tests/spec/newest-signatures.md. `name` follows
`gradient_accumulation_steps`, in Keras's own order. Lamb and
ScheduleFreeAdamW put every argument before R's `...` (the convention keras3
R adopted with `optimizer_lamb()`). Muon keeps keras3 R 1.5's arguments in
keras3's order, so that a call by position means the same in both packages,
and puts the two that Keras 3.15 added since, `adam_weight_decay` and
`rms_rate`, after `...`: reached by full name only in R, keyword-only in
Python.
"""

from __future__ import annotations

from keras3r.checks import Boolean, Integer, PatternList, Real
from keras3r.spec import shared
from keras3r.spec.model import Arg, FunctionSpec
from keras3r.spec.optimizers import optimizer_spec
from keras3r.spec.spelling import only_in

# Keras reads None as False for its on/off settings (`if self.nesterov:`), and
# keras3 R passes NULL on as None: so do these, as the 1.1.0 family does.
_SWITCH = Boolean(optional=True)

# Arguments every optimizer of Keras's base class takes, in the order of
# Keras's newer optimizers: `name` comes after the loss and accumulation ones.
_BASE_TAIL = [
    shared.CLIPNORM,
    shared.CLIPVALUE,
    shared.GLOBAL_CLIPNORM,
    shared.USE_EMA,
    shared.EMA_MOMENTUM,
    shared.EMA_OVERWRITE_FREQUENCY,
    shared.LOSS_SCALE_FACTOR,
    shared.GRADIENT_ACCUMULATION_STEPS,
]


LAMB = optimizer_spec(  # `...` comes last
    "optimizer_lamb",
    "Lamb",
    "Optimizer that implements the LAMB algorithm.",
    "LAMB (Layer-wise Adaptive Moments for Batch training) first computes an "
    "Adam step for each weight tensor, then rescales that step by a trust "
    "ratio: the norm of the tensor's weights divided by the norm of its Adam "
    "step (a ratio of 1 is used when either norm is zero). Each layer thus "
    "moves in proportion to its own size, which keeps training stable with very "
    "large batches.",
    [
        shared.learning_rate("0.001"),
        shared.beta(1, "0.9"),
        shared.beta(2, "0.999"),
        shared.epsilon("Float. A small constant added to the root of the second moment, so that nothing is divided by zero. Defaults to `1e-7`."),
        shared.weight_decay(),
        *_BASE_TAIL,
        shared.name('"lamb"'),
    ],
    ("You et al., 2020. *Large Batch Optimization for Deep Learning: Training BERT in 76 minutes*. <https://arxiv.org/abs/1904.00962>",),
    ("optimizer_lamb(learning_rate = 0.01)", "[0.9784, 1.9784, 2.9784]"),
)

_MUON_SPLIT = (
    "Muon's own step is meant for the 2-D weight matrices of hidden layers; "
    "every other variable is updated with AdamW (using `adam_beta_1`, "
    "`adam_beta_2`, `epsilon` and `adam_weight_decay`, at the rate "
    "`learning_rate * adam_lr_ratio`). A variable gets AdamW when any of these "
    "holds: it is not 2-D (biases, scalars, convolution kernels, normalization "
    "scales); `exclude_embeddings = TRUE` and its path contains \"embedding\" in "
    "any letter case (the weights of `layer_embedding()` are named so); or its "
    "path, such as `\"predictions/kernel\"`, matches one of the regular "
    "expressions of `exclude_layers` (Python's `re.search()`, case-sensitive). "
    "Every other variable, such as the kernel of a dense layer, gets Muon's step "
    "and `weight_decay`. Muon's authors leave the output layer to AdamW too: "
    "pass its name, as in `exclude_layers = \"predictions\"`. Once built, a Muon "
    "variable has one slot in `opt$variables` (its `momentum`), an AdamW "
    "variable two (`momentum` and `velocity`).\n\n"
    "Write each pattern so that it finds the layer's name wherever the name "
    "stands in the path: `\"predictions\"` or `\"(^|/)predictions/\"`, not "
    "`\"^predictions/\"` or `\"net/predictions\"`. The layers of a Sequential "
    "model have the model's name in front of their paths "
    "(`\"net/predictions/kernel\"`) until the model is saved and loaded, and not "
    "after (`\"predictions/kernel\"`). A pattern that tells the two apart would "
    "give the loaded model another split, and Keras would then skip the "
    "optimizer's saved state with only a warning; keras3r refuses such a pattern "
    "with an error when the optimizer is built (at the first step of `fit()`)."
)

_MUON_DEFAULTS = (
    "The defaults shown are the ones that run. keras3 R 1.5's `optimizer_muon()` "
    "prints `weight_decay = 0.1`, `adam_lr_ratio = 0.1` and `ns_steps = 6L`, but "
    "sends Keras only the arguments given in the call, so a call that leaves "
    "them out runs Keras's defaults: `weight_decay = 0.004`, `adam_lr_ratio = 1` "
    "and `ns_steps = 5L`. The defaults here are Keras's, so that the signature "
    "tells what will run: code written for keras3 that gives these arguments "
    "behaves the same in both packages, and code that leaves them out gets what "
    "it got with keras3, not what keras3 printed. To run keras3's printed "
    "values, give them."
)

# Where the two arguments that keras3 1.5 lacks sit: R matches arguments after
# `...` by full name alone, Python takes them by keyword alone.
_MUON_ORDER = (
    "The arguments are keras3 R 1.5's, in keras3's order, so a call by position "
    "means the same in both packages: `optimizer_muon(0.01, 0.8, 0.9, 1e-6)` "
    "sets `learning_rate`, `adam_beta_1`, `adam_beta_2` and `epsilon`. Keras "
    "3.15 added `adam_weight_decay` and `rms_rate`, which keras3 1.5 lacks; "
    "they come last.\n\n"
    + only_in(
        "R",
        "`adam_weight_decay` and `rms_rate` come after `...`: give them by their "
        "full names, as in `optimizer_muon(adam_weight_decay = 0.01)`. R matches "
        "an argument after `...` by its exact name only, and `...` refuses any name that is not an "
        "argument (a shortened `adam_weight` among them), as well as a value "
        "without a name.",
    )
    + "\n\n"
    + only_in(
        "Python",
        "`adam_weight_decay` and `rms_rate` are keyword-only. The order differs "
        "from `keras.optimizers.Muon`, whose fourth parameter is "
        "`adam_weight_decay`: `keras.optimizers.Muon(0.01, 0.8, 0.9, 1e-6)` sets "
        "`adam_weight_decay = 1e-6` and leaves `epsilon` at `1e-7`.",
    )
)

MUON = optimizer_spec(  # `...` before the last two
    "optimizer_muon",
    "Muon",
    "Optimizer that implements the Muon algorithm.",
    "Muon (MomentUm Orthogonalized by Newton-Schulz) keeps a momentum of the "
    "gradients of each weight matrix and replaces it, before stepping, by a "
    "nearly orthogonal matrix with the same singular vectors, computed by "
    "`ns_steps` iterations of a Newton-Schulz polynomial. Every direction of the "
    "update then gets a similar size, however unevenly the gradients are spread. "
    "Variables that are not matrices, and the ones chosen by `exclude_embeddings` "
    "and `exclude_layers`, are updated with AdamW instead (see Details).",
    [
        shared.learning_rate("0.001"),
        Arg("adam_beta_1", "0.9", shared.UNIT_OPEN, "Float. The decay rate of the running mean of the gradients (first moment) in the AdamW update. Defaults to `0.9`."),
        Arg("adam_beta_2", "0.999", shared.UNIT_OPEN, "Float. The decay rate of the running mean of the squared gradients (second moment) in the AdamW update. Defaults to `0.999`."),
        shared.epsilon("Float. A small constant added to the root of the second moment in the AdamW update. Defaults to `1e-7`."),
        Arg("weight_decay", "0.004", shared.OPTIONAL_NON_NEGATIVE, "Float. The decoupled weight decay of the variables that get Muon's own step (`adam_weight_decay` applies to the others). Defaults to `0.004`; `NULL` applies none."),
        *_BASE_TAIL,
        shared.name('"muon"'),
        Arg("exclude_layers", "NULL", PatternList(optional=True), "A character vector of regular expressions, or `NULL`. A variable whose path matches one of them (anywhere in the path) is updated with AdamW instead of Muon's step; see Details for how to write them. `NULL` excludes nothing by name."),
        Arg("exclude_embeddings", "TRUE", _SWITCH, "Boolean. If `TRUE`, every variable whose path contains \"embedding\" is updated with AdamW. Defaults to `TRUE`."),
        Arg("muon_a", "3.4445", shared.FINITE, "Float. The coefficient `a` of the Newton-Schulz step, which maps the matrix `X` to `a X + b A X + c A A X`, where `A = X X'`. The defaults of `a`, `b` and `c` push every singular value quickly towards 1; change them only with care. Defaults to `3.4445`."),
        Arg("muon_b", "-4.775", shared.FINITE, "Float. The coefficient `b` of the Newton-Schulz step (see `muon_a`). Defaults to `-4.775`."),
        Arg("muon_c", "2.0315", shared.FINITE, "Float. The coefficient `c` of the Newton-Schulz step (see `muon_a`). Defaults to `2.0315`."),
        Arg("adam_lr_ratio", "1", shared.NON_NEGATIVE, "Float. The AdamW update uses the learning rate `learning_rate * adam_lr_ratio`. Defaults to `1`."),
        Arg("momentum", "0.95", shared.UNIT_OPEN, "Float in [0, 1). The decay rate of the momentum of the gradients that Muon orthogonalizes. Defaults to `0.95`."),
        Arg("ns_steps", "5L", Integer(low=1), "Int, at least 1. The number of Newton-Schulz iterations. Defaults to `5L`."),
        Arg("nesterov", "TRUE", _SWITCH, "Boolean. If `TRUE`, Muon orthogonalizes the Nesterov look-ahead `g + momentum * m` instead of the momentum `m` itself. Defaults to `TRUE`."),
        # After R's `...`: new in Keras 3.15, not in keras3 R 1.5.
        Arg("adam_weight_decay", "0.004", shared.OPTIONAL_NON_NEGATIVE, "Float. The decoupled weight decay of the variables updated with AdamW. Defaults to `0.004`; `NULL` applies none. New in Keras 3.15 (keras3 R 1.5 lacks it): give it by name, not by position."),
        Arg("rms_rate", "0.2", shared.OPTIONAL_POSITIVE, "Float or `NULL`. Muon's update of an `n` by `m` matrix is multiplied by `rms_rate * sqrt(max(n, m))`, which brings its size close to that of an AdamW update, so that both can share one learning rate and weight decay (Liu et al., 2025). `NULL` leaves the update unscaled. Defaults to `0.2`. New in Keras 3.15 (keras3 R 1.5 lacks it): give it by name, not by position."),
    ],
    (
        "Jordan et al., 2024. *Muon: An optimizer for hidden layers in neural networks*. <https://kellerjordan.github.io/posts/muon/>",
        "Liu et al., 2025. *Muon is Scalable for LLM Training*. <https://arxiv.org/abs/2502.16982>",
    ),
    ("optimizer_muon(learning_rate = 0.01)", "[0.99, 1.9899, 2.9899]"),
    args_after_dots=2,
    details="\n\n".join((_MUON_SPLIT, _MUON_ORDER, _MUON_DEFAULTS, shared.OPTIMIZER_DETAILS)),
)

_SCHEDULE_FREE_X = (
    "To evaluate, predict or save at the average `x`, "
    "[schedule_free_averaged_weights()] computes it, "
    "[swap_schedule_free_weights()] puts it in the model and `y` back, and "
    "[callback_swap_schedule_free_weights()] makes `fit()` validate at `x`.\n\n"
    "Keras 3.15 recovers `x` on TensorFlow and torch from a `z` it has already "
    "moved in the same step, which drifts `x` up the gradient; on JAX it follows "
    "the paper. The optimizer this function returns takes the paper's step on "
    "every backend. A model saved with it and loaded again (with or without "
    "keras3r: the saved file is plain Keras) trains on with Keras's own step "
    "until [adapt_optimizer()] is given its optimizer."
)

SCHEDULE_FREE_ADAM_W = optimizer_spec(  # `...` comes last
    "optimizer_schedule_free_adam_w",
    "ScheduleFreeAdamW",
    "Optimizer that implements the Schedule-Free AdamW algorithm.",
    "Schedule-Free AdamW needs no decaying learning-rate schedule and no "
    "stopping time fixed in advance. It follows three sequences: `z` takes "
    "AdamW-like gradient steps; `x` is the running average of all the `z` "
    "iterates; and `y = (1 - beta_1) * z + beta_1 * x`, the point between "
    "them, is where the gradients are computed. Keras keeps `y` in the model's "
    "variables and `z` in the optimizer's `momentum` slots. The average `x`, the "
    "point that the method's guarantees are about and usually the better one to "
    "evaluate, is not stored: it follows from the other two as "
    "`x = (y - (1 - beta_1) * z) / beta_1`.",
    [
        shared.learning_rate("0.0025"),
        Arg("beta_1", "0.9", Real(low=0.0, high=1.0, low_open=True), "Float in (0, 1]. Where the gradients are taken between `z` (0) and the average `x` (1). Defaults to `0.9`."),
        Arg("beta_2", "0.999", shared.UNIT_OPEN, "Float. The decay rate of the running mean of the squared gradients (second moment) that scales each step. Defaults to `0.999`."),
        Arg("epsilon", "1e-08", shared.NON_NEGATIVE, "Float. A small constant added to the root of the second moment, so that nothing is divided by zero. Defaults to `1e-8`."),
        Arg("warmup_steps", "0L", Integer(low=0), "Int. Over the first `warmup_steps` steps the learning rate rises linearly, from `learning_rate / warmup_steps` at the first step to `learning_rate`; `0L` starts at the full rate. Defaults to `0L`."),
        shared.weight_decay(),
        *_BASE_TAIL,
        shared.name('"schedule_free_adam_w"'),
    ],
    ("Defazio et al., 2024. *The Road Less Scheduled*. <https://arxiv.org/abs/2405.15682>",),
    (
        "optimizer_schedule_free_adam_w(learning_rate = 0.01)",
        "[0.99, 1.99, 2.99]",
    ),
    details="\n\n".join((_SCHEDULE_FREE_X, shared.OPTIMIZER_DETAILS)),
)

NEWEST: tuple[FunctionSpec, ...] = (LAMB, MUON, SCHEDULE_FREE_ADAM_W)
