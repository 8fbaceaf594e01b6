skip_if_not(keras3r_available())

# R/convert.R: R lists of tensors and Keras variables reach Python as the very
# same objects, faster, and r_to_py() keeps reticulate's meaning otherwise.

python_side <- function() {
  reticulate::py_run_string(paste(
    "import numpy as np, keras, tensorflow as tf",
    "k3r_weights = [keras.Variable(np.full((3,), float(i), 'float32')) for i in range(4)]",
    "k3r_grads = [tf.constant(np.full((3,), 0.1 * (i + 1), 'float32')) for i in range(4)]",
    "def k3r_same(xs, originals): return all(a is b for a, b in zip(xs, originals))",
    sep = "\n"
  ))
  reticulate::import_main()
}

test_that("tensors and Keras variables use keras3r's r_to_py method", {
  for (class in c("tensorflow.python.types.core.Tensor",
                  "keras.src.backend.common.variables.Variable",
                  "jax.Array", "torch.Tensor")) {
    method <- getS3method("r_to_py", class, optional = TRUE, envir = asNamespace("reticulate"))
    expect_identical(method, keras3r:::r_to_py_same_reference, info = class)
  }
})

test_that("R lists of tensors and variables reach Python as the same objects", {
  main <- python_side()
  weights <- main$k3r_weights  # R lists of Python objects, as keras3 R hands them over
  grads <- main$k3r_grads
  expect_type(weights, "list")
  expect_type(grads, "list")
  expect_true(main$k3r_same(weights, reticulate::py_eval("k3r_weights", convert = FALSE)))
  expect_true(main$k3r_same(grads, reticulate::py_eval("k3r_grads", convert = FALSE)))
})

test_that("opt$apply() with R lists updates the variables as with Python lists", {
  main <- python_side()
  weights_py <- reticulate::py_eval("k3r_weights", convert = FALSE)
  grads_py <- reticulate::py_eval("k3r_grads", convert = FALSE)
  twin <- reticulate::py_eval(
    "[keras.Variable(w.numpy()) for w in k3r_weights]", convert = FALSE
  )
  ours <- optimizer_adam_w(learning_rate = 0.1)
  theirs <- optimizer_adam_w(learning_rate = 0.1)
  for (i in 1:3) {
    ours$apply(main$k3r_grads, main$k3r_weights)  # R lists
    theirs$apply(grads_py, twin)                   # Python lists
  }
  for (i in seq_len(4)) {
    expect_equal(
      reticulate::py_to_r(reticulate::py_get_item(weights_py, i - 1L)$numpy()),
      reticulate::py_to_r(reticulate::py_get_item(twin, i - 1L)$numpy())
    )
  }
})

test_that("r_to_py() with another convert flag still re-flags the reference", {
  tf <- reticulate::import("tensorflow", convert = FALSE)
  tensor <- tf$constant(c(1, 2))
  same <- reticulate::r_to_py(tensor, convert = FALSE)
  expect_identical(same, tensor)  # the same flag: the reference itself
  flagged <- reticulate::r_to_py(tensor, convert = TRUE)
  expect_false(identical(flagged, tensor))
  # A convert = TRUE reference hands back R values, as reticulate's own method gives.
  expect_type(flagged$numpy(), "double")
  expect_s3_class(tensor$numpy(), "numpy.ndarray")
})
