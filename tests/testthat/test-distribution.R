# Training from R on several devices: keras.distribution's DataParallel over
# four virtual JAX devices. JAX reads the number of host devices from
# XLA_FLAGS when it starts, so the training runs in a fresh R process whose
# Python starts with it set. With clipnorm and global_clipnorm, keras3r's
# fit() gives stock Keras's losses, and every optimizer variable is placed
# on all four devices, as its variable is. (tests/python/with_jax/
# test_distribution.py covers ModelParallel and the eager update's HLO.)
skip_if_not(keras3r_available())

test_that("fit() from R under JAX DataParallel on four devices gives stock's losses", {
  skip_on_cran() # a fresh R and a JAX with four devices: not for CRAN's machines
  skip_without_backend("jax")
  code <- c(
    "keras <- reticulate::import('keras')",
    "jax <- reticulate::import('jax')",
    "devices <- jax$devices()",
    "cat('DEVICES', length(devices), '\\n')",
    "keras$distribution$set_distribution(keras$distribution$DataParallel(devices = devices))",
    "set.seed(1)",
    "x <- matrix(rnorm(256), ncol = 4)",
    "y <- x %*% c(1, -2, 0.5, 3)",
    "train <- function(opt) {",
    "  keras$utils$set_random_seed(1L)",
    "  model <- keras$Sequential(list(keras$Input(shape = list(4L)),",
    "    keras$layers$Dense(8L, activation = 'tanh'), keras$layers$Dense(1L)))",
    "  model$compile(optimizer = opt, loss = 'mse')",
    "  history <- model$fit(x, y, epochs = 3L, batch_size = 16L, shuffle = FALSE, verbose = 0L)",
    "  placed <- vapply(c(model$trainable_variables, opt$variables), function(v) {",
    "    length(v$value$sharding$device_set)",
    "  }, numeric(1))",
    "  list(loss = unlist(history$history$loss), placed = placed)",
    "}",
    "for (clip in c('clipnorm', 'global_clipnorm')) {",
    "  args <- setNames(list(0.01, 0.05), c('learning_rate', clip))",
    "  ours <- train(do.call(optimizer_adam_w, args))",
    "  stock <- train(do.call(keras$optimizers$AdamW, args))",
    "  cat(toupper(clip), max(abs(ours$loss - stock$loss)), ours$loss[3] < ours$loss[1],",
    "      min(ours$placed), max(ours$placed), '\\n')",
    "}"
  )
  res <- run_fresh_r(code, env = c("KERAS_BACKEND=jax", "JAX_PLATFORMS=cpu",
                                   "XLA_FLAGS=--xla_force_host_platform_device_count=4"))
  info <- paste(c(res$stdout, res$stderr), collapse = "\n")
  expect_identical(res$status, 0L, info = info)
  expect_identical(tagged(res$stdout, "DEVICES"), "4", info = info)
  for (clip in c("CLIPNORM", "GLOBAL_CLIPNORM")) {
    seen <- strsplit(tagged(res$stdout, clip), " ")[[1]]
    expect_length(seen, 4)
    # keras3r's losses are stock's (float32 rounding at most) ...
    expect_lt(as.numeric(seen[[1]]), 1e-6)
    # ... and the model learned.
    expect_identical(seen[[2]], "TRUE", info = info)
    # Every variable, the optimizer's included, is on all four devices.
    expect_identical(seen[3:4], c("4", "4"), info = info)
  }
})
