# Printing a multi optimizer and an optimizer map.
#
# A printed optimizer shows its learning rate, but a MultiOptimizer has none:
# Keras raises an error when `learning_rate` is read on it. These methods, for
# the more specific Keras classes, win over any method for optimizers in
# general by S3 dispatch, and show what the user needs instead: each optimizer
# of the map, the patterns that send variables to it, and its own learning rate.

#' @method format keras.src.optimizers.multi_optimizer.MultiOptimizer
#' @export
#' @noRd
format.keras.src.optimizers.multi_optimizer.MultiOptimizer <- function(x, ...) {
  # Keras keeps the map in a private attribute; keras3r reads it in one place.
  routes <- keras3r_py$for_r$multi_optimizer_routes(x)
  head <- sprintf(
    "<MultiOptimizer %s>: %s",
    encodeString(py_field(x, "name", "?"), quote = "\""),
    "no learning rate of its own; each optimizer below has one"
  )
  if (!inherits(routes, "keras.src.optimizers.multi_optimizer.OptimizerMap")) {
    lines <- c(
      "  routed by a function (a model compiled with it cannot be saved)",
      vapply(py_list(x$optimizers), function(o) paste0("  ", describe_optimizer(o)), "")
    )
    return(c(head, lines))
  }
  c(head, format_routes(routes))
}

#' @method print keras.src.optimizers.multi_optimizer.MultiOptimizer
#' @export
#' @noRd
print.keras.src.optimizers.multi_optimizer.MultiOptimizer <- function(x, ...) {
  print_formatted(x, ...)
}

#' @method format keras.src.optimizers.multi_optimizer.OptimizerMap
#' @export
#' @noRd
format.keras.src.optimizers.multi_optimizer.OptimizerMap <- function(x, ...) {
  c("<OptimizerMap>: which optimizer takes which variable", format_routes(x))
}

#' @method print keras.src.optimizers.multi_optimizer.OptimizerMap
#' @export
#' @noRd
print.keras.src.optimizers.multi_optimizer.OptimizerMap <- function(x, ...) {
  print_formatted(x, ...)
}

# One line per pattern, then the default, aligned on the arrow.
format_routes <- function(routes) {
  patterns <- as.character(py_list(routes))
  targets <- lapply(patterns, function(p) routes$`__getitem__`(p))
  labels <- c(encodeString(patterns, quote = "\""), "(any other variable)")
  targets <- c(targets, list(routes$default_optimizer))
  labels <- formatC(labels, width = -max(nchar(labels)))
  paste0("  ", labels, " -> ", vapply(targets, describe_optimizer, ""))
}

# `<Adam "adam"> learning_rate = 0.001`; a schedule shows as its class alone,
# `<CosineDecay>`, to keep one line per route. Read through print.R's summary.
describe_optimizer <- function(opt) {
  s <- keras_object_summary(opt)
  if (is.null(s)) return(paste0("<", class(opt)[[1]], ">"))
  rate <- s$learning_rate
  rate <- if (is.list(rate) && !is.null(rate$class_name)) {
    paste0("<", rate$class_name, ">")
  } else {
    summary_rate(rate)
  }
  paste(summary_header(s), "learning_rate =", rate)
}

py_field <- function(x, name, otherwise) {
  value <- tryCatch(reticulate::py_to_r(reticulate::py_get_attr(x, name)), error = function(e) NULL)
  if (is.null(value)) otherwise else value
}

# A Python iterable (list, or the keys of a mapping) as an R list.
py_list <- function(x) {
  # Keras's lists of optimizers are tracked lists on TensorFlow (Python
  # objects to R) and plain lists, converted, on the other backends.
  if (!inherits(x, "python.builtin.object")) return(as.list(x))
  reticulate::iterate(x, function(item) item, simplify = FALSE)
}
