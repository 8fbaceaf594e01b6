# R's operators and math functions on Keras variables and tensors, through
# keras$ops, so that the call() method of a schedule written in R (see
# new_learning_rate_schedule_class()) can write `0.5 * step` or
# `cos(pi * step / 1000)`.
#
# The classes are the ones reticulate gives these objects: Keras's variable
# and symbolic tensor, and the tensor classes of TensorFlow, JAX and PyTorch
# (a Keras variable on TensorFlow is also a TensorFlow tensor), and JAX's
# tracer, the value a jit-compiled step computes with while it is traced
# (a subclass of jax.Array in JAX 0.7, no longer in JAX 0.12). The
# tensorflow R package claims the class "tensorflow.tensor", which it puts
# first on the TensorFlow tensors it converts: keras3r registers nothing for
# that class, so with tensorflow loaded its own methods keep handling those
# tensors, and S3 dispatch never reaches keras3r's for them.
#
# One function serves every class: R's group dispatch accepts two operands
# of different classes only if it finds the same method for both, which
# holds here for any mix of the classes above (a Keras variable plus a JAX
# array, say).

#' @rawNamespace S3method(Ops, keras.src.backend.common.variables.Variable, tensor_ops)
#' @rawNamespace S3method(Ops, keras.src.backend.common.keras_tensor.KerasTensor, tensor_ops)
#' @rawNamespace S3method(Ops, tensorflow.python.types.core.Tensor, tensor_ops)
#' @rawNamespace S3method(Ops, jax.Array, tensor_ops)
#' @rawNamespace S3method(Ops, jax._src.core.Tracer, tensor_ops)
#' @rawNamespace S3method(Ops, torch.Tensor, tensor_ops)
#' @noRd
tensor_ops <- function(e1, e2) {
  ops <- keras_ops()
  if (missing(e2)) {
    return(switch(.Generic,
      "-" = ops$negative(e1),
      "+" = e1,
      "!" = ops$logical_not(e1),
      stop(sprintf("unary `%s` is not defined for tensors", .Generic), call. = FALSE)
    ))
  }
  f <- switch(.Generic,
    "+" = ops$add, "-" = ops$subtract, "*" = ops$multiply, "/" = ops$divide,
    "^" = ops$power, "%%" = ops$mod, "%/%" = ops$floor_divide,
    "==" = ops$equal, "!=" = ops$not_equal, "<" = ops$less, "<=" = ops$less_equal,
    ">" = ops$greater, ">=" = ops$greater_equal,
    "&" = ops$logical_and, "|" = ops$logical_or,
    stop(sprintf("`%s` is not defined for tensors", .Generic), call. = FALSE)
  )
  f(as_operand(e1), as_operand(e2))
}

#' @rawNamespace S3method(Math, keras.src.backend.common.variables.Variable, tensor_math)
#' @rawNamespace S3method(Math, keras.src.backend.common.keras_tensor.KerasTensor, tensor_math)
#' @rawNamespace S3method(Math, tensorflow.python.types.core.Tensor, tensor_math)
#' @rawNamespace S3method(Math, jax.Array, tensor_math)
#' @rawNamespace S3method(Math, jax._src.core.Tracer, tensor_math)
#' @rawNamespace S3method(Math, torch.Tensor, tensor_math)
#' @noRd
tensor_math <- function(x, ...) {
  ops <- keras_ops()
  # log(x, base) and round(x, digits): the second argument reaches a Math
  # method in `...`, named or not.
  second <- if (...length()) ..1
  if (.Generic == "log") {
    if (is.null(second)) return(ops$log(x))
    return(ops$divide(ops$log(x), log(second)))
  }
  if (.Generic == "round") {
    return(ops$round(x, decimals = as.integer(if (is.null(second)) 0L else second)))
  }
  name <- switch(.Generic,
    abs = "abs", sign = "sign", sqrt = "sqrt", floor = "floor", ceiling = "ceil",
    trunc = "trunc", exp = "exp", expm1 = "expm1", log1p = "log1p", log2 = "log2",
    log10 = "log10", cos = "cos", sin = "sin", tan = "tan", acos = "arccos",
    asin = "arcsin", atan = "arctan", cosh = "cosh", sinh = "sinh", tanh = "tanh",
    acosh = "arccosh", asinh = "arcsinh", atanh = "arctanh", cumsum = "cumsum",
    cumprod = "cumprod",
    stop(sprintf("`%s()` is not defined for tensors; use keras$ops", .Generic), call. = FALSE)
  )
  ops[[name]](x)
}

#' @rawNamespace S3method(Summary, keras.src.backend.common.variables.Variable, tensor_summary)
#' @rawNamespace S3method(Summary, keras.src.backend.common.keras_tensor.KerasTensor, tensor_summary)
#' @rawNamespace S3method(Summary, tensorflow.python.types.core.Tensor, tensor_summary)
#' @rawNamespace S3method(Summary, jax.Array, tensor_summary)
#' @rawNamespace S3method(Summary, jax._src.core.Tracer, tensor_summary)
#' @rawNamespace S3method(Summary, torch.Tensor, tensor_summary)
#' @noRd
tensor_summary <- function(..., na.rm = FALSE) {
  ops <- keras_ops()
  reduce <- switch(.Generic,
    max = ops$max, min = ops$min, sum = ops$sum, prod = ops$prod,
    any = ops$any, all = ops$all,
    stop(sprintf("`%s()` is not defined for tensors; use keras$ops", .Generic), call. = FALSE)
  )
  combine <- switch(.Generic,
    max = ops$maximum, min = ops$minimum, sum = ops$add, prod = ops$multiply,
    any = ops$logical_or, all = ops$logical_and
  )
  # As in R: over every element of every argument.
  parts <- lapply(list(...), function(x) reduce(as_operand(x)))
  Reduce(combine, parts)
}

keras_ops <- function() {
  if (is.null(.keras3r$ops)) .keras3r$ops <- keras_module()$ops
  .keras3r$ops
}

# An R number as one Python number (a length-1 vector as a scalar), so that
# Keras gives it the weak type of a Python scalar: `0.5 * step` is float32.
as_operand <- function(x) {
  if (is.atomic(x) && length(x) == 1L && !inherits(x, "python.builtin.object")) {
    if (is.na(x) && !is.nan(x)) stop("NA cannot be used in a tensor operation", call. = FALSE)
  }
  x
}
