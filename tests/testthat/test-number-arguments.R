skip_if_not(keras3r_available())

# Wherever Keras takes a number, keras3r takes a scalar tensor, a Keras
# variable, a NumPy scalar or a 0-d array, checked as the number it holds.

# The weights after one step of `opt` from fixed weights and gradients.
one_step <- function(opt) {
  keras <- reticulate::import("keras")
  w <- keras$Variable(c(0.5, -1, 2))
  opt$apply(list(keras$ops$convert_to_tensor(c(0.1, -0.2, 0.3))), list(w))
  as.numeric(keras$ops$convert_to_numpy(w))
}

test_that("a TensorFlow scalar and NumPy scalars train as beta_1", {
  tf <- reticulate::import("tensorflow")
  np <- reticulate::import("numpy", convert = FALSE)
  plain <- one_step(optimizer_adam_w(learning_rate = 0.1, beta_1 = 0.5))
  given <- list(tensorflow = tf$constant(0.5), numpy_scalar = np$float32(0.5),
                numpy_0d = np$array(0.5))
  for (kind in names(given)) {
    opt <- optimizer_adam_w(learning_rate = 0.1, beta_1 = given[[kind]])
    expect_identical(opt$beta_1, 0.5, label = kind)
    expect_equal(one_step(opt), plain, tolerance = 1e-6, label = kind)
  }
  schedule <- learning_rate_schedule_cosine_decay(tf$constant(0.1), 100)
  expect_equal(schedule$get_config()$initial_learning_rate, 0.1, tolerance = 1e-6)
})

test_that("a tensor of two values is refused, naming the argument", {
  tf <- reticulate::import("tensorflow")
  error <- tryCatch(optimizer_adam_w(beta_1 = tf$constant(c(0.9, 0.8))),
                    keras3r_argument_error = identity)
  expect_s3_class(error, "keras3r_argument_error")
  expect_identical(error$argument, "beta_1")
  expect_match(conditionMessage(error),
               "optimizer_adam_w(): `beta_1` must be a number in [0, 1), not <EagerTensor>.",
               fixed = TRUE)
})

test_that("a value that is not finite is refused as not finite", {
  expect_error(optimizer_adam_w(learning_rate = Inf),
               "optimizer_adam_w(): `learning_rate` must be a finite number >= 0, not Inf.",
               fixed = TRUE)
  expect_error(optimizer_adam_w(beta_2 = -Inf),
               "`beta_2` must be a finite number in [0, 1), not -Inf.", fixed = TRUE)
})
