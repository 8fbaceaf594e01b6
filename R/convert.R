# Faster hand-over of R lists of tensors and variables to Python.
#
# A plain R training loop calls `opt$apply(grads, weights)` with R lists of
# Python objects (what `model$trainable_weights` and `tape$gradient()` give).
# reticulate 1.28 converts such a list element by element, and for every
# element that carries an R class it calls the R generic `r_to_py()`; its
# default method builds a fresh R reference to the same Python object, which
# asks Python for the object's class names: about 19 us an element, so 3.8 ms
# of every step with 100 weights (measured in bench/bench_apply.R).
#
# When the requested `convert` flag is the one the reference already has,
# that fresh reference is the object itself in another wrapper: returning `x`
# is the same answer, 5 to 8 us an element.  Any other flag goes to
# reticulate's own method, so `r_to_py(x, convert = TRUE)` still re-flags a
# reference made with `convert = FALSE`.  Registered only for the classes that
# optimizers take: tensors (TensorFlow, JAX, torch) and Keras variables.
#
#' @rawNamespace S3method(reticulate::r_to_py, tensorflow.python.types.core.Tensor, r_to_py_same_reference)
#' @rawNamespace S3method(reticulate::r_to_py, keras.src.backend.common.variables.Variable, r_to_py_same_reference)
#' @rawNamespace S3method(reticulate::r_to_py, jax.Array, r_to_py_same_reference)
#' @rawNamespace S3method(reticulate::r_to_py, torch.Tensor, r_to_py_same_reference)
#' @noRd
r_to_py_same_reference <- function(x, convert = FALSE) {
  if (identical(.subset2(x, "convert"), convert)) x else NextMethod()
}
