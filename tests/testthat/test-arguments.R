skip_if_not(keras3r_available())

test_that("optimizer_adam_w() returns a Keras AdamW with R's defaults", {
  opt <- optimizer_adam_w()
  expect_s3_class(opt, "keras.src.optimizers.adamw.AdamW")
  expect_identical(opt$name, "adamw")
  expect_equal(opt$weight_decay, 0.004)
  expect_false(opt$amsgrad)
  expect_null(opt$gradient_accumulation_steps)
})

test_that("whole doubles reach Python as integers", {
  opt <- optimizer_adam_w(use_ema = TRUE, ema_overwrite_frequency = 5,
                          gradient_accumulation_steps = 3)
  expect_identical(opt$ema_overwrite_frequency, 5L)
  expect_identical(opt$gradient_accumulation_steps, 3L)
  cfg <- learning_rate_schedule_cosine_decay(0.1, 1000)$get_config()
  expect_identical(cfg$decay_steps, 1000L)
})

test_that("NA of every type is refused in R, naming the argument", {
  expect_error(optimizer_adam_w(amsgrad = NA), "`amsgrad` is NA.*TRUE")
  expect_error(optimizer_adam_w(ema_overwrite_frequency = NA_integer_),
               "`ema_overwrite_frequency` is NA.*-2147483648")
  expect_error(optimizer_adam_w(learning_rate = NA_real_), "`learning_rate` is NA")
  expect_error(optimizer_adam_w(name = NA_character_), "`name` is NA")
  expect_error(learning_rate_schedule_piecewise_constant_decay(c(1, NA), c(1, 2, 3)),
               "`boundaries` is NA")
})

test_that("vectors, lists and empty values are refused where a scalar is meant", {
  expect_error(optimizer_adam_w(beta_1 = c(0.9, 0.8)), "`beta_1` must be a single value")
  expect_error(optimizer_adam_w(clipnorm = numeric(0)), "`clipnorm` is empty")
  expect_error(optimizer_adam_w(epsilon = list(1e-7)), "`epsilon` must be a single value")
})

test_that("`...` takes only named arguments that Keras knows", {
  expect_error(
    optimizer_adam_w(0.001, 0.004, 0.9, 0.999, 1e-07, FALSE, NULL, NULL, NULL,
                     FALSE, 0.99, NULL, "adamw", 3),
    "arguments in `...` must be named"
  )
  expect_error(optimizer_adam_w(lr = 0.1), "did you mean `learning_rate`")
  expect_error(optimizer_adam_w(foo = 1), "Unknown argument `foo`")
})

test_that("Python's checks reach R with the argument named", {
  expect_error(optimizer_adam_w(beta_1 = NaN), "`beta_1` must be a finite number")
  expect_error(optimizer_adam_w(amsgrad = "yes"), "`amsgrad` must be TRUE or FALSE, not \"yes\"")
  expect_error(optimizer_adam_w(gradient_accumulation_steps = 2.5),
               "`gradient_accumulation_steps` must be a whole number")
  expect_error(optimizer_adam_w(gradient_accumulation_steps = 0),
               "`gradient_accumulation_steps`")
  expect_error(learning_rate_schedule_cosine_decay(0.1), "decay_steps")
})

test_that("learning_rate takes a number, a schedule or an R function", {
  keras <- reticulate::import("keras")
  step <- function(opt) {
    w <- keras$Variable(c(0, 0))
    opt$apply(list(keras$ops$ones(2L)), list(w))
    as.numeric(keras$ops$convert_to_numpy(w))[1]
  }
  expect_equal(step(optimizer_sgd(learning_rate = 0.5)), -0.5, tolerance = 1e-6)
  schedule <- learning_rate_schedule_exponential_decay(0.5, 10, 0.1)
  expect_equal(step(optimizer_sgd(learning_rate = schedule)), -0.5, tolerance = 1e-6)
  calls <- 0
  rate <- function() {
    calls <<- calls + 1
    0.25
  }
  expect_equal(step(optimizer_sgd(learning_rate = rate)), -0.25, tolerance = 1e-6)
  expect_gt(calls, 0)
})

test_that("optimizer_loss_scale wraps an optimizer and passes on only what is given", {
  inner <- optimizer_adam_w()
  opt <- optimizer_loss_scale(inner, initial_scale = 1024, dynamic_growth_steps = 10)
  expect_identical(opt$dynamic_growth_steps, 10L)
  expect_equal(opt$initial_scale, 1024)
  expect_error(optimizer_loss_scale(inner, clipnorm = 1), "clipnorm")
})

test_that("a schedule drives every optimizer from R", {
  keras <- reticulate::import("keras")
  optimizers <- grep("^optimizer_", getNamespaceExports("keras3r"), value = TRUE)
  # The wrappers (loss scale, multi, map) take no learning rate of their own.
  optimizers <- setdiff(optimizers, c("optimizer_loss_scale", "optimizer_multi", "optimizer_map"))
  expect_length(optimizers, 14L)
  for (name in optimizers) {
    schedule <- learning_rate_schedule_piecewise_constant_decay(2, c(0.1, 0.01))
    opt <- do.call(name, list(learning_rate = schedule))
    w <- keras$Variable(c(1, 1, 1))
    rates <- numeric()
    for (i in 1:4) {
      rates[i] <- as.numeric(keras$ops$convert_to_numpy(opt$learning_rate))
      opt$apply(list(keras$ops$ones(3L)), list(w))
    }
    expect_equal(rates, c(0.1, 0.1, 0.1, 0.01), tolerance = 1e-6, label = name)
  }
})
