skip_if_not(keras3r_available())

# A noisy linear regression: SGD noise keeps the training weights y away from
# the optimum, which the averaged weights x smooth out.
sf_data <- function() {
  set.seed(11)
  x <- matrix(rnorm(1280 * 4), ncol = 4)
  y <- x %*% c(1, -2, 0.5, 3) + rnorm(1280)
  list(x = x[1:1024, ], y = y[1:1024, , drop = FALSE],
       x_val = x[1025:1280, ], y_val = y[1025:1280, , drop = FALSE])
}

sf_model <- function(learning_rate = 0.2) {
  keras <- reticulate::import("keras")
  keras$utils$set_random_seed(3L)
  model <- keras$Sequential(list(keras$Input(shape = list(4L)), keras$layers$Dense(1L)))
  model$compile(optimizer = optimizer_schedule_free_adam_w(learning_rate = learning_rate),
                loss = "mse")
  model
}

test_that("the averaged weights are (y - (1 - beta_1) z) / beta_1, and swap in and out exactly", {
  d <- sf_data()
  model <- sf_model()
  model$fit(d$x, d$y, epochs = 1L, batch_size = 16L, verbose = 0L)
  keras <- reticulate::import("keras")
  opt <- model$optimizer
  y <- model$get_weights()
  # x from the optimizer's own slots, computed here in R (double precision).
  z <- lapply(opt$variables, function(v) v$numpy())
  z <- z[grepl("_momentum$", vapply(opt$variables, function(v) v$name, ""))]
  b1 <- opt$beta_1
  x_here <- Map(function(y, z) (y - (1 - b1) * z) / b1, y, z)
  x <- schedule_free_averaged_weights(model)
  expect_length(x, 2L)
  for (i in seq_along(x)) expect_equal(as.numeric(x[[i]]), as.numeric(x_here[[i]]), tolerance = 1e-5)
  expect_false(isTRUE(all.equal(as.numeric(x[[1]]), as.numeric(y[[1]]))))

  expect_identical(schedule_free_weights_in_model(model), "training")
  expect_invisible(swap_schedule_free_weights(model))  # "averaged" is the default
  expect_identical(schedule_free_weights_in_model(model), "averaged")
  for (i in seq_along(x)) expect_identical(model$get_weights()[[i]], x[[i]])
  swap_schedule_free_weights(model, "training")
  for (i in seq_along(y)) expect_identical(model$get_weights()[[i]], y[[i]])  # y exactly

  # with_...(): the value of the code, and y back afterwards, even after an error.
  loss_x <- with_schedule_free_averaged_weights(model, model$evaluate(d$x_val, d$y_val, verbose = 0L))
  loss_y <- model$evaluate(d$x_val, d$y_val, verbose = 0L)
  expect_lt(loss_x, loss_y)
  expect_error(with_schedule_free_averaged_weights(model, stop("inside")), "inside")
  expect_identical(schedule_free_weights_in_model(model), "training")
})

test_that("the callback validates at x, ends fit() with x in, and leaves training unchanged", {
  d <- sf_data()
  plain <- sf_model()
  swapped <- sf_model()
  plain$fit(d$x, d$y, epochs = 2L, batch_size = 16L, verbose = 0L, shuffle = FALSE)
  history <- swapped$fit(
    d$x, d$y, epochs = 2L, batch_size = 16L, verbose = 0L, shuffle = FALSE,
    validation_data = list(d$x_val, d$y_val),
    callbacks = list(callback_swap_schedule_free_weights())
  )
  expect_identical(schedule_free_weights_in_model(swapped), "averaged")
  val_loss <- unlist(history$history$val_loss)
  expect_equal(val_loss[2], swapped$evaluate(d$x_val, d$y_val, verbose = 0L), tolerance = 1e-5)
  swap_schedule_free_weights(swapped, "training")
  for (i in 1:2) {
    expect_equal(swapped$get_weights()[[i]], plain$get_weights()[[i]], tolerance = 1e-6)
  }
})

test_that("bad calls are refused naming the argument", {
  expect_error(schedule_free_averaged_weights(optimizer_adam_w()),
               "`object` must be a ScheduleFreeAdamW")
  opt <- optimizer_schedule_free_adam_w()
  expect_error(swap_schedule_free_weights(opt, "x"), "`to` must be \"averaged\" or \"training\"")
  expect_error(swap_schedule_free_weights(opt, NA_character_), "`to` must be")
  expect_error(callback_swap_schedule_free_weights(swap_on_epoch = NA), "swap_on_epoch")
  expect_error(callback_swap_schedule_free_weights(averaged_after_fit = 1), "averaged_after_fit")
  expect_error(callback_swap_schedule_free_weights(swap_on_epoch = c(TRUE, FALSE)),
               "swap_on_epoch")
})
