# R's conversions on Keras variables and tensors: as.array(), as.numeric()
# (as.double()), as.integer(), as.logical() and format() on
# `opt$learning_rate`, `opt$iterations` or a model's weights, as keras3 users
# have them from keras3 and tensorflow.
#
# The value is read with keras.ops.convert_to_numpy(), which every backend
# implements (it copies from the device where it must), then converted by
# reticulate as any NumPy array is.
#
# These methods are registered when keras3r loads, and only for a class and
# generic that no other package has claimed by then: keras3 and tensorflow
# register their own for the objects they know, and theirs must keep
# answering for them whichever package is loaded first. (A package loaded
# after keras3r that registers the same class and generic replaces keras3r's,
# which is the same outcome.) The classes are those of R/tensor-ops.R.
tensor_classes <- c(
  "keras.src.backend.common.variables.Variable",
  "keras.src.backend.common.keras_tensor.KerasTensor",
  "tensorflow.python.types.core.Tensor",
  "jax.Array",
  "jax._src.core.Tracer",
  "torch.Tensor"
)

# The value of a variable or tensor as an R vector or array.
tensor_value <- function(x) {
  if (inherits(x, "keras.src.backend.common.keras_tensor.KerasTensor")) {
    stop(structure(
      class = c("keras3r_symbolic_tensor", "error", "condition"),
      list(message = paste0(
        "This is a symbolic Keras tensor (a placeholder in a model being built, shape ",
        reticulate::py_str(x$shape), "): it has no value to convert. Convert the ",
        "outputs of a model call or a variable instead."), call = NULL)))
  }
  keras_ops()$convert_to_numpy(x)
}

tensor_as_array <- function(x, ...) as.array(tensor_value(x), ...)
tensor_as_double <- function(x, ...) as.double(tensor_value(x))
tensor_as_integer <- function(x, ...) as.integer(tensor_value(x))
tensor_as_logical <- function(x, ...) as.logical(tensor_value(x))
# A scalar or a vector formats as R formats a vector; a matrix or array keeps
# its dimensions.
tensor_format <- function(x, ...) {
  value <- tensor_value(x)
  if (length(dim(value)) <= 1L) value <- as.vector(value)
  format(value, ...)
}

tensor_conversions <- list(
  as.array = tensor_as_array,
  as.double = tensor_as_double,
  as.integer = tensor_as_integer,
  as.logical = tensor_as_logical,
  format = tensor_format
)

# Registers each conversion for each class that has no method for it yet;
# returns the "generic.class" names it registered.
register_tensor_conversions <- function(classes = tensor_classes,
                                        conversions = tensor_conversions) {
  registered <- character()
  for (generic in names(conversions)) {
    for (class in classes) {
      if (!is.null(utils::getS3method(generic, class, optional = TRUE))) next
      registerS3method(generic, class, conversions[[generic]], envir = asNamespace("keras3r"))
      registered <- c(registered, paste(generic, class, sep = "."))
    }
  }
  invisible(registered)
}
