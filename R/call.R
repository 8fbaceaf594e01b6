# The one path from every R wrapper to Python.
#
# reticulate converts some R values silently into wrong Python values: a logical
# NA becomes True, NA_integer_ becomes -2147483648, and a length-2 vector becomes
# a list where Keras expects a number. Those are refused here, in R, naming the
# argument. Everything else (types, ranges, names) is checked once, in Python,
# by the function that keras3r_call() hands the arguments to.

keras3r_call <- function(fun, args, dots = list(), vectors = character()) {
  check_dots_named(dots, fun)
  for (name in names(args)) {
    value <- check_r_value(args[[name]], name, fun, vector = name %in% vectors)
    if (!is.null(value)) args[[name]] <- value
  }
  for (name in names(dots)) check_r_value(dots[[name]], name, fun, vector = FALSE)
  do.call(keras3r_py[[fun]], c(args, dots))
}

check_dots_named <- function(dots, fun) {
  if (length(dots) == 0L) return(invisible())
  dot_names <- names(dots)
  if (is.null(dot_names)) dot_names <- rep("", length(dots))
  unnamed <- which(!nzchar(dot_names))
  if (length(unnamed)) {
    stop(sprintf(
      "%s(): arguments in `...` must be named; argument %s has no name.",
      fun, paste(unnamed, collapse = ", ")
    ), call. = FALSE)
  }
}

arg_error <- function(fun, name, problem) {
  stop(sprintf("%s(): `%s` %s", fun, name, problem), call. = FALSE)
}

# Returns the value to send to Python: unchanged, or, for vector arguments, a
# list (so that a length-1 R vector still reaches Python as a sequence).
check_r_value <- function(x, name, fun, vector = FALSE) {
  # Python objects (schedules, optimizers, Python functions) are Python's to check.
  if (is.null(x) || inherits(x, "python.builtin.object")) {
    return(x)
  }
  if (is.function(x)) {
    # Only learning_rate takes a function, one of no arguments: Keras calls it
    # at every step. reticulate shows Python every R function as
    # f(*args, **kwargs), so only R can see that `function(step) ...` needs an
    # argument; without this it would fail inside the first training step.
    if (needs_arguments(x)) {
      arg_error(fun, name, paste0(
        "must be a function of no arguments, not one of (",
        paste(names(formals(args(x))), collapse = ", "), "). For a rate that ",
        "depends on the step, use a learning_rate_schedule_*() function."
      ))
    }
    return(x)
  }
  if (is.list(x)) {
    if (!vector) {
      arg_error(fun, name, "must be a single value, not a list.")
    }
    for (i in seq_along(x)) {
      check_r_value(x[[i]], sprintf("%s[[%d]]", name, i), fun, vector = FALSE)
    }
    return(x)
  }
  if (!is.atomic(x)) {
    # An environment, formula, symbol or call: reticulate would fail with
    # "Unable to convert R object to Python type", naming no argument, and
    # do.call() below would evaluate a symbol or a call.
    arg_error(fun, name, sprintf(
      "must be a number, a string or TRUE/FALSE, not an object of type %s.", typeof(x)
    ))
  }
  if (is.factor(x)) {
    arg_error(fun, name, "must not be a factor; convert it with as.character() or as.numeric().")
  }
  if (length(x) == 0L) {
    arg_error(fun, name, sprintf("is empty (a %s of length 0).", typeof(x)))
  }
  if (!vector && length(x) > 1L) {
    arg_error(fun, name, sprintf(
      "must be a single value, not a %s vector of length %d.", typeof(x), length(x)
    ))
  }
  # is.na() is TRUE for NaN too; NaN is a real number that Python checks itself.
  missing <- if (is.double(x)) is.na(x) & !is.nan(x) else is.na(x)
  if (any(missing)) {
    arg_error(fun, name, sprintf(
      "is NA (%s). reticulate would pass it on as a valid-looking value: %s.",
      typeof(x), na_becomes(x)
    ))
  }
  if (vector) as.list(unname(x)) else x
}

# TRUE for a function with an argument that has no default (`...` aside).
needs_arguments <- function(f) {
  f_formals <- as.list(formals(args(f)))  # args(): primitives have formals too
  f_formals[["..."]] <- NULL
  any(vapply(names(f_formals), function(n) identical(f_formals[[n]], quote(expr = )), logical(1)))
}

na_becomes <- function(x) {
  switch(typeof(x),
    logical = "logical NA becomes Python True",
    integer = "NA_integer_ becomes -2147483648",
    double = "NA_real_ becomes NaN",
    character = "NA_character_ becomes the string \"NA\"",
    "an NA becomes an ordinary value"
  )
}
