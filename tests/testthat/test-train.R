skip_if_not(keras3r_available())

test_that("an R matrix reaches fit() and optimizer_adam_w trains the model", {
  keras <- reticulate::import("keras")
  keras$utils$set_random_seed(1L)
  set.seed(1)
  x <- matrix(rnorm(512), ncol = 4)
  y <- x %*% c(1, -2, 0.5, 3)
  model <- keras$Sequential(list(keras$Input(shape = list(4L)), keras$layers$Dense(1L)))
  model$compile(optimizer = optimizer_adam_w(learning_rate = 0.05), loss = "mse")
  history <- model$fit(x, y, epochs = 20L, batch_size = 32L, verbose = 0L)
  loss <- unlist(history$history$loss)
  expect_lt(loss[length(loss)], 0.05 * loss[1])
})

test_that("an R function as learning rate: called every step eagerly, refused when compiled", {
  keras <- reticulate::import("keras")
  x <- matrix(rnorm(64), ncol = 4)
  y <- matrix(rnorm(16), ncol = 1)
  calls <- 0
  rate <- function() {
    calls <<- calls + 1
    0.01
  }
  model <- keras$Sequential(list(keras$Input(shape = list(4L)), keras$layers$Dense(1L)))
  # A compiled step would freeze the rate at its first value: a clear error instead.
  model$compile(optimizer = optimizer_adam_w(learning_rate = rate), loss = "mse")
  expect_error(model$fit(x, y, epochs = 1L, batch_size = 16L, verbose = 0L),
               "`learning_rate` is a function.*run_eagerly")
  # Eagerly, fit() calls the R function on every one of its 4 steps.
  model$compile(optimizer = optimizer_adam_w(learning_rate = rate), loss = "mse",
                run_eagerly = TRUE)
  calls <- 0
  model$fit(x, y, epochs = 1L, batch_size = 4L, verbose = 0L)
  expect_gte(calls, 4)
})
