#' Define a custom optimizer class in R
#'
#' @description
#' Makes a new Keras optimizer class whose methods are R functions. Calling
#' the class makes an optimizer, which `compile()` takes like the optimizers of
#' the `optimizer_*()` functions, on every backend. `Optimizer()` and
#' `new_optimizer_class()` are the same function.
#'
#' @details
#' # The methods
#'
#' * `initialize(...)` receives the arguments given when an optimizer is made.
#'   It must first call `super$initialize(learning_rate = learning_rate, ...)`
#'   (or `super()$initialize(...)`): Keras's base class then takes the rate and
#'   its own arguments (`weight_decay`, `clipnorm`, `clipvalue`,
#'   `global_clipnorm`, `use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
#'   `loss_scale_factor`, `gradient_accumulation_steps`, `name`), which
#'   keras3r checks as it checks those of [optimizer_sgd()]: a `clipnorm = -1`
#'   is refused with the same [keras3r_argument_error] and message, naming
#'   the class and `clipnorm`. Then it stores its own settings on `self`.
#' * `build(variables)` makes the optimizer's state, once, for the list of
#'   model variables it will update. It calls `super$build(variables)` first,
#'   then makes one slot per variable with
#'   `self$add_optimizer_variables(variables, "velocity")` (a list of
#'   zero-filled variables shaped like `variables`; a vector of names makes a
#'   list of such lists).
#' * `update_step(gradient, variable, learning_rate)` updates one model
#'   variable from its gradient (it must take exactly these three arguments).
#'   `self$variable_index(variable)` is the position of `variable` (from 1)
#'   among the variables of `build()`, which picks its slots:
#'   `self$velocities[[self$variable_index(variable)]]`. Variables change only
#'   through `self$assign(v, value)`, `self$assign_add(v, value)` and
#'   `self$assign_sub(v, value)`.
#' * `get_config()` returns a named list of the arguments of `initialize()`,
#'   usually `super$get_config()` with the class's own settings added. Keras
#'   writes it into a saved model, and `print()` shows the settings it holds.
#'
#' Keras's base class does the rest around `update_step()`, as for its own
#' optimizers: the learning rate (a number or a schedule), gradient clipping,
#' weight decay (with `exclude_from_weight_decay()`), the moving average of
#' `use_ema`, gradient accumulation, loss scaling and the step counter
#' `iterations`. `inherit` can name a Keras class, such as
#' `keras$optimizers$Adam`, whose `update_step()` then runs with
#' `super$update_step(gradient, variable, learning_rate)`.
#'
#' Inside every method, `self` is the optimizer itself, `private` an R
#' environment of its own (filled from `private`, never saved), `super` (or
#' `super()`) the parent class's methods and `__class__` the class. Further
#' methods and fields can be given in `...` or `public`. A list of variables
#' that Keras tracks on the optimizer (`self$velocities`, or Adam's
#' `self$momentums`) reaches R as an R list, indexed from 1.
#'
#' # When `update_step()` runs
#'
#' A compiled training step, the default of `fit()`, is traced once (on R's own
#' thread, as `fit()` is called from R): `update_step()` then runs once per
#' variable, and the Keras operations it builds become part of the compiled
#' step, which runs them at every step with no R involved. R code that is not
#' a Keras operation runs only while tracing: `if (gradient > 0)` or
#' `as.numeric(gradient)` cannot work (the tensors have no value yet), and
#' keras3r stops with an error that says so; use `keras$ops$where()` or
#' `keras$ops$cond()` instead. With `run_eagerly = TRUE`, on the torch backend,
#' and in a loop of `opt$apply(gradients, variables)`, `update_step()` is
#' called from Python at every step, which costs the time of R's calls.
#'
#' R's arithmetic, comparison and math functions build Keras operations on
#' Keras variables and tensors (see [new_learning_rate_schedule_class()]), so
#' `self$momentum * v - learning_rate * gradient` is a Keras expression.
#'
#' # Saving and loading
#'
#' A model compiled with such an optimizer saves the class name, the
#' `get_config()` list and the optimizer's variables. To load it, pass the
#' class as a custom object under its `classname`:
#' `keras$models$load_model(path, custom_objects = list(SGDMomentum = SGDMomentum))`.
#' The R code is not in the file: the session that loads it must define the
#' class again. Training then resumes from the saved state.
#'
#' @param classname String, the name of the class (and the name under which a
#'   saved model refers to it).
#' @param initialize,build,update_step,get_config Functions, the methods
#'   described in Details; `NULL` leaves the parent's. `update_step` is
#'   required unless `inherit` has one.
#' @param ...,public Further methods and fields of the class, named.
#' @param private A named list of values copied into each optimizer's private
#'   environment, `private` inside the methods; functions in it see `self`
#'   too.
#' @param inherit The parent class: Keras's `Optimizer` when `NULL`, a Keras
#'   optimizer class (`keras$optimizers$Adam`), or a class made by this
#'   function.
#' @param parent_env The environment that the methods' own environments
#'   descend from: names defined there are visible in the methods.
#'
#' @returns The new class, a Python class: call it with the arguments of
#'   `initialize()` to make an optimizer.
#'
#' @seealso
#' [new_learning_rate_schedule_class()] for schedules written in R. These two
#' functions are R constructors with no Python twin: Python users subclass
#' `keras.optimizers.Optimizer` directly.
#'
#' @examplesIf keras3r_available()
#' keras <- reticulate::import("keras")
#'
#' # Sign SGD with momentum (Bernstein et al., 2018, "signSGD"): each weight
#' # moves by the learning rate, in the direction of its momentum's sign.
#' SignSGD <- Optimizer(
#'   "SignSGD",
#'   initialize = function(learning_rate = 0.01, momentum = 0.9, ...) {
#'     super$initialize(learning_rate = learning_rate, ...)
#'     self$momentum <- momentum
#'   },
#'   build = function(variables) {
#'     super$build(variables)
#'     self$momentums <- self$add_optimizer_variables(variables, "momentum")
#'   },
#'   update_step = function(gradient, variable, learning_rate) {
#'     m <- self$momentums[[self$variable_index(variable)]]
#'     self$assign(m, self$momentum * m + (1 - self$momentum) * gradient)
#'     self$assign_sub(variable, learning_rate * keras$ops$sign(m))
#'   },
#'   get_config = function() {
#'     config <- super$get_config()
#'     config$momentum <- self$momentum
#'     config
#'   }
#' )
#'
#' opt <- SignSGD(learning_rate = 0.1)
#' opt
#' w <- keras$Variable(c(1, -2, 3), dtype = "float32")
#' opt$apply(list(keras$ops$convert_to_tensor(c(0.5, -4, 0))), list(w))
#' as.numeric(w)  # c(0.9, -1.9, 3): the sign, times 0.1
#'
#' model <- keras$Sequential(list(keras$Input(shape = list(2L)), keras$layers$Dense(1L)))
#' opt <- SignSGD(learning_rate = 0.01)
#' model$compile(optimizer = opt, loss = "mse")
#' history <- model$fit(matrix(runif(64), 32, 2), matrix(runif(32), 32, 1),
#'                      epochs = 2L, verbose = 0L)
#' as.integer(opt$iterations$numpy())  # steps taken: 2 epochs of one batch
#' @concept optimizers
#' @export
new_optimizer_class <- function(classname, initialize = NULL, build = NULL, update_step = NULL,
                                get_config = NULL, ..., public = list(), private = list(),
                                inherit = NULL, parent_env = parent.frame()) {
  force(parent_env)
  fun <- "new_optimizer_class"
  members <- c(list(...), public)
  check_r_class_args(fun, classname,
                     list(initialize = initialize, build = build, update_step = update_step,
                          get_config = get_config),
                     members, private)
  keras <- keras_module()
  helper <- python_submodule("r_optimizer")
  builtins <- reticulate::import_builtins()
  if (is.null(inherit)) inherit <- keras$optimizers$Optimizer
  if (!inherits(inherit, "python.builtin.type") ||
      !builtins$issubclass(inherit, keras$optimizers$Optimizer)) {
    stop(argument_error(sprintf(paste(
      "%s(): `inherit` must be a Keras optimizer class, such as",
      "keras$optimizers$Adam or a class made by this function."
    ), fun), fun, argument = "inherit"))
  }
  if (is.null(update_step) && !helper$defines_update_step(inherit)) {
    stop(argument_error(sprintf(paste(
      "%s(): `update_step` is missing. An optimizer needs",
      "`update_step = function(gradient, variable, learning_rate)`, which updates",
      "one variable with self$assign(), self$assign_add() or self$assign_sub()."
    ), fun), fun, argument = "update_step"))
  }
  expected <- c("gradient", "variable", "learning_rate")
  if (!is.null(update_step) && !identical(names(formals(update_step)), expected)) {
    given <- names(formals(update_step))
    stop(argument_error(sprintf(paste(
      "%s(): `update_step` must take the arguments (gradient, variable, learning_rate),",
      "in that order, as Keras calls it; it takes (%s)."
    ), fun, paste(given, collapse = ", ")), fun, argument = "update_step"))
  }

  methods <- c(
    list(`__init__` = initialize, build = build, update_step = update_step,
         get_config = get_config),
    members
  )
  body <- r_class_defs(
    methods, private, parent_env, parent_methods,
    returns_none = c("__init__", "build", "update_step"),
    wrap = function(method, name) {
      wrapped <- switch(name,
        update_step = traced_update_step(method, classname),
        get_config = checked_get_config(method, classname),
        method
      )
      # The errors of these wrappers too are relayed to R whole.
      function(self, ...) relay_conditions(wrapped(self, ...))
    }
  )
  # The mixin checks the base arguments and adds variable_index(); a class
  # extending an R-written one has it already.
  bases <- if (builtins$issubclass(inherit, helper$RWrittenOptimizer)) {
    list(inherit)
  } else {
    list(helper$RWrittenOptimizer, inherit)
  }
  cls <- reticulate::PyClass(classname, body$defs, inherit = bases)
  body$class_ref$cls <- cls
  if (!is.null(initialize)) declare_init_signature(helper, cls, initialize)
  relaying_callable(cls)
}

#' @rdname new_optimizer_class
#' @export
Optimizer <- new_optimizer_class

# An R method runs when Python calls it, and reticulate (1.28) hands an R error
# raised there back to the R caller as a plain error holding Python's text
# ("RuntimeError: ..."): a keras3r_argument_error from super$initialize(), or
# the keras3r_bad_config of get_config(), would lose its class and fields on
# the way. So keras3r's own conditions from R methods are kept here as they
# are raised, and signalled again, whole, where R meets the error that carries
# their message: in an R method one level up, or where R called the class or
# a method (relaying_callable()). A reticulate that keeps R conditions across
# Python hands them on unchanged.
relay_conditions <- function(expr) {
  withCallingHandlers(expr, error = function(e) {
    if (any(startsWith(class(e), "keras3r_"))) {
      .keras3r$relayed <- e
      return()
    }
    relayed <- .keras3r$relayed
    if (!is.null(relayed) &&
        grepl(conditionMessage(relayed), conditionMessage(e), fixed = TRUE)) {
      stop(relayed)
    }
  })
}

# A Python callable (the class, or a method of an optimizer) that R calls, as
# the same Python object, whose errors relay_conditions() restores.
relaying_callable <- function(callable) {
  force(callable)
  relaying <- function(...) {
    .keras3r$relayed <- NULL  # a condition from an earlier call is no longer news
    relay_conditions(callable(...))
  }
  attributes(relaying) <- attributes(callable)
  relaying
}

# The methods that R code calls on an optimizer and that run its R methods.
relayed_methods <- c("get_config", "build", "apply", "update_step")

# The R arguments and defaults of `initialize`, given to the Python
# __init__ that runs it: print() then shows only the settings that differ
# from them. A default that is not one plain value counts as differing.
declare_init_signature <- function(helper, cls, initialize) {
  f <- formals(initialize)
  arg_names <- names(f)
  dots <- match("...", arg_names)
  before <- if (is.na(dots)) arg_names else arg_names[seq_len(dots - 1L)]
  after <- if (is.na(dots)) character() else arg_names[-seq_len(dots)]
  defaults <- reticulate::dict()
  for (name in setdiff(arg_names, "...")) {
    if (identical(f[[name]], quote(expr = ))) next
    value <- f[[name]]
    plain <- is.null(value) || (is.atomic(value) && length(value) == 1L)
    defaults[[name]] <- if (plain) value else helper$R_EXPRESSION
  }
  helper$declare_init_signature(cls, as.list(before), as.list(after), defaults)
}

# `super`: called, `super()` is Python's super() for the class; `super$name`
# is the parent's method `name` directly. Either way R's method names
# (`initialize`) are Python's (`__init__`).
parent_methods <- function(class_ref, self) {
  structure(function(type = class_ref$cls, object = self) {
    structure(list(object = reticulate::import_builtins()$super(type, object), self = object),
              class = "keras3r_parent_methods")
  }, class = "keras3r_super")
}

#' @export
`$.keras3r_super` <- function(x, name) {
  `$.keras3r_parent_methods`(x(), name)
}

#' @export
`$.keras3r_parent_methods` <- function(x, name) {
  if (identical(name, "initialize")) name <- "__init__"
  method <- do.call(`$`, list(unclass(x)$object, name))
  if (identical(name, "__init__")) checked_parent_init(method, unclass(x)$self) else method
}

# super$initialize(...): the parent's __init__, called through
# keras3r.for_r.init_optimizer() so that a base argument that keras3r refuses
# (checked once, in Python, by the RWrittenOptimizer mixin) is signalled here
# as the built-in optimizers signal it, a keras3r_argument_error naming the
# class, with the value as R has it, also when it came through `...`.
checked_parent_init <- function(init, self) {
  function(...) {
    fun <- sub("^.*\\.", "", class(self)[[1]])
    outcome <- python_entry("init_optimizer")(init, ...)
    signal_keras3r_warnings(outcome[[3L]], fun)
    if (!is.null(outcome[[2L]])) stop(refusal_condition(outcome[[2L]], fun, list(...)))
    invisible(NULL)
  }
}

#' @export
`[[.keras3r_super` <- `$.keras3r_super`

#' @export
`[[.keras3r_parent_methods` <- `$.keras3r_parent_methods`

# Lists that Keras tracks on an optimizer (the slots that build() makes) reach
# R as Keras's TrackedList, which reticulate indexes from 0: `[[1]]` would be
# the second slot. On an R-written optimizer they come as R lists instead, so
# that `self$velocities[[self$variable_index(variable)]]` picks the right one.
#' @export
`$.keras3r.r_optimizer.RWrittenOptimizer` <- function(x, name) {
  value <- NextMethod()
  if (name %in% relayed_methods && is.function(value)) return(relaying_callable(value))
  if (inherits(value, "keras.src.utils.tracking.TrackedList")) {
    value <- reticulate::py_to_r(reticulate::import_builtins(convert = FALSE)$list(value))
  }
  value
}

# Messages of the errors that R code meets when it asks a traced tensor for a
# value: R's `if` on a tensor, and conversions to R numbers under TensorFlow's
# graph and JAX's tracer.
traced_value_errors <- paste(
  "argument is not interpretable as logical", "argument is of length zero",
  "the condition has length",
  "symbolic", "Tracer", "Concretization", "numpy\\(\\) is only available",
  "OperatorNotAllowedInGraphError", "not allowed in Graph execution",
  sep = "|"
)

# update_step(), with the error that R code asking a tensor for its value
# meets turned into one that says what to write instead.
traced_update_step <- function(method, classname) {
  function(self, gradient, variable, learning_rate) {
    withCallingHandlers(
      method(self, gradient, variable, learning_rate),
      error = function(e) {
        if (!grepl(traced_value_errors, conditionMessage(e))) return()
        stop(structure(
          class = c("keras3r_traced_value", "error", "condition"),
          list(message = paste0(
            classname, "$update_step() asked a tensor for its value (",
            trimws(sub("\n.*", "", conditionMessage(e))), "). A compiled training step runs ",
            "update_step() once, while it is traced, and its tensors have no value ",
            "then: compute with Keras operations, using keras$ops$where() or ",
            "keras$ops$cond() where R would use `if`, and no as.numeric() on tensors."
          ), call = NULL)
        ))
      }
    )
  }
}

# get_config(), refused unless it returns a named list (Keras saves it as a
# dict, and makes the optimizer again from it).
checked_get_config <- function(method, classname) {
  function(self) {
    config <- method(self)
    ok <- inherits(config, "python.builtin.dict") ||
      (is.list(config) && (length(config) == 0L ||
                             (!is.null(names(config)) && all(nzchar(names(config))))))
    if (!ok) {
      stop(structure(
        class = c("keras3r_bad_config", "error", "condition"),
        list(message = paste0(
          classname, "$get_config() must return a named list of the arguments of ",
          "initialize(), such as `config <- super$get_config(); config$momentum <- ",
          "self$momentum; config`; it returned ", r_spelling(config), "."
        ), call = NULL)
      ))
    }
    config
  }
}

# `<SGDMomentum "sgdmomentum"> optimizer written in R`, then the learning rate
# and the settings, as for Keras's own optimizers.
#' @export
format.keras3r.r_optimizer.RWrittenOptimizer <- function(x, ...) {
  lines <- keras_object_lines(x)
  if (is.null(lines)) return(NextMethod())
  lines[[1]] <- sub(" optimizer$", " optimizer written in R", lines[[1]])
  lines
}

#' @export
print.keras3r.r_optimizer.RWrittenOptimizer <- function(x, ...) {
  print_formatted(x, ...)
}
