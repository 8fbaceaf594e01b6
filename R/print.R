# print(), format() and str() for every Keras optimizer and learning-rate
# schedule, in R's spelling.
#
# reticulate would show `<keras.src.optimizers.adamw.AdamW object at 0x...>`.
# These methods show the class, the name, the learning rate (a number, or the
# schedule with its settings) and the settings that differ from the defaults
# of the keras3r function that builds the class (keras3 R's defaults). The
# objects stay plain Keras objects: Python's keras3r.summary reads one and
# returns plain data, worded here.
#
# They are registered on Keras's base classes, so they serve any optimizer or
# schedule, keras3r's or not; a method for a more specific Keras class (a
# MultiOptimizer, say) comes first in the class vector and wins by S3 dispatch.

#' @method format keras.src.optimizers.optimizer.Optimizer
#' @export
#' @noRd
format.keras.src.optimizers.optimizer.Optimizer <- function(x, ...) {
  lines <- keras_object_lines(x)
  if (is.null(lines)) NextMethod() else lines
}

#' @method print keras.src.optimizers.optimizer.Optimizer
#' @export
#' @noRd
print.keras.src.optimizers.optimizer.Optimizer <- function(x, ...) {
  print_formatted(x, ...)
}

#' @exportS3Method utils::str keras.src.optimizers.optimizer.Optimizer
#' @noRd
str.keras.src.optimizers.optimizer.Optimizer <- function(object, ...) {
  keras_object_str(object)
}

#' @method format keras.src.optimizers.schedules.learning_rate_schedule.LearningRateSchedule
#' @export
#' @noRd
format.keras.src.optimizers.schedules.learning_rate_schedule.LearningRateSchedule <-
  function(x, ...) {
    lines <- keras_object_lines(x)
    if (is.null(lines)) NextMethod() else lines
  }

#' @method print keras.src.optimizers.schedules.learning_rate_schedule.LearningRateSchedule
#' @export
#' @noRd
print.keras.src.optimizers.schedules.learning_rate_schedule.LearningRateSchedule <-
  function(x, ...) {
    print_formatted(x, ...)
  }

#' @exportS3Method utils::str keras.src.optimizers.schedules.learning_rate_schedule.LearningRateSchedule
#' @noRd
str.keras.src.optimizers.schedules.learning_rate_schedule.LearningRateSchedule <-
  function(object, ...) {
    keras_object_str(object)
  }

# Every print() method of keras3r: the lines of format(), then `x` invisibly.
print_formatted <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}

# Python's summary of `x` (see py/keras3r/summary.py), or NULL where it cannot
# be had (the object was released, or keras3r's Python cannot be imported).
keras_object_summary <- function(x) {
  # python_submodule() imports keras3r itself first, from the copy this R
  # package ships, so the summary never comes from another keras3r on the path.
  tryCatch(python_submodule("summary")$summarize(x), error = function(e) NULL)
}

# The lines of format(): a header, the learning rate, then the settings; NULL
# where Python cannot summarize `x` (reticulate's own format() is used then).
keras_object_lines <- function(x) {
  s <- keras_object_summary(x)
  if (is.null(s)) return(NULL)
  settings <- summary_settings(s)
  if (identical(s$kind, "optimizer")) {
    lines <- c(
      paste(summary_header(s), "optimizer"),
      paste0("  learning_rate: ", summary_rate(s$learning_rate))
    )
    if (length(settings)) {
      c(lines, "  settings other than the defaults:", paste0("    ", settings))
    } else {
      c(lines, "  settings: all at their defaults")
    }
  } else {
    c(paste(summary_header(s), "learning-rate schedule"),
      if (length(settings)) paste0("  ", settings) else "  settings: all at their defaults")
  }
}

keras_object_str <- function(object) {
  s <- keras_object_summary(object)
  if (is.null(s)) {
    cat(class(object)[[1]], "\n")
  } else {
    cat(summary_one_line(s), "\n", sep = "")
  }
  invisible()
}

# `<AdamW "adamw">`
summary_header <- function(s) {
  name <- if (is.character(s$name) && length(s$name) == 1L) encodeString(s$name, quote = "\"")
  paste0("<", paste(c(s$class_name, name), collapse = " "), ">")
}

# "weight_decay = 0.1", one string per setting that differs from its default.
summary_settings <- function(s) {
  vapply(s$settings, function(pair) {
    paste(pair[[1]], "=", summary_value(pair[[2]]))
  }, character(1))
}

# A nested object on one line: `<CosineDecay "CosineDecay">(initial_learning_rate = 0.1, ...)`.
summary_one_line <- function(s) {
  settings <- summary_settings(s)
  if (identical(s$kind, "optimizer")) {
    settings <- c(paste("learning_rate =", summary_rate(s$learning_rate)), settings)
  }
  paste0(summary_header(s), "(", paste(settings, collapse = ", "), ")")
}

summary_rate <- function(rate) {
  if (is.null(rate)) return("unknown")
  if (is.list(rate)) return(summary_value(rate))
  format(rate, digits = 7L)
}

# One value as R code writes it: TRUE, NULL, 5L, 0.001, "a", c(10, 20).
summary_value <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.list(x) && !is.null(x$kind)) {
    return(switch(x$kind,
      `function` = "<function>",
      object = paste0("<", x$class_name, ">"),
      summary_one_line(x)
    ))
  }
  if (inherits(x, "python.builtin.object")) return(paste0("<", sub("^.*\\.", "", class(x)[[1]]), ">"))
  if (is.list(x)) {
    items <- vapply(x, summary_value, character(1))
    all_numbers <- all(vapply(x, function(v) is.numeric(v) && length(v) == 1L, logical(1)))
    return(paste0(if (all_numbers) "c(" else "list(", paste(items, collapse = ", "), ")"))
  }
  if (length(x) != 1L) {
    return(paste0("c(", paste(vapply(as.list(x), summary_value, character(1)), collapse = ", "), ")"))
  }
  if (is.logical(x)) return(if (is.na(x)) "NA" else if (x) "TRUE" else "FALSE")
  if (is.integer(x)) return(paste0(x, "L"))
  if (is.double(x)) return(format(x, digits = 7L))
  if (is.character(x)) return(encodeString(x, quote = "\""))
  paste(format(x), collapse = " ")
}
