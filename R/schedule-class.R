#' Define a custom learning-rate schedule class in R
#'
#' @description
#' Makes a new Keras learning-rate schedule class whose methods are R
#' functions. Calling the class makes a schedule, which any optimizer takes as
#' its `learning_rate`, like the schedules of the `learning_rate_schedule_*()`
#' functions. `LearningRateSchedule()` and `new_learning_rate_schedule_class()`
#' are the same function (keras3 R documents the first).
#'
#' @details
#' # The methods
#'
#' * `initialize(...)` receives the arguments given when a schedule is made,
#'   and usually stores them on `self`: `self$initial_learning_rate <- x`.
#' * `call(step)` returns the learning rate at `step`, the optimizer's
#'   iteration counter (a Keras variable holding an integer). It must compute
#'   the rate with Keras operations (`keras$ops$...`, or the R operators
#'   described below), never with R's own numbers: see "When `call()` runs".
#' * `get_config()` returns a named list of the arguments of `initialize()`,
#'   which Keras writes into a saved model so that it can make the schedule
#'   again. Without it the schedule works but a model with it cannot be saved.
#'
#' Inside every method, `self` is the schedule itself, `private` an R
#' environment of its own (filled from `private` when the schedule is made,
#' never saved), `super()` Python's `super()` for the class (so that
#' `super()$get_config()` calls the parent's method) and `__class__` the class.
#' Further methods and fields can be given in `...` or `public`.
#'
#' # When `call()` runs
#'
#' Keras asks the schedule for the rate inside each training step. A compiled
#' step, the default of `fit()`, is traced once (on R's own thread, as
#' `fit()` is called from R): `call()` then runs once, and the Keras
#' operations it builds on `step` become part of the compiled step, which
#' computes the rate from the current step at every step after that. R code
#' that is not a Keras operation runs only while tracing: `print()` prints
#' once, and `if (step > 100)` cannot work (the step has no value yet); use
#' `keras$ops$where()` or `keras$ops$cond()` instead, and `keras$ops$print()`
#' to print at every step. A step run eagerly (`run_eagerly = TRUE`) calls
#' `call()` every time.
#'
#' # Arithmetic on tensors
#'
#' keras3r defines R's arithmetic (`+`, `-`, `*`, `/`, `^`, `%%`, `%/%`),
#' comparison and logical operators, the math functions (`exp()`, `log()`,
#' `sqrt()`, `cos()`, `floor()`, `abs()`, ... ) and `min()`, `max()`,
#' `sum()`, `prod()`, `any()` and `all()` for Keras variables and tensors,
#' through `keras$ops`: `0.5 * step` or `cos(pi * step / 1000)` build the
#' Keras operations, on every backend. They are registered for Keras's own
#' variable and symbolic-tensor classes and for the tensor classes of
#' TensorFlow, JAX and PyTorch as reticulate names them (R dispatches
#' `min()`, `max()` and the like on their first argument: write
#' `min(step / 1000, 1)`, not `min(1, step / 1000)`), and never for the
#' class `"tensorflow.tensor"` that the tensorflow R package adds to the
#' TensorFlow tensors it converts. With tensorflow loaded, its methods thus
#' handle TensorFlow tensors and keras3r's handle the rest. One R rule remains:
#' when the two operands of one operator have methods from different packages
#' (a Keras variable times a TensorFlow tensor, with tensorflow loaded), R
#' warns "Incompatible methods" and fails; convert the variable first
#' (`keras$ops$convert_to_tensor(step)`) or call `keras$ops` directly.
#'
#' # Saving and loading
#'
#' A model compiled with such a schedule saves the schedule's class name and
#' `get_config()`. To load it, pass the class (the value of this function) as
#' a custom object under its `classname`:
#' `keras$models$load_model(path, custom_objects = list(MySchedule = MySchedule))`.
#' The R code is not in the file: the session that loads it must define the
#' class again.
#'
#' @param classname String, the name of the class (and the name under which a
#'   saved model refers to it).
#' @param call,initialize,get_config Functions, the methods described in
#'   Details; `NULL` leaves the parent's.
#' @param ...,public Further methods and fields of the class, named.
#' @param private A named list of values copied into each schedule's private
#'   environment, `private` inside the methods; functions in it see `self`
#'   too.
#' @param inherit The parent class: Keras's `LearningRateSchedule` when
#'   `NULL`, or a class made by this function, to extend it.
#' @param parent_env The environment that the methods' own environments
#'   descend from: names defined there are visible in the methods.
#'
#' @returns The new class, a Python class: call it with the arguments of
#'   `initialize()` to make a schedule.
#'
#' @seealso
#' The built-in schedules, such as [learning_rate_schedule_cosine_decay()].
#' These two functions are R constructors with no Python twin: the Python
#' package of keras3r has no such function, as Python users subclass
#' `keras.optimizers.schedules.LearningRateSchedule` directly.
#'
#' @examplesIf keras3r_available()
#' keras <- reticulate::import("keras")
#' InverseTime <- LearningRateSchedule(
#'   "InverseTime",
#'   initialize = function(initial_learning_rate) {
#'     self$initial_learning_rate <- initial_learning_rate
#'   },
#'   call = function(step) {
#'     self$initial_learning_rate / (keras$ops$cast(step, "float32") + 1)
#'   },
#'   get_config = function() {
#'     list(initial_learning_rate = self$initial_learning_rate)
#'   }
#' )
#' schedule <- InverseTime(0.1)
#' opt <- optimizer_sgd(learning_rate = schedule)
#' schedule(keras$Variable(9L, dtype = "int64"))  # 0.1 / 10
#' @concept learning rate schedules
#' @export
new_learning_rate_schedule_class <- function(classname, call = NULL, initialize = NULL,
                                             get_config = NULL, ..., public = list(),
                                             private = list(), inherit = NULL,
                                             parent_env = parent.frame()) {
  force(parent_env)
  fun <- "new_learning_rate_schedule_class"
  members <- c(list(...), public)
  check_r_class_args(fun, classname,
                     list(call = call, initialize = initialize, get_config = get_config),
                     members, private)
  keras <- keras_module()
  if (is.null(inherit)) inherit <- keras$optimizers$schedules$LearningRateSchedule
  if (!inherits(inherit, "python.builtin.type")) {
    stop(argument_error(sprintf(
      "%s(): `inherit` must be a Python class, such as one made by this function.", fun
    ), fun, argument = "inherit"))
  }

  # Python names: R's `initialize` and `call` are Python's __init__ and __call__.
  methods <- c(
    list(`__init__` = initialize, `__call__` = call, get_config = get_config),
    members
  )
  body <- r_class_defs(methods, private, parent_env, python_super)
  cls <- reticulate::PyClass(classname, body$defs, inherit = inherit)
  body$class_ref$cls <- cls
  cls
}

#' @rdname new_learning_rate_schedule_class
#' @export
LearningRateSchedule <- new_learning_rate_schedule_class
