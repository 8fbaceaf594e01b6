skip_if_not(keras3r_available())

test_that("optimizer_multi() and optimizer_map() have their signatures", {
  expect_identical(usage_of(optimizer_multi),
                   "optimizer_map, loss_scale_factor = NULL, name = NULL, ...")
  expect_identical(usage_of(optimizer_map), "default_optimizer, optimizer_map = NULL")
})

multi_model <- function(keras, name = "sequential") {
  keras$utils$set_random_seed(3L)
  keras$Sequential(list(
    keras$Input(shape = list(3L)),
    keras$layers$Dense(4L, name = "enc"),
    keras$layers$Dense(1L, name = "dec")
  ), name = name)
}

multi_data <- function() {
  set.seed(2)
  x <- matrix(rnorm(96), ncol = 3)
  list(x = x, y = (x %*% c(1, -2, 0.5))^2)
}

stable_multi <- function() {
  optimizer_multi(optimizer_map(
    optimizer_sgd(learning_rate = 0.01, momentum = 0.9),
    list("(.*/)?enc/.*" = optimizer_adam(learning_rate = 0.01))
  ))
}

test_that("a named list of patterns becomes Keras's OptimizerMap, and prints as routes", {
  keras <- reticulate::import("keras")
  sgd <- optimizer_sgd()
  adam <- optimizer_adam(learning_rate = learning_rate_schedule_cosine_decay(0.1, 100))
  routes <- optimizer_map(sgd, list("(.*/)?enc/.*" = adam, "dec/kernel" = optimizer_lion()))
  expect_s3_class(routes, "keras.src.optimizers.multi_optimizer.OptimizerMap")
  expect_identical(routes$`__getitem__`("sequential/enc/kernel")$name, "adam")
  expect_identical(routes$`__getitem__`("dec/kernel")$name, "lion")
  expect_identical(routes$`__getitem__`("dec/bias")$name, "SGD")

  opt <- optimizer_multi(routes, loss_scale_factor = 2)
  expect_s3_class(opt, "keras.src.optimizers.multi_optimizer.MultiOptimizer")
  expect_equal(opt$loss_scale_factor, 2)
  # Keras has no learning rate on it: print() must not need one.
  expect_error(opt$learning_rate, "sub-optimizers")
  shown <- capture.output(print(opt))
  expect_match(shown[[1]], "^<MultiOptimizer \"multi_optimizer.*\">: no learning rate of its own")
  expect_match(shown[[2]], "\"\\(\\.\\*/\\)\\?enc/\\.\\*\" +-> <Adam \"adam\"> learning_rate = <CosineDecay>")
  expect_match(shown[[3]], "\"dec/kernel\" +-> <Lion \"lion\"> learning_rate = 0.001")
  expect_match(shown[[4]], "\\(any other variable\\) -> <SGD \"SGD\"> learning_rate = 0.01")
  expect_identical(format(opt), shown)
  expect_match(capture.output(print(routes))[[1]], "^<OptimizerMap>")
  # No patterns: everything goes to the default.
  expect_identical(optimizer_map(sgd)$`__getitem__`("x/kernel")$name, "SGD")
  expect_error(optimizer_map(sgd, list()), "empty list; give NULL",
               class = "keras3r_argument_error")
})

test_that("bad maps are refused at the call, naming the argument", {
  sgd <- optimizer_sgd()
  refused <- function(expr, pattern) {
    expect_error(expr, pattern, class = "keras3r_argument_error")
  }
  refused(optimizer_map(sgd, list(sgd)), "every element needs a name")
  refused(optimizer_map(sgd, list(a = sgd, a = optimizer_adam())), "\"a\" appears twice")
  refused(optimizer_map(sgd, list(a = NA)), "optimizer_map\\[\\[\"a\"\\]\\]` is NA")
  refused(optimizer_map(sgd, list(a = 1)), "pattern \"a\" must be a Keras optimizer")
  refused(optimizer_map(sgd, list("(" = sgd)), "not a valid regular expression")
  refused(optimizer_map(sgd, list(a = optimizer_loss_scale(optimizer_adam()))), "loss-scale")
  refused(optimizer_map("sgd"), "default_optimizer")
  refused(optimizer_multi(list(a = sgd)), "made by optimizer_map")
  refused(optimizer_multi(function(a, b) sgd), "function of one argument, not one of \\(a, b\\)")
  refused(optimizer_multi(optimizer_map(sgd), learning_rate = 0.1), "learning_rate")
  refused(optimizer_multi(optimizer_map(sgd), name = NA_character_), "is NA")
})

test_that("a function as the map trains, and is flagged as unsavable when given", {
  keras <- reticulate::import("keras")
  adam <- optimizer_adam(learning_rate = 0.01)
  sgd <- optimizer_sgd(learning_rate = 0.01)
  chosen <- character()
  pick <- function(variable) {
    chosen[[variable$path]] <<- if (grepl("enc", variable$path)) "adam" else "sgd"
    if (grepl("enc", variable$path)) adam else sgd
  }
  expect_warning(opt <- optimizer_multi(pick), "cannot be saved", class = "keras3r_warning")
  model <- multi_model(keras)
  model$compile(optimizer = opt, loss = "mse")
  data <- multi_data()
  model$fit(data$x, data$y, epochs = 1L, batch_size = 8L, verbose = 0L)
  # The R function ran once per variable, when the optimizer was built.
  expect_identical(unname(chosen), c("adam", "adam", "sgd", "sgd"))
  expect_equal(as.integer(adam$iterations$numpy()), 4L)
  expect_equal(as.integer(sgd$iterations$numpy()), 4L)
  expect_match(capture.output(print(opt))[[2]], "routed by a function")
})

test_that("a pattern that would route differently after loading is refused in fit()", {
  keras <- reticulate::import("keras")
  data <- multi_data()
  model <- multi_model(keras)
  model$compile(optimizer = optimizer_multi(optimizer_map(
    optimizer_sgd(), list("enc/.*" = optimizer_adam())
  )), loss = "mse")
  expect_error(
    model$fit(data$x, data$y, epochs = 1L, verbose = 0L),
    "'sequential/enc/kernel'.*'enc/kernel'.*such as '\\(\\.\\*/\\)\\?enc/\\.\\*'"
  )
})

test_that("trained in R, saved and loaded, a multi optimizer continues as if never stopped", {
  keras <- reticulate::import("keras")
  data <- multi_data()
  fit <- function(model, epochs) {
    model$fit(data$x, data$y, epochs = as.integer(epochs), batch_size = 8L,
              shuffle = FALSE, verbose = 0L)
  }
  straight <- multi_model(keras)
  straight$compile(optimizer = stable_multi(), loss = "mse")
  fit(straight, 4)

  first <- multi_model(keras)
  first$compile(optimizer = stable_multi(), loss = "mse")
  fit(first, 2)
  path <- tempfile(fileext = ".keras")
  on.exit(unlink(path), add = TRUE)
  first$save(path)
  resumed <- keras$models$load_model(path)
  expect_identical(
    reticulate::iterate(resumed$optimizer$optimizers, function(o) o$name), c("adam", "SGD")
  )
  fit(resumed, 2)
  for (i in seq_along(straight$get_weights())) {
    expect_lt(max(abs(straight$get_weights()[[i]] - resumed$get_weights()[[i]])), 1e-6)
  }
  expect_gt(max(abs(straight$get_weights()[[1]] - first$get_weights()[[1]])), 1e-3)
})

test_that("a pattern's own braces reach R as written", {
  e <- tryCatch(
    optimizer_map(optimizer_sgd(), list("a{null}(" = optimizer_adam())),
    keras3r_argument_error = function(e) e
  )
  expect_s3_class(e, "keras3r_argument_error")
  expect_match(conditionMessage(e), "\"a{null}(\"", fixed = TRUE)
  expect_false(grepl("NULL|None", conditionMessage(e)))
})
