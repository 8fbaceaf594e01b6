skip_if_not(keras3r_available())

# The figures of optimizer_class_backend_report(): float32 round-off at most.
check_backend_report <- function(lines, backend) {
  expect_identical(tagged(lines, "backend"), backend)
  tags <- c("sgd_compiled", "adam_compiled", "lion_apply")
  if (backend != "torch") tags <- c(tags, "sgd_eager", "adam_eager")
  for (tag in tags) {
    gap <- as.numeric(tagged(lines, tag))
    expect_true(is.finite(gap), label = paste(backend, tag, paste(lines, collapse = "\n")))
    expect_lt(gap, 1e-6, label = paste(backend, tag))
  }
}

test_that("both names have the contract's signature, and are one function", {
  expect_r_only_constructor("new_optimizer_class", "Optimizer", paste(
    "classname, initialize = NULL, build = NULL, update_step = NULL, get_config = NULL,",
    "..., public = list(), private = list(), inherit = NULL, parent_env = parent.frame()"
  ))
})

test_that("the example trains to optimizer_sgd()'s numbers, compiled with and without XLA", {
  keras <- reticulate::import("keras")
  skip_if_not(identical(keras$backend$backend(), "tensorflow"))
  counter <- new.env()
  counter$calls <- 0L
  SGDMomentum <- r_sgd_momentum_class(counter)
  mine <- function() SGDMomentum(learning_rate = 0.01)
  theirs <- function() optimizer_sgd(learning_rate = 0.01, momentum = 0.9)
  expect_identical(weights_gap(keras, mine, theirs, jit_compile = FALSE), 0)
  # 4 variables, 3 epochs of 4 batches: R ran while tracing, not at each step.
  expect_gt(counter$calls, 0L)
  expect_lt(counter$calls, 4L * 12L)
  expect_identical(weights_gap(keras, mine, theirs, jit_compile = TRUE), 0)
  # Not a trivial agreement: plain SGD ends elsewhere.
  expect_gt(max(abs(fit_weights(keras, mine()) -
                      fit_weights(keras, optimizer_sgd(learning_rate = 0.01)))), 1e-4)
})

test_that("an R SGD and an R Adam trace to the graph of Keras's own classes", {
  keras <- reticulate::import("keras")
  skip_if_not(identical(keras$backend$backend(), "tensorflow"))
  tf <- reticulate::import("tensorflow")
  SGDMomentum <- r_sgd_momentum_class()
  RAdam <- r_adam_class(keras)
  # plain(): stock Keras, without keras3r's compiled update.
  sgd <- graph_ops(keras, tf, SGDMomentum(learning_rate = 0.01))
  expect_identical(sgd, graph_ops(keras, tf, plain(optimizer_sgd(0.01, momentum = 0.9))))
  adam <- graph_ops(keras, tf, RAdam(learning_rate = 0.001))
  expect_identical(adam, graph_ops(keras, tf, plain(optimizer_adam(0.001))))
  expect_false(identical(sgd, adam))
})

test_that("on every backend, in a fresh R each, an R SGD, Adam and Lion match", {
  helper <- readLines(test_path("helper-optimizer-class.R"))
  for (backend in c("tensorflow", "jax", "torch")) {
    skip_without_backend(backend)
    # On TensorFlow, two logical CPUs first, for tf.distribute.
    code <- if (backend == "tensorflow") {
      c("tf <- reticulate::import('tensorflow')", "split_cpu(tf)",
        "distribute_report(reticulate::import('keras'), tf)")
    }
    run <- run_fresh_r(
      c(helper, code, "optimizer_class_backend_report(reticulate::import('keras'))"),
      env = c(paste0("KERAS_BACKEND=", backend), "TF_CPP_MIN_LOG_LEVEL=3",
              paste0("RETICULATE_PYTHON=", reticulate::py_exe()))
    )
    expect_identical(run$status, 0L, label = paste(c(run$stdout, run$stderr), collapse = "\n"))
    check_backend_report(run$stdout, backend)
    if (backend == "tensorflow") {
      # Two replicas train the model that one device trains.
      expect_identical(tagged(run$stdout, "replicas"), "2")
      expect_lt(as.numeric(tagged(run$stdout, "distribute")), 1e-6)
    }
  }
})

test_that("clipping, weight decay, EMA, accumulation and loss scaling work around update_step", {
  keras <- reticulate::import("keras")
  SGDMomentum <- r_sgd_momentum_class()
  settings <- list(
    list(clipnorm = 0.05),
    list(clipvalue = 0.01),
    list(global_clipnorm = 0.05),
    list(weight_decay = 0.1, exclude = "bias"),
    list(use_ema = TRUE, ema_momentum = 0.5, ema_overwrite_frequency = 2L),
    list(gradient_accumulation_steps = 2L),
    list(loss_scale_factor = 128)
  )
  plain <- fit_weights(keras, SGDMomentum(learning_rate = 0.01))
  for (s in settings) {
    exclude <- s$exclude
    s$exclude <- NULL
    make <- function(f) {
      function() {
        opt <- do.call(f, s)
        if (!is.null(exclude)) opt$exclude_from_weight_decay(var_names = list(exclude))
        opt
      }
    }
    mine <- make(function(...) SGDMomentum(learning_rate = 0.01, ...))
    theirs <- make(function(...) optimizer_sgd(learning_rate = 0.01, momentum = 0.9, ...))
    label <- paste(names(s), collapse = ", ")
    trained <- fit_weights(keras, mine())
    expect_lt(max(abs(trained - fit_weights(keras, theirs()))), 1e-6, label = label)
    # Each setting changes the training, so the comparison can fail (a loss
    # scale divides the gradients by the factor it multiplied the loss by).
    if (is.null(s$loss_scale_factor)) {
      expect_gt(max(abs(trained - plain)), 1e-6, label = label)
    }
  }
})

test_that("a class can extend Keras's Adam and call its update_step", {
  keras <- reticulate::import("keras")
  ClippedAdam <- Optimizer(
    "ClippedAdam",
    initialize = function(bound = 0.05, ...) {
      super$initialize(...)
      self$bound <- bound
    },
    update_step = function(gradient, variable, learning_rate) {
      super$update_step(gradient, variable, learning_rate)
      self$assign(variable, keras$ops$clip(variable, -self$bound, self$bound))
    },
    inherit = keras$optimizers$Adam
  )
  opt <- ClippedAdam(bound = 0.05, learning_rate = 0.02)
  expect_true(reticulate::import_builtins()$isinstance(opt, keras$optimizers$Adam))
  # Adam moves each weight by about the learning rate per step, towards 1 and
  # -1: after 3 steps, 0.06 from where it started, clipped at 0.05.
  w <- keras$Variable(c(0, 0.01, 0), dtype = "float32")
  g <- keras$ops$convert_to_tensor(c(-1, 1, 0.5), dtype = "float32")
  adam <- optimizer_adam(learning_rate = 0.02)
  w_adam <- keras$Variable(c(0, 0.01, 0), dtype = "float32")
  for (i in 1:3) {
    opt$apply(list(g), list(w))
    adam$apply(list(g), list(w_adam))
  }
  plain <- as.numeric(w_adam)
  expect_equal(as.numeric(w), pmin(pmax(plain, -0.05), 0.05), tolerance = 1e-6)
  expect_gt(max(abs(plain)), 0.05)
  # The momentums are Adam's own, filled by its build().
  expect_length(opt$`_momentums`, 1L)
})

test_that("super$, super()$, private, __class__, public members and inherit work", {
  keras <- reticulate::import("keras")
  Base <- Optimizer(
    "RBaseOpt",
    initialize = function(learning_rate = 0.1, ...) {
      super()$initialize(learning_rate = learning_rate, ...)
      private$made <- TRUE
    },
    update_step = function(gradient, variable, learning_rate) {
      self$assign_sub(variable, private$scale() * learning_rate * gradient)
    },
    describe = function() paste(class(`__class__`)[[1]], private$made),
    public = list(kind = "scaled"),
    private = list(scale = function() 2, made = FALSE)
  )
  opt <- Base()
  w <- keras$Variable(c(1, 2), dtype = "float32")
  opt$apply(list(keras$ops$ones(2L)), list(w))
  expect_equal(as.numeric(w), c(0.8, 1.8), tolerance = 1e-6)
  expect_match(opt$describe(), "TRUE$")
  expect_identical(opt$kind, "scaled")
  expect_identical(opt$variable_index(w), 1L)
  # The child's private members are its own; the parent's methods keep theirs.
  Halved <- Optimizer(
    "RHalvedOpt",
    update_step = function(gradient, variable, learning_rate) {
      stopifnot(is.null(private$scale), private$half == 0.5)
      super$update_step(gradient * private$half, variable, learning_rate)
    },
    inherit = Base,
    private = list(half = 0.5)
  )
  h <- Halved()
  expect_true(reticulate::import_builtins()$isinstance(h, Base))
  w <- keras$Variable(c(1, 2), dtype = "float32")
  h$apply(list(keras$ops$ones(2L)), list(w))
  expect_equal(as.numeric(w), c(0.9, 1.9), tolerance = 1e-6)
})

test_that("variable_index() picks each variable's own slot", {
  keras <- reticulate::import("keras")
  SGDMomentum <- r_sgd_momentum_class()
  opt <- SGDMomentum(learning_rate = 1, momentum = 0.5)
  vars <- lapply(1:3, function(i) keras$Variable(keras$ops$zeros(list(i))))
  grads <- lapply(1:3, function(i) keras$ops$full(list(i), -i))
  opt$apply(grads, vars)
  expect_identical(vapply(vars, function(v) opt$variable_index(v), integer(1)), 1:3)
  # The velocities came to R as an R list, in the variables' order.
  expect_type(opt$velocities, "list")
  expect_equal(lapply(opt$velocities, as.numeric), lapply(1:3, function(i) rep(i, i)))
  expect_equal(lapply(vars, as.numeric), lapply(1:3, function(i) rep(i, i)))
})

test_that("a saved model loads with the class and resumes to the uninterrupted run", {
  keras <- reticulate::import("keras")
  SGDMomentum <- r_sgd_momentum_class()
  x <- matrix(sin(seq_len(48)), 16, 3)
  y <- matrix(cos(seq_len(16)), 16, 1)
  make_model <- function() {
    keras$utils$set_random_seed(3L)
    model <- keras$Sequential(list(keras$Input(shape = list(3L)), keras$layers$Dense(1L)))
    model$compile(optimizer = SGDMomentum(learning_rate = 0.02, momentum = 0.8), loss = "mse")
    model
  }
  fit <- function(model, epochs) {
    model$fit(x, y, epochs = epochs, batch_size = 4L, shuffle = FALSE, verbose = 0L)
  }
  whole <- make_model()
  fit(whole, 4L)
  first <- make_model()
  fit(first, 2L)
  path <- tempfile(fileext = ".keras")
  on.exit(unlink(path), add = TRUE)
  first$save(path)
  expect_error(keras$models$load_model(path))
  loaded <- keras$models$load_model(path, custom_objects = list(SGDMomentum = SGDMomentum))
  expect_true(reticulate::import_builtins()$isinstance(loaded$optimizer, SGDMomentum))
  expect_equal(loaded$optimizer$momentum, 0.8)
  expect_equal(as.integer(loaded$optimizer$iterations$numpy()), 8L)
  fit(loaded, 2L)
  expect_equal(unlist(lapply(loaded$get_weights(), as.numeric)),
               unlist(lapply(whole$get_weights(), as.numeric)), tolerance = 1e-6)
})

test_that("print() says it is an optimizer written in R, with its settings", {
  SGDMomentum <- r_sgd_momentum_class()
  out <- capture.output(print(SGDMomentum(learning_rate = 0.05, momentum = 0.5, clipnorm = 1)))
  expect_match(out[[1]], '^<SGDMomentum "sgd_momentum[_0-9]*"> optimizer written in R$')
  expect_true("  learning_rate: 0.05" %in% out)
  expect_true("    momentum = 0.5" %in% out)
  expect_true("    clipnorm = 1" %in% out)
  # The defaults are those of the R initialize(): momentum = 0.9 is not listed.
  out <- capture.output(print(SGDMomentum(momentum = 0.9)))
  expect_identical(out[-1], c("  learning_rate: 0.01", "  settings: all at their defaults"))
})

test_that("mistakes are refused with errors that say what to do", {
  keras <- reticulate::import("keras")
  refused <- function(expr, pattern) {
    expect_error(expr, pattern, class = "keras3r_argument_error")
  }
  step <- function(gradient, variable, learning_rate) NULL
  refused(Optimizer("not a name", update_step = step), "`classname`")
  refused(Optimizer("A"), "`update_step` is missing")
  refused(Optimizer("A", update_step = function(grad, var, lr) NULL),
          "\\(gradient, variable, learning_rate\\).*takes \\(grad, var, lr\\)")
  refused(Optimizer("A", update_step = step, build = 1), "`build` must be a function")
  refused(Optimizer("A", update_step = step, private = list(1)), "`private` must be a named")
  refused(Optimizer("A", update_step = step, inherit = keras$layers$Dense), "`inherit`")
  refused(Optimizer("A", step, NULL, NULL, NULL, function() 1), "must be named")

  # The base arguments that initialize() passes on get keras3r's checks.
  SGDMomentum <- r_sgd_momentum_class()
  expect_error(SGDMomentum(clipnorm = -1), "SGDMomentum\\(\\): `clipnorm` must be a number > 0")
  expect_error(SGDMomentum(learning_rate = NaN), "`learning_rate`")
  expect_error(SGDMomentum(gradient_accumulation_steps = 2.5), "`gradient_accumulation_steps`")
  # As the built-in optimizers refuse them: the same condition, fields and
  # message, with the class's name, also for values that came through `...`
  # or positionally, and for a class extending an R-written one.
  Child <- Optimizer("Child", initialize = function(...) super$initialize(...),
                     inherit = SGDMomentum)
  Positional <- Optimizer(
    "Positional",
    initialize = function(learning_rate = 0.1, ...) super$initialize(learning_rate, ...),
    update_step = step
  )
  same_as_builtin <- function(expr, builtin, fun, argument, value) {
    error <- tryCatch(expr, error = identity)
    expect_s3_class(error, "keras3r_argument_error")
    expected <- tryCatch(builtin, keras3r_argument_error = identity)
    expect_identical(conditionMessage(error),
                     sub("^optimizer_sgd\\(\\)", paste0(fun, "()"), conditionMessage(expected)))
    expect_identical(error$fun, fun)
    expect_identical(error$argument, argument)
    expect_identical(error$value, value)
  }
  same_as_builtin(SGDMomentum(clipnorm = -1), optimizer_sgd(clipnorm = -1),
                  "SGDMomentum", "clipnorm", -1)
  expect_identical(conditionMessage(tryCatch(SGDMomentum(clipnorm = -1), error = identity)),
                   "SGDMomentum(): `clipnorm` must be a number > 0, not -1.")
  same_as_builtin(SGDMomentum(0.1, 0.5, gradient_accumulation_steps = 2.5),
                  optimizer_sgd(gradient_accumulation_steps = 2.5),
                  "SGDMomentum", "gradient_accumulation_steps", 2.5)
  same_as_builtin(Child(clipnorm = -1), optimizer_sgd(clipnorm = -1), "Child", "clipnorm", -1)
  same_as_builtin(Positional("a"), optimizer_sgd(learning_rate = "a"),
                  "Positional", "learning_rate", "a")
  clipping <- tryCatch(SGDMomentum(clipnorm = 1, clipvalue = 1), error = identity)
  expect_s3_class(clipping, "keras3r_argument_error")
  expect_identical(clipping$argument, c("clipnorm", "clipvalue"))

  BadConfig <- Optimizer(
    "BadConfig",
    initialize = function(learning_rate = 0.1, ...) super$initialize(learning_rate, ...),
    update_step = step,
    get_config = function() c(1, 2)
  )
  expect_error(BadConfig()$get_config(), "get_config\\(\\) must return a named list",
               class = "keras3r_bad_config")

  # R values of traced tensors: the error names keras$ops$where() and cond().
  with_if <- Optimizer(
    "WithIf",
    initialize = function(learning_rate = 0.1, ...) super$initialize(learning_rate, ...),
    update_step = function(gradient, variable, learning_rate) {
      if (keras$ops$all(gradient > 0)) self$assign_sub(variable, learning_rate * gradient)
    }
  )
  with_numeric <- Optimizer(
    "WithNumeric",
    initialize = function(learning_rate = 0.1, ...) super$initialize(learning_rate, ...),
    update_step = function(gradient, variable, learning_rate) {
      self$assign_sub(variable, as.numeric(learning_rate) * gradient)
    }
  )
  for (cls in list(with_if, with_numeric)) {
    expect_error(fit_weights(keras, cls(), epochs = 1L),
                 "update_step\\(\\) asked a tensor for its value.*keras\\$ops\\$where\\(\\)")
  }
})
