skip_if_not(keras3r_available())

# What keras3r added to an optimizer's instance dict (keras3r.adapt).
additions <- function(opt) {
  reticulate::import("keras3r.adapt")$keras3r_additions(opt)
}

test_that("plain() leaves nothing of keras3r and keeps the config", {
  opt <- optimizer_adam_w(learning_rate = 0.01, clipnorm = 1)
  expect_true(length(additions(opt)) > 0)
  config <- opt$get_config()
  out <- plain(opt)
  expect_identical(reticulate::py_id(out), reticulate::py_id(opt))
  expect_length(additions(opt), 0L)
  expect_identical(opt$get_config(), config)
  expect_identical(class(opt)[[1]], class(optimizer_adam_w())[[1]])
})

test_that("a plain optimizer updates exactly as stock Keras", {
  keras <- reticulate::import("keras")
  opt <- plain(optimizer_adam_w(learning_rate = 0.05, clipnorm = 0.5))
  stock <- keras$optimizers$AdamW$from_config(opt$get_config())
  w1 <- keras$Variable(c(1, -2, 3))
  w2 <- keras$Variable(c(1, -2, 3))
  for (step in 1:3) {
    g <- keras$ops$convert_to_tensor(c(0.5, -1, 2) * step)
    opt$apply(list(g), list(w1))
    stock$apply(list(g), list(w2))
  }
  expect_identical(as.numeric(keras$ops$convert_to_numpy(w1)),
                   as.numeric(keras$ops$convert_to_numpy(w2)))
  stats <- reticulate::import("keras3r.adapt.eager_apply")$stats(opt)
  expect_identical(stats$compiled_calls, 0L)
})

test_that("plain() reaches the optimizer inside optimizer_loss_scale()", {
  opt <- plain(optimizer_loss_scale(optimizer_adam_w()))
  expect_length(additions(opt), 0L)
  expect_length(additions(opt$inner_optimizer), 0L)
})

test_that("plain() refuses what is not an optimizer, naming the argument", {
  expect_error(plain(NA), "plain\\(\\): `optimizer` must be a Keras optimizer, not NA")
  expect_error(plain(NULL), "`optimizer` must be a Keras optimizer, not NULL")
  expect_error(plain(0.01), "`optimizer` must be a Keras optimizer")
  expect_error(plain(learning_rate_schedule_exponential_decay(0.1, 10, 0.5)),
               "`optimizer` must be a Keras optimizer")
})

test_that("adapt_optimizer() gives a loaded model's optimizer keras3r's behaviour back", {
  keras <- reticulate::import("keras")
  keras$utils$set_random_seed(2L)
  x <- matrix(seq(-1, 1, length.out = 96), ncol = 3)
  y <- x %*% c(1, -2, 0.5)
  model <- keras$Sequential(list(keras$Input(shape = list(3L)), keras$layers$Dense(1L)))
  model$compile(optimizer = optimizer_adam_w(learning_rate = 0.05), loss = "mse")
  model$fit(x, y, epochs = 2L, batch_size = 16L, shuffle = FALSE, verbose = 0L)
  path <- tempfile(fileext = ".keras")
  on.exit(unlink(path), add = TRUE)
  model$save(path)
  loaded <- keras$models$load_model(path)
  expect_length(additions(loaded$optimizer), 0L)
  out <- adapt_optimizer(loaded$optimizer)
  expect_identical(reticulate::py_id(out), reticulate::py_id(loaded$optimizer))
  expect_identical(additions(loaded$optimizer), additions(model$optimizer))
  model$fit(x, y, epochs = 2L, batch_size = 16L, shuffle = FALSE, verbose = 0L)
  loaded$fit(x, y, epochs = 2L, batch_size = 16L, shuffle = FALSE, verbose = 0L)
  expect_equal(as.array(loaded$weights[[1]]), as.array(model$weights[[1]]), tolerance = 1e-5)
  e <- tryCatch(adapt_optimizer(3), error = identity)
  expect_s3_class(e, "keras3r_argument_error")
  expect_match(conditionMessage(e), "adapt_optimizer(): `optimizer` must be a Keras optimizer, not 3.",
               fixed = TRUE)
})
