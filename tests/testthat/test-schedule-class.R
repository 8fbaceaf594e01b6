skip_if_not(keras3r_available())

test_that("both names have keras3 R's signature, and are one function", {
  expect_r_only_constructor("new_learning_rate_schedule_class", "LearningRateSchedule", paste(
    "classname, call = NULL, initialize = NULL, get_config = NULL, ...,",
    "public = list(), private = list(), inherit = NULL, parent_env = parent.frame()"
  ))
})

# rate(step) = initial / (1 + decay * step), written with R operators on the
# step variable: the R code builds Keras operations.
inverse_time_class <- function(counter = NULL) {
  LearningRateSchedule(
    "RInverseTime",
    initialize = function(initial_learning_rate, decay = 0.5) {
      self$initial_learning_rate <- initial_learning_rate
      self$decay <- decay
    },
    call = function(step) {
      if (!is.null(counter)) counter$calls <- counter$calls + 1L
      self$initial_learning_rate / (1 + self$decay * step)
    },
    get_config = function() {
      list(initial_learning_rate = self$initial_learning_rate, decay = self$decay)
    }
  )
}

# One weight w, loss |w - (-1000)|: the gradient is 1 at every step, so after
# n plain SGD steps w = -sum(rate(0), ..., rate(n - 1)). Each step's rate
# shows in the weight.
constant_gradient_model <- function(keras) {
  keras$Sequential(list(
    keras$Input(shape = list(1L)),
    keras$layers$Dense(1L, use_bias = FALSE, kernel_initializer = "zeros")
  ))
}

test_that("a compiled fit() follows an R schedule at every step", {
  keras <- reticulate::import("keras")
  counter <- new.env()
  counter$calls <- 0L
  RInverseTime <- inverse_time_class(counter)
  opt <- optimizer_sgd(learning_rate = RInverseTime(0.1))
  model <- constant_gradient_model(keras)
  model$compile(optimizer = opt, loss = "mae")
  expect_false(isTRUE(model$run_eagerly))
  steps <- 10L
  model$fit(matrix(1, 4, 1), matrix(-1000, 4, 1), epochs = steps, batch_size = 4L,
            shuffle = FALSE, verbose = 0L)
  rate <- function(step) 0.1 / (1 + 0.5 * step)
  expect_equal(as.integer(opt$iterations$numpy()), steps)
  w <- as.numeric(model$get_weights()[[1]])
  expect_equal(w, -sum(rate(0:(steps - 1L))), tolerance = 1e-6)
  # Not a constant rate: the first one would give -1, the last -0.17.
  expect_gt(abs(w + steps * rate(0)), 0.1)
  # The R code ran while tracing, not at each of the 10 steps.
  expect_lt(counter$calls, steps)
  # The rate after N steps is the R formula at N.
  now <- as.numeric(keras$ops$convert_to_numpy(opt$learning_rate))
  expect_equal(now, rate(steps), tolerance = 1e-6)
})

test_that("a schedule written with keras$ops only trains the same way", {
  keras <- reticulate::import("keras")
  ops <- keras$ops
  Halving <- LearningRateSchedule(
    "RHalving",
    initialize = function(rate) self$rate <- rate,
    call = function(step) {
      ops$multiply(self$rate, ops$power(0.5, ops$floor_divide(ops$cast(step, "float32"), 3)))
    }
  )
  opt <- optimizer_sgd(learning_rate = Halving(0.2))
  model <- constant_gradient_model(keras)
  model$compile(optimizer = opt, loss = "mae")
  model$fit(matrix(1, 2, 1), matrix(-1000, 2, 1), epochs = 10L, batch_size = 2L, verbose = 0L)
  rate <- function(step) 0.2 * 0.5^(step %/% 3)
  expect_equal(as.numeric(model$get_weights()[[1]]), -sum(rate(0:9)), tolerance = 1e-6)
  expect_equal(as.numeric(keras$ops$convert_to_numpy(opt$learning_rate)), rate(10),
               tolerance = 1e-6)
})

test_that("self, private, super(), __class__, public members and inherit work as in keras3", {
  keras <- reticulate::import("keras")
  step <- keras$Variable(4L, dtype = "int64")
  offset <- 0.01  # found through parent_env
  Base <- LearningRateSchedule(
    "RBase",
    initialize = function(rate) {
      self$rate <- rate
      private$made <- TRUE
    },
    call = function(step) self$rate + offset + private$extra(),
    describe = function() paste("rate", self$rate, class(`__class__`)[[1]]),
    public = list(kind = "constant"),
    private = list(extra = function() self$rate * 0, made = FALSE)
  )
  s <- Base(0.5)
  expect_equal(as.numeric(keras$ops$convert_to_numpy(s(step))), 0.51, tolerance = 1e-6)
  expect_match(s$describe(), "^rate 0.5 ")
  expect_identical(s$kind, "constant")
  Doubled <- LearningRateSchedule(
    "RDoubled",
    call = function(step) 2 * super()$`__call__`(step),
    inherit = Base
  )
  d <- Doubled(0.5)
  expect_true(reticulate::import_builtins()$isinstance(d, Base))
  expect_equal(as.numeric(keras$ops$convert_to_numpy(d(step))), 1.02, tolerance = 1e-6)
})

test_that("a model saved with an R schedule loads with the class as a custom object", {
  keras <- reticulate::import("keras")
  RInverseTime <- inverse_time_class()
  model <- constant_gradient_model(keras)
  model$compile(optimizer = optimizer_sgd(learning_rate = RInverseTime(0.1, decay = 0.25)),
                loss = "mae")
  model$fit(matrix(1, 4, 1), matrix(-1000, 4, 1), epochs = 6L, batch_size = 4L, verbose = 0L)
  path <- tempfile(fileext = ".keras")
  on.exit(unlink(path), add = TRUE)
  model$save(path)
  expect_error(keras$models$load_model(path))
  loaded <- keras$models$load_model(path, custom_objects = list(RInverseTime = RInverseTime))
  schedule <- loaded$optimizer$`_learning_rate`
  expect_true(reticulate::import_builtins()$isinstance(schedule, RInverseTime))
  expect_equal(schedule$decay, 0.25)
  expect_equal(as.integer(loaded$optimizer$iterations$numpy()), 6L)
  expect_equal(as.numeric(keras$ops$convert_to_numpy(loaded$optimizer$learning_rate)),
               0.1 / (1 + 0.25 * 6), tolerance = 1e-6)
  # It trains on from there, as the original would.
  loaded$fit(matrix(1, 4, 1), matrix(-1000, 4, 1), epochs = 2L, batch_size = 4L, verbose = 0L)
  model$fit(matrix(1, 4, 1), matrix(-1000, 4, 1), epochs = 2L, batch_size = 4L, verbose = 0L)
  expect_equal(as.numeric(loaded$get_weights()[[1]]), as.numeric(model$get_weights()[[1]]),
               tolerance = 1e-6)
})

test_that("R operators and math functions build Keras operations on tensors", {
  keras <- reticulate::import("keras")
  value <- function(x) as.numeric(keras$ops$convert_to_numpy(x))
  step <- keras$Variable(4L, dtype = "int64")
  x <- keras$ops$convert_to_tensor(c(1, 4, 9))
  expect_equal(value(0.5 * step), 2)
  expect_equal(value(step / 8), 0.5)
  expect_equal(value(-step), -4)
  expect_equal(value(step %% 3), 1)
  expect_equal(value(step %/% 3), 1)
  expect_equal(value(2^step), 16)
  expect_equal(value(step - 1 + x), c(4, 7, 12))
  expect_equal(value(sqrt(x)), c(1, 2, 3))
  expect_equal(value(cos(pi * step)), 1, tolerance = 1e-6)
  expect_equal(value(log(x, base = 3)), c(0, log(4, 3), 2), tolerance = 1e-6)
  expect_equal(value(log(x, 3)), c(0, log(4, 3), 2), tolerance = 1e-6)
  expect_equal(value(round(x / 3, 1)), c(0.3, 1.3, 3), tolerance = 1e-6)
  expect_equal(value(round(x / 3, digits = 1)), c(0.3, 1.3, 3), tolerance = 1e-6)
  expect_equal(value(exp(0 * x)), c(1, 1, 1))
  expect_equal(value(floor(x / 2)), c(0, 2, 4))
  expect_equal(value(max(x, 5)), 9)
  expect_equal(value(min(x / 0.5, 3)), 2)
  expect_true(as.logical(keras$ops$convert_to_numpy(step > 3)))
  expect_equal(as.logical(keras$ops$convert_to_numpy(x >= 4 & x < 9)), c(FALSE, TRUE, FALSE))
})

test_that("the tensorflow R package's class stays its own", {
  keras <- reticulate::import("keras")
  # keras3r registers no method for the class that tensorflow puts first on
  # the TensorFlow tensors it converts.
  for (generic in c("Ops", "Math", "Summary", "+", "*", "-", "/")) {
    expect_null(getS3method(generic, "tensorflow.tensor", optional = TRUE), label = generic)
  }
  # With such a method registered, as tensorflow does, a tensor carrying the
  # class goes to it, not to keras3r; other Keras objects still come to keras3r.
  table <- .BaseNamespaceEnv[[".__S3MethodsTable__."]]
  assign("*.tensorflow.tensor", function(e1, e2) "tensorflow's method", envir = table)
  on.exit(rm("*.tensorflow.tensor", envir = table), add = TRUE)
  # (A reticulate object is a reference: the class goes on a tensor of its own.)
  claimed <- keras$ops$convert_to_tensor(2)
  class(claimed) <- c("tensorflow.tensor", class(claimed))
  tensor <- keras$ops$convert_to_tensor(2)
  expect_identical(claimed * 3, "tensorflow's method")
  expect_identical(3 * claimed, "tensorflow's method")
  expect_equal(as.numeric(keras$ops$convert_to_numpy(tensor * 3)), 6)
  step <- keras$Variable(2L, dtype = "int64")
  expect_equal(as.numeric(keras$ops$convert_to_numpy(step * 3)), 6)
})

test_that("bad definitions are refused, naming the argument", {
  refused <- function(expr, pattern) {
    expect_error(expr, pattern, class = "keras3r_argument_error")
  }
  refused(LearningRateSchedule("not a name"), "`classname`")
  refused(LearningRateSchedule(NA_character_), "`classname`")
  refused(LearningRateSchedule(c("A", "B")), "`classname`")
  refused(LearningRateSchedule("A", call = 1), "`call` must be a function")
  refused(LearningRateSchedule("A", initialize = "x"), "`initialize` must be a function")
  refused(LearningRateSchedule("A", NULL, NULL, NULL, function() 1), "must be named")
  refused(LearningRateSchedule("A", private = list(1)), "`private` must be a named list")
  refused(LearningRateSchedule("A", inherit = "LearningRateSchedule"), "`inherit`")
})

test_that("on JAX too, the jit-compiled step follows the R schedule", {
  skip_without_backend("jax")
  # Keras fixes its backend once per process: a fresh R runs this with JAX.
  root <- test_path("..", "..")
  from_source <- file.exists(file.path(root, "DESCRIPTION")) && dir.exists(file.path(root, "R"))
  load <- if (from_source) {
    sprintf("pkgload::load_all(%s, quiet = TRUE)", deparse(normalizePath(root)))
  } else {
    "library(keras3r)"
  }
  script <- tempfile(fileext = ".R")
  on.exit(unlink(script), add = TRUE)
  writeLines(c(
    load,
    "keras <- reticulate::import('keras')",
    "Inverse <- LearningRateSchedule('RInverseJax',",
    "  initialize = function(rate) self$rate <- rate,",
    "  call = function(step) self$rate / (1 + 0.5 * step))",
    "model <- keras$Sequential(list(keras$Input(shape = list(1L)),",
    "  keras$layers$Dense(1L, use_bias = FALSE, kernel_initializer = 'zeros')))",
    "model$compile(optimizer = optimizer_sgd(learning_rate = Inverse(0.1)), loss = 'mae')",
    "model$fit(matrix(1, 4, 1), matrix(-1000, 4, 1), epochs = 10L, batch_size = 4L, verbose = 0L)",
    "cat(sprintf('backend=%s\\n', keras$backend$backend()))",
    "cat(sprintf('w=%.9g\\n', as.numeric(keras$ops$convert_to_numpy(model$weights[[1]]$value))))"
  ), script)
  env <- c("KERAS_BACKEND=jax", "TF_CPP_MIN_LOG_LEVEL=3",
           paste0("RETICULATE_PYTHON=", reticulate::py_exe()))
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), script,
                                  stdout = TRUE, stderr = TRUE, env = env))
  expect_true("backend=jax" %in% out, label = paste(out, collapse = "\n"))
  w <- as.numeric(sub("^w=", "", grep("^w=", out, value = TRUE)))
  expect_equal(w, -sum(0.1 / (1 + 0.5 * (0:9))), tolerance = 1e-6)
})
