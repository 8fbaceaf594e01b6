"""The twelve optimizers of keras3 R 1.1.0, in keras3's argument order."""

from __future__ import annotations

from keras3r.checks import Boolean, Real
from keras3r.spec import shared
from keras3r.spec.loss_scale import LOSS_SCALE
from keras3r.spec.model import Arg, FunctionSpec
from keras3r.spec.spelling import python_call

FAMILY = "optimizers"


def _examples(call: str, weights_after: str, keras_class: str, name: str) -> tuple[str, str]:
    """One small example, the same steps in R and in Python, for an optimizer.

    `call` is written once, in R; the Python example spells it in Python.
    `weights_after` is how Python prints the weights after the one step (the
    docstring's doctest checks it, as it checks the class and the name).
    """
    r = (
        f"opt <- {call}\n"
        "opt  # its class, name, learning rate and settings\n"
        "keras <- reticulate::import(\"keras\")\n"
        "w <- keras$Variable(c(1, 2, 3))\n"
        "opt$apply(list(keras$ops$ones(3L)), list(w))  # one update step\n"
        "round(as.numeric(keras$ops$convert_to_numpy(w)), 4)  # the weights after it"
    )
    py = (
        ">>> import keras\n"
        f">>> opt = {python_call(call)}\n"
        ">>> type(opt).__name__, opt.name\n"
        f"({keras_class!r}, {name!r})\n"
        ">>> w = keras.Variable([1.0, 2.0, 3.0])\n"
        ">>> opt.apply([keras.ops.ones(3)], [w])  # one update step\n"
        ">>> [round(float(x), 4) for x in w.numpy()]  # the weights after it\n"
        f"{weights_after}"
    )
    return r, py


def optimizer_spec(
    fn: str,
    keras_class: str,
    title: str,
    description: str,
    args: list[Arg],
    references: tuple[str, ...],
    call: tuple[str, str],
    *,
    args_after_dots: int = 0,
    details: str = shared.OPTIMIZER_DETAILS,
) -> FunctionSpec:
    """An optimizer of Keras's base class; R's `...` precedes the last `args_after_dots` args.

    `call`: the example's call, in R, and the weights it prints after one step.
    """
    name = next(a.default for a in args if a.name == "name")
    example, python_example = _examples(*call, keras_class, name)
    return FunctionSpec(
        name=fn,
        keras_class=f"optimizers.{keras_class}",
        family=FAMILY,
        title=title,
        description=description,
        args=tuple(args),
        dots_at=len(args) - args_after_dots,
        dots_doc=shared.DOTS_DOC,
        value=shared.OPTIMIZER_VALUE,
        references=references,
        example=example,
        python_example=python_example,
        rules=shared.OPTIMIZER_RULES,
        details=details,
    )


def _optimizer(
    fn: str,
    keras_class: str,
    title: str,
    description: str,
    own: list[Arg],
    tail: list[Arg],
    references: tuple[str, ...],
    call: tuple[str, str],
) -> FunctionSpec:
    # keras3 R 1.1.0's order: `...` sits before loss_scale_factor and
    # gradient_accumulation_steps.
    return optimizer_spec(
        fn, keras_class, title, description, own + tail, references, call, args_after_dots=2
    )


KINGMA = "Kingma and Ba, 2014. *Adam: A Method for Stochastic Optimization*. <https://arxiv.org/abs/1412.6980>"
LOSHCHILOV = "Loshchilov and Hutter, 2019. *Decoupled Weight Decay Regularization*. <https://arxiv.org/abs/1711.05101>"
REDDI = "Reddi, Kale and Kumar, 2018. *On the Convergence of Adam and Beyond*. <https://openreview.net/pdf?id=ryQu7f-RZ>"

ADAM_W = _optimizer(
    "optimizer_adam_w",
    "AdamW",
    "Optimizer that implements the AdamW algorithm.",
    "AdamW optimization is a stochastic gradient descent method that is based on "
    "adaptive estimation of first-order and second-order moments with an added "
    "method to decay weights per the techniques discussed in the paper, 'Decoupled "
    "Weight Decay Regularization' by "
    "[Loshchilov, Hutter et al., 2019](https://arxiv.org/abs/1711.05101).\n\n"
    "According to [Kingma et al., 2014](http://arxiv.org/abs/1412.6980), the "
    "underying Adam method is \"computationally efficient, has little memory "
    "requirement, invariant to diagonal rescaling of gradients, and is well suited "
    "for problems that are large in terms of data/parameters\".",
    [
        shared.learning_rate("0.001"),
        shared.weight_decay("0.004"),
        shared.beta(1, "0.9"),
        shared.beta(2, "0.999"),
        shared.epsilon(shared.ADAM_EPSILON_DOC),
        shared.AMSGRAD,
    ],
    shared.optimizer_tail('"adamw"', weight_decay_default=None),
    (LOSHCHILOV, KINGMA, REDDI),
    ("optimizer_adam_w(learning_rate = 0.01)", "[0.99, 1.9899, 2.9899]"),
)

ADAM = _optimizer(
    "optimizer_adam",
    "Adam",
    "Optimizer that implements the Adam algorithm.",
    "Adam keeps, for every weight, a running mean of its gradients (the first "
    "moment) and of their squares (the second moment), corrects both for their "
    "start at zero, and moves each weight by the ratio of the two. Steps are thus "
    "scaled per weight, and the method copes well with noisy gradients and with "
    "many parameters.",
    [
        shared.learning_rate("0.001"),
        shared.beta(1, "0.9"),
        shared.beta(2, "0.999"),
        shared.epsilon(shared.ADAM_EPSILON_DOC),
        shared.AMSGRAD,
    ],
    shared.optimizer_tail('"adam"'),
    (KINGMA, REDDI),
    ("optimizer_adam(learning_rate = 0.01)", "[0.99, 1.99, 2.99]"),
)

ADAMAX = _optimizer(
    "optimizer_adamax",
    "Adamax",
    "Optimizer that implements the Adamax algorithm.",
    "Adamax is the variant of Adam that the Adam paper derives from the infinity "
    "norm: the second moment is replaced by an exponentially weighted maximum of "
    "the absolute gradients, so the size of a step has a simple upper bound. It "
    "can suit models with sparse updates, such as embeddings.",
    [
        shared.learning_rate("0.001"),
        Arg("beta_1", "0.9", shared.UNIT_OPEN, "Float. Decay rate of the running mean of the gradients (first moment). Defaults to `0.9`."),
        Arg("beta_2", "0.999", shared.UNIT_OPEN, "Float. Decay rate of the weighted infinity norm of the gradients. Defaults to `0.999`."),
        shared.epsilon(),
    ],
    shared.optimizer_tail('"adamax"'),
    (KINGMA,),
    ("optimizer_adamax(learning_rate = 0.01)", "[0.99, 1.99, 2.99]"),
)

NADAM = _optimizer(
    "optimizer_nadam",
    "Nadam",
    "Optimizer that implements the Nadam algorithm.",
    "Nadam is Adam with Nesterov momentum: the first-moment term of each step "
    "looks one step ahead, which often speeds up early training.",
    [
        shared.learning_rate("0.001"),
        Arg("beta_1", "0.9", shared.UNIT_OPEN, "Float. Decay rate of the running mean of the gradients (first moment). Defaults to `0.9`."),
        Arg("beta_2", "0.999", shared.UNIT_OPEN, "Float. Decay rate of the running mean of the squared gradients (second moment). Defaults to `0.999`."),
        shared.epsilon(),
    ],
    shared.optimizer_tail('"nadam"'),
    ("Dozat, 2015. *Incorporating Nesterov Momentum into Adam*. <https://cs229.stanford.edu/proj2015/054_report.pdf>",),
    ("optimizer_nadam(learning_rate = 0.01)", "[0.9894, 1.9894, 2.9894]"),
)

ADADELTA = _optimizer(
    "optimizer_adadelta",
    "Adadelta",
    "Optimizer that implements the Adadelta algorithm.",
    "Adadelta adapts each weight's step from two running averages: one of the "
    "squared gradients and one of the squared updates. Their ratio sets the step, "
    "so training goes on after the gradients shrink and the method is not very "
    "sensitive to the learning rate. Set `learning_rate = 1` to follow the "
    "original paper.",
    [
        shared.learning_rate("0.001"),
        Arg("rho", "0.95", shared.UNIT, "Float. The decay rate of both running averages. Defaults to `0.95`."),
        shared.epsilon("Float. A small constant added to both averages before their square roots are taken, so that nothing is divided by zero. Defaults to `1e-7`."),
    ],
    shared.optimizer_tail('"adadelta"'),
    ("Zeiler, 2012. *ADADELTA: An Adaptive Learning Rate Method*. <https://arxiv.org/abs/1212.5701>",),
    ("optimizer_adadelta(learning_rate = 1)", "[0.9986, 1.9986, 2.9986]"),
)

ADAFACTOR = _optimizer(
    "optimizer_adafactor",
    "Adafactor",
    "Optimizer that implements the Adafactor algorithm.",
    "Adafactor saves memory: for a matrix of weights it keeps running averages of "
    "the squared gradients per row and per column only, not per weight, and "
    "rebuilds the full second moment from them. Updates are clipped by their root "
    "mean square and, by default, the step size shrinks with the number of "
    "steps taken.",
    [
        shared.learning_rate("0.001"),
        Arg("beta_2_decay", "-0.8", shared.FINITE, "Float. The decay rate of the second moment grows with the step count as `1 - step^beta_2_decay`. Defaults to `-0.8`."),
        Arg("epsilon_1", "1e-30", shared.NON_NEGATIVE, "Float. A small constant added to the squared gradients for numerical stability. Defaults to `1e-30`."),
        Arg("epsilon_2", "0.001", shared.NON_NEGATIVE, "Float. The smallest scale that an update is given relative to the weights. Defaults to `1e-3`."),
        Arg("clip_threshold", "1", shared.POSITIVE, "Float. Updates whose root mean square exceeds this value are scaled down to it. Defaults to `1`."),
        Arg("relative_step", "TRUE", Boolean(optional=True), "Boolean. If `TRUE`, the learning rate is capped by `1 / sqrt(step)`, so it falls as training goes on. Defaults to `TRUE`."),
    ],
    shared.optimizer_tail('"adafactor"'),
    ("Shazeer and Stern, 2018. *Adafactor: Adaptive Learning Rates with Sublinear Memory Cost*. <https://arxiv.org/abs/1804.04235>",),
    ("optimizer_adafactor(learning_rate = 0.01)", "[0.9784, 1.9784, 2.9784]"),
)

ADAGRAD = _optimizer(
    "optimizer_adagrad",
    "Adagrad",
    "Optimizer that implements the Adagrad algorithm.",
    "Adagrad divides each weight's step by the root of the sum of all its past "
    "squared gradients. Weights that are rarely updated keep large steps and "
    "frequent ones get small steps, which suits sparse features; over a long run "
    "the steps of every weight keep shrinking.",
    [
        shared.learning_rate("0.001"),
        Arg("initial_accumulator_value", "0.1", shared.NON_NEGATIVE, "Float. The value that each sum of squared gradients starts from. Must be non-negative. Defaults to `0.1`."),
        shared.epsilon("Float. A small constant for numerical stability. Defaults to `1e-7`."),
    ],
    shared.optimizer_tail('"adagrad"'),
    ("Duchi, Hazan and Singer, 2011. *Adaptive Subgradient Methods for Online Learning and Stochastic Optimization*. <https://jmlr.org/papers/v12/duchi11a.html>",),
    ("optimizer_adagrad(learning_rate = 0.1)", "[0.9047, 1.9047, 2.9047]"),
)

FTRL = _optimizer(
    "optimizer_ftrl",
    "Ftrl",
    "Optimizer that implements the FTRL algorithm.",
    "FTRL-Proximal (Follow The Regularized Leader) was designed for large, sparse "
    "linear models such as click-through prediction. It supports L1 and L2 "
    "penalties applied inside the update, and L1 drives many weights to exactly "
    "zero. The `beta` argument corresponds to the `beta` of the paper; with the "
    "shrinkage penalty set, the L2 penalty acts on the gradient as a magnitude "
    "penalty instead.",
    [
        shared.learning_rate("0.001"),
        Arg("learning_rate_power", "-0.5", Real(high=0.0), "Float, zero or below. How the step size falls as the squared gradients accumulate; zero keeps a fixed rate. Defaults to `-0.5`."),
        Arg("initial_accumulator_value", "0.1", shared.NON_NEGATIVE, "Float, zero or above. The starting value of the accumulators. Defaults to `0.1`."),
        Arg("l1_regularization_strength", "0", shared.NON_NEGATIVE, "Float, zero or above. The L1 penalty. Defaults to `0`."),
        Arg("l2_regularization_strength", "0", shared.NON_NEGATIVE, "Float, zero or above. The stabilizing L2 penalty. Defaults to `0`."),
        Arg("l2_shrinkage_regularization_strength", "0", shared.NON_NEGATIVE, "Float, zero or above. The L2 shrinkage penalty, applied to the weights' magnitude rather than through the accumulators. Defaults to `0`."),
        Arg("beta", "0", shared.NON_NEGATIVE, "Float. The `beta` of the paper, added to the accumulators' root. Defaults to `0`."),
    ],
    shared.optimizer_tail('"ftrl"'),
    ("McMahan et al., 2013. *Ad Click Prediction: a View from the Trenches*. <https://research.google.com/pubs/archive/41159.pdf>",),
    ("optimizer_ftrl(learning_rate = 0.1)", "[0.6031, 1.3016, 2.0001]"),
)

LION = _optimizer(
    "optimizer_lion",
    "Lion",
    "Optimizer that implements the Lion algorithm.",
    "Lion (EvoLved Sign Momentum) keeps a single momentum per weight and moves "
    "every weight by the same amount, the sign of an interpolated momentum. It "
    "needs less memory than Adam. Its steps are large, so it usually wants a "
    "learning rate 3 to 10 times smaller than AdamW's, and a weight decay that "
    "much larger.",
    [
        shared.learning_rate("0.001"),
        Arg("beta_1", "0.9", Real(low=0.0, high=1.0, low_open=True), "Float. How much of the momentum enters the sign of the current update. Defaults to `0.9`."),
        Arg("beta_2", "0.99", shared.UNIT, "Float. The decay rate of the momentum that is kept. Defaults to `0.99`."),
    ],
    shared.optimizer_tail('"lion"'),
    ("Chen et al., 2023. *Symbolic Discovery of Optimization Algorithms*. <https://arxiv.org/abs/2302.06675>",),
    ("optimizer_lion(learning_rate = 1e-4)", "[0.9999, 1.9999, 2.9999]"),
)

RMSPROP = _optimizer(
    "optimizer_rmsprop",
    "RMSprop",
    "Optimizer that implements the RMSprop algorithm.",
    "RMSprop divides each gradient by the root of a running mean of its recent "
    "squares, so every weight takes steps of a similar size. With `centered = "
    "TRUE` it divides by an estimate of the variance instead, which can help "
    "training at some cost in time and memory.",
    [
        shared.learning_rate("0.001"),
        Arg("rho", "0.9", shared.UNIT, "Float. The decay rate of the running mean of squared gradients. Defaults to `0.9`."),
        Arg("momentum", "0", shared.UNIT, "Float. If not 0, the updates are accumulated with this momentum. Defaults to `0`."),
        shared.epsilon("Float. A small constant for numerical stability, the \"epsilon hat\" of the Kingma and Ba paper. Defaults to `1e-7`."),
        Arg("centered", "FALSE", Boolean(optional=True), "Boolean. If `TRUE`, gradients are divided by the estimated variance rather than by the uncentered second moment. Defaults to `FALSE`."),
    ],
    shared.optimizer_tail('"rmsprop"'),
    ("Hinton, 2012. *Neural Networks for Machine Learning*, lecture 6e. <https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf>",),
    ("optimizer_rmsprop(learning_rate = 0.01)", "[0.9684, 1.9684, 2.9684]"),
)

SGD = _optimizer(
    "optimizer_sgd",
    "SGD",
    "Gradient descent (with momentum) optimizer.",
    "Plain gradient descent moves each weight against its gradient, scaled by "
    "the learning rate: `w <- w - learning_rate * g`. With momentum, a velocity "
    "`v <- momentum * v - learning_rate * g` is kept and added to the weights; "
    "with Nesterov momentum the gradient step is taken from the point that the "
    "velocity leads to.",
    [
        shared.learning_rate("0.01"),
        Arg("momentum", "0", shared.UNIT, "Float, between 0 and 1. Speeds descent along consistent directions and damps oscillations. 0 means plain gradient descent. Defaults to `0`."),
        Arg("nesterov", "FALSE", Boolean(optional=True), "Boolean. Whether to use Nesterov momentum. Defaults to `FALSE`."),
    ],
    shared.optimizer_tail('"SGD"'),
    ("Sutskever et al., 2013. *On the importance of initialization and momentum in deep learning*. <https://proceedings.mlr.press/v28/sutskever13.html>",),
    ("optimizer_sgd(learning_rate = 0.1, momentum = 0.9)", "[0.9, 1.9, 2.9]"),
)


OPTIMIZERS: tuple[FunctionSpec, ...] = (
    ADADELTA,
    ADAFACTOR,
    ADAGRAD,
    ADAM,
    ADAMAX,
    ADAM_W,
    FTRL,
    LION,
    LOSS_SCALE,
    NADAM,
    RMSPROP,
    SGD,
)
