# Optimizers written in R and what they are compared with, for
# test-optimizer-class.R. The functions take `keras` (the Python module) and
# need nothing else from the tests, so that the fresh R processes that run
# another Keras backend can load this file as it is.

# The example of ?Optimizer: SGD with momentum, Keras's rule for momentum > 0.
r_sgd_momentum_class <- function(counter = NULL) {
  Optimizer(
    "SGDMomentum",
    initialize = function(learning_rate = 0.01, momentum = 0.9, ...) {
      super$initialize(learning_rate = learning_rate, ...)
      self$momentum <- momentum
    },
    build = function(variables) {
      super$build(variables)
      self$velocities <- self$add_optimizer_variables(variables, "velocity")
    },
    update_step = function(gradient, variable, learning_rate) {
      if (!is.null(counter)) counter$calls <- counter$calls + 1L
      v <- self$velocities[[self$variable_index(variable)]]
      self$assign(v, self$momentum * v - learning_rate * gradient)
      self$assign_add(variable, v)
    },
    get_config = function() {
      config <- super$get_config()
      config$momentum <- self$momentum
      config
    }
  )
}

# Adam, operation for operation as keras.optimizers.Adam computes it (without
# amsgrad), so that the two agree to float32 round-off.
r_adam_class <- function(keras) {
  ops <- keras$ops
  Optimizer(
    "RAdam",
    initialize = function(learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999,
                          epsilon = 1e-7, ...) {
      super$initialize(learning_rate = learning_rate, ...)
      self$beta_1 <- beta_1
      self$beta_2 <- beta_2
      self$epsilon <- epsilon
    },
    build = function(variables) {
      super$build(variables)
      slots <- self$add_optimizer_variables(variables, c("momentum", "velocity"))
      self$momentums <- slots[[1]]
      self$velocities <- slots[[2]]
    },
    update_step = function(gradient, variable, learning_rate) {
      dtype <- variable$dtype
      lr <- ops$cast(learning_rate, dtype)
      gradient <- ops$cast(gradient, dtype)
      step <- ops$cast(self$iterations + 1L, dtype)
      beta_1_power <- ops$power(ops$cast(self$beta_1, dtype), step)
      beta_2_power <- ops$power(ops$cast(self$beta_2, dtype), step)
      i <- self$variable_index(variable)
      m <- self$momentums[[i]]
      v <- self$velocities[[i]]
      alpha <- lr * sqrt(1 - beta_2_power) / (1 - beta_1_power)
      self$assign_add(m, (gradient - m) * (1 - self$beta_1))
      self$assign_add(v, (ops$square(gradient) - v) * (1 - self$beta_2))
      self$assign_sub(variable, (m * alpha) / (sqrt(v) + self$epsilon))
    },
    get_config = function() {
      config <- super$get_config()
      config[c("beta_1", "beta_2", "epsilon")] <- list(self$beta_1, self$beta_2, self$epsilon)
      config
    }
  )
}

# Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms"),
# written from the paper's algorithm.
r_lion_class <- function(keras) {
  Optimizer(
    "RLion",
    initialize = function(learning_rate = 1e-4, beta_1 = 0.9, beta_2 = 0.99, ...) {
      super$initialize(learning_rate = learning_rate, ...)
      self$beta_1 <- beta_1
      self$beta_2 <- beta_2
    },
    build = function(variables) {
      super$build(variables)
      self$momentums <- self$add_optimizer_variables(variables, "momentum")
    },
    update_step = function(gradient, variable, learning_rate) {
      m <- self$momentums[[self$variable_index(variable)]]
      update <- keras$ops$sign(self$beta_1 * m + (1 - self$beta_1) * gradient)
      self$assign_sub(variable, learning_rate * update)
      self$assign(m, self$beta_2 * m + (1 - self$beta_2) * gradient)
    }
  )
}

# The paper's Lion in float64 R numbers: the weights after each gradient of
# `gradients` (one row per step).
lion_reference <- function(w, gradients, lr, beta_1, beta_2) {
  m <- numeric(length(w))
  for (t in seq_len(nrow(gradients))) {
    g <- gradients[t, ]
    w <- w - lr * sign(beta_1 * m + (1 - beta_1) * g)
    m <- beta_2 * m + (1 - beta_2) * g
  }
  w
}

# The weights (one vector) of a small two-layer model trained by `opt` with
# fit() from the same start and data; `...` goes to compile().
fit_weights <- function(keras, opt, ..., epochs = 3L) {
  keras$utils$set_random_seed(7L)
  model <- keras$Sequential(list(
    keras$Input(shape = list(3L)),
    keras$layers$Dense(4L, activation = "tanh"),
    keras$layers$Dense(1L)
  ))
  model$compile(optimizer = opt, loss = "mse", ...)
  x <- matrix(sin(seq_len(96)), 32, 3)
  y <- matrix(cos(seq_len(32)), 32, 1)
  model$fit(x, y, epochs = epochs, batch_size = 8L, shuffle = FALSE, verbose = 0L)
  unlist(lapply(model$get_weights(), as.numeric))
}

# The largest difference between the weights that `mine` and `theirs` (two
# functions making a fresh optimizer) train to.
weights_gap <- function(keras, mine, theirs, ...) {
  max(abs(fit_weights(keras, mine(), ...) - fit_weights(keras, theirs(), ...)))
}

# An R loop of opt$apply(): the R Lion against its float64 reference; returns
# the largest difference.
lion_apply_gap <- function(keras) {
  RLion <- r_lion_class(keras)
  opt <- RLion(learning_rate = 0.01, beta_1 = 0.9, beta_2 = 0.99)
  start <- c(0.5, -1.5, 2, 0.25)
  w <- keras$Variable(start, dtype = "float32")
  gradients <- matrix(cos(seq_len(40) * 1.7), 10, 4)
  for (t in seq_len(nrow(gradients))) {
    opt$apply(list(keras$ops$convert_to_tensor(gradients[t, ], dtype = "float32")), list(w))
  }
  expected <- lion_reference(start, gradients, 0.01, 0.9, 0.99)
  max(abs(as.numeric(keras$ops$convert_to_numpy(w)) - expected))
}

# The checks that each backend runs, one tagged line per figure, read by
# test-optimizer-class.R: the R SGD with momentum and the R Adam against
# Keras's own, compiled (the backend's default) and eager, and the R Lion's
# opt$apply() loop against its reference. On torch, whose fit() compiles
# nothing unless asked, the eager runs would repeat the compiled ones.
optimizer_class_backend_report <- function(keras) {
  eager <- keras$backend$backend() != "torch"
  RSGD <- r_sgd_momentum_class()
  RAdam <- r_adam_class(keras)
  sgd <- function() RSGD(learning_rate = 0.01)
  keras_sgd <- function() optimizer_sgd(learning_rate = 0.01, momentum = 0.9)
  adam <- function() RAdam(learning_rate = 0.01)
  keras_adam <- function() optimizer_adam(learning_rate = 0.01)
  cat("backend", keras$backend$backend(), "\n")
  cat("sgd_compiled", weights_gap(keras, sgd, keras_sgd), "\n")
  if (eager) cat("sgd_eager", weights_gap(keras, sgd, keras_sgd, run_eagerly = TRUE), "\n")
  cat("adam_compiled", weights_gap(keras, adam, keras_adam), "\n")
  if (eager) cat("adam_eager", weights_gap(keras, adam, keras_adam, run_eagerly = TRUE), "\n")
  cat("lion_apply", lion_apply_gap(keras), "\n")
}

# TensorFlow only, in a process whose CPU was split into two logical devices
# before TensorFlow started: the R SGD with momentum under a
# MirroredStrategy of the two, against the same training on one device (the
# same global batch, so the same model up to summation order).
distribute_report <- function(keras, tf) {
  RSGD <- r_sgd_momentum_class()
  one <- fit_weights(keras, RSGD(learning_rate = 0.01))
  strategy <- tf$distribute$MirroredStrategy(list("/cpu:0", "/cpu:1"))
  two <- with(strategy$scope(), {
    opt <- RSGD(learning_rate = 0.01)
    fit_weights(keras, opt)
  })
  cat("replicas", strategy$num_replicas_in_sync, "\n")
  cat("distribute", max(abs(one - two)), "\n")
}

# The two logical CPUs of distribute_report(): to run first in a fresh process.
split_cpu <- function(tf) {
  cpu <- tf$config$list_physical_devices("CPU")[[1]]
  tf$config$set_logical_device_configuration(
    cpu, list(tf$config$LogicalDeviceConfiguration(), tf$config$LogicalDeviceConfiguration())
  )
}

# TensorFlow: the operations, by type, of one opt$apply() on six variables
# traced into a tf.function, the graph that a compiled step runs.
graph_ops <- function(keras, tf, opt) {
  variables <- lapply(1:6, function(i) keras$Variable(keras$ops$ones(list(8L, 8L))))
  gradients <- lapply(1:6, function(i) keras$ops$ones(list(8L, 8L)))
  opt$build(variables)
  step <- tf$`function`(function() {
    opt$apply(gradients, variables)
    NULL
  })
  ops <- step$get_concrete_function()$graph$get_operations()
  table(vapply(ops, function(op) op$type, ""))
}
