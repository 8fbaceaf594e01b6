# The one path from every R wrapper to Python.
#
# reticulate converts some R values silently into wrong Python values: a logical
# NA becomes True, NA_integer_ becomes -2147483648, and a length-2 vector becomes
# a list where Keras expects a number. Those are refused here, in R, naming the
# argument, and so are R values with no Python meaning (a factor, a formula, an
# R function that needs arguments, which Python sees as f(*args, **kwargs)).
# Everything else (types, ranges, names) is checked once, in Python, by the
# function that keras3r_call() hands the arguments to.
#
# A call crosses into Python once: keras3r.for_r.build() builds the object, or
# returns its refusal as data (the argument, the value, the message in R's
# spelling cut where the value goes), with keras3r's own warnings. R turns a
# refusal into one kind of R condition, of class "keras3r_argument_error" (see
# argument_error()), with the value written as the user wrote it: TRUE, NULL,
# "0.01", c(1, 2). Errors that are not refusals, Keras's own among them,
# propagate unchanged.

# `entry` is the function of keras3r.for_r that takes the call: "build" for
# the family, "check_optimizer_arguments" for the base arguments of an
# optimizer of the user's own (it returns them checked, as a named list).
keras3r_call <- function(fun, args, dots = list(), vectors = character(),
                         mappings = character(), functions_of_one = character(),
                         entry = "build") {
  check_dots_named(dots, fun)
  given <- c(args, dots)
  for (name in names(args)) {
    value <- check_r_value(args[[name]], name, fun, vector = name %in% vectors,
                           mapping = name %in% mappings,
                           function_of_one = name %in% functions_of_one)
    if (!is.null(value)) args[[name]] <- value
  }
  for (name in names(dots)) check_r_value(dots[[name]], name, fun, vector = FALSE)
  outcome <- do.call(python_entry(entry), c(list(fun), args, dots))
  signal_keras3r_warnings(outcome[[3L]], fun)
  if (!is.null(outcome[[2L]])) stop(refusal_condition(outcome[[2L]], fun, given))
  outcome[[1L]]
}

# A function of keras3r.for_r, looked up once per session: each `$` on a
# Python module would be a call into Python of its own.
python_entry <- function(name) {
  entry <- .keras3r$entries[[name]]
  if (is.null(entry)) {
    entry <- python_module()$for_r[[name]]
    .keras3r$entries[[name]] <- entry
  }
  entry
}

#' Refused arguments: the `keras3r_argument_error` condition
#'
#' @description
#' Every keras3r function checks its arguments before Keras sees them. A value
#' that it refuses, whether R or Python found the fault, is signalled as an R
#' condition of class `keras3r_argument_error`, which inherits from `error`: one
#' `tryCatch()` handler catches them all. The message names the function and
#' the argument, and shows the value as R writes it (`TRUE`, `NULL`, `5L`,
#' `"0.01"`, `c(20, 10)`).
#'
#' Errors that are not refusals of an argument, such as those Keras raises while
#' training, are not of this class and reach R as they are.
#'
#' @section Fields:
#' * `message`: the message, such as
#'   ``optimizer_sgd(): `momentum` must be a number in [0, 1], not TRUE.``
#' * `fun`: the keras3r function, such as `"optimizer_sgd"`.
#' * `argument`: the argument at fault, or several where a rule between
#'   arguments was broken (`c("clipnorm", "clipvalue")`); `NULL` when none is
#'   named.
#' * `value`: the value given, where one value is at fault; otherwise `NULL`.
#' * `call`: `NULL`; the message names the function instead.
#'
#' @name keras3r_argument_error
#' @examplesIf keras3r_available()
#' e <- tryCatch(optimizer_sgd(momentum = TRUE),
#'               keras3r_argument_error = function(e) e)
#' conditionMessage(e)
#' e$argument
NULL

# The condition every keras3r refusal is signalled as. `argument` names the
# argument(s) at fault, `value` holds what the user gave (when one value is at
# fault).
argument_error <- function(message, fun, argument = NULL, value = NULL) {
  structure(
    class = c("keras3r_argument_error", "error", "condition"),
    list(message = message, call = NULL, fun = fun, argument = argument, value = value)
  )
}

# A refusal returned by Python (a list: see keras3r.for_r.build), worded in R.
# The value is the user's own where R has it (`5L` stays 5L, a vector stays
# c(...)); Python's copy otherwise.
refusal_condition <- function(refusal, fun, given) {
  arguments <- as.character(unlist(refusal$arguments))
  name <- if (length(arguments)) arguments[[1]] else ""
  index <- refusal$index  # 0-based element of a sequence argument, or NULL
  has_value <- isTRUE(refusal$has_value)
  value <- NULL
  if (has_value) {
    value <- refusal$value
    if (name %in% names(given)) {
      mine <- given[[name]]
      if (is.null(index)) {
        value <- mine
      } else if (!inherits(mine, "python.builtin.object") && length(mine) > index) {
        value <- mine[[index + 1L]]
      }
    }
  }
  parts <- as.character(unlist(refusal$message_parts))
  message <- paste(parts, collapse = if (has_value) r_spelling(value) else "")
  argument_error(message, fun,
                 argument = if (length(arguments)) arguments else NULL, value = value)
}

# A value as R code would write it: TRUE, NULL, 5L, "0.01", c(1, 2), list(1).
r_spelling <- function(x) {
  if (inherits(x, "python.builtin.object")) {
    return(sprintf("<%s>", sub("^.*\\.", "", class(x)[[1]])))
  }
  text <- paste(deparse(x, width.cutoff = 500L), collapse = " ")
  if (nchar(text) > 60L) paste0(substr(text, 1L, 57L), "...") else text
}

check_dots_named <- function(dots, fun) {
  if (length(dots) == 0L) return(invisible())
  dot_names <- names(dots)
  if (is.null(dot_names)) dot_names <- rep("", length(dots))
  unnamed <- which(!nzchar(dot_names))
  if (length(unnamed)) {
    stop(argument_error(sprintf(
      "%s(): arguments in `...` must be named; argument %s has no name.",
      fun, paste(unnamed, collapse = ", ")
    ), fun))
  }
}

arg_error <- function(fun, name, problem, value = NULL) {
  # `name` may be an element, such as boundaries[[2]]: the field holds the argument.
  stop(argument_error(sprintf("%s(): `%s` %s", fun, name, problem), fun,
                      argument = sub("\\[.*$", "", name), value = value))
}

# Returns the value to send to Python: unchanged, or, for vector arguments, a
# list (so that a length-1 R vector still reaches Python as a sequence).
check_r_value <- function(x, name, fun, vector = FALSE, mapping = FALSE,
                          function_of_one = FALSE) {
  # Python objects (schedules, optimizers, Python functions) are Python's to check.
  if (is.null(x) || inherits(x, "python.builtin.object")) {
    return(x)
  }
  if (is.function(x) && function_of_one) {
    # Keras calls it with one argument (a variable, for optimizer_multi()).
    if (!takes_one_argument(x)) {
      arg_error(fun, name, paste0(
        "must be a function of one argument, not one of (",
        paste(names(formals(args(x))), collapse = ", "), ")."
      ))
    }
    return(x)
  }
  if (is.list(x) && mapping) {
    return(check_r_mapping(x, name, fun))
  }
  if (is.list(x) && function_of_one) {
    return(x)  # never accepted: Python says what to give instead
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
    ), value = x)
  }
  if (vector) as.list(unname(x)) else x
}

# A named list (patterns to optimizers, for optimizer_map()): reticulate hands
# it to Python as a dict, which would keep only the last of two equal names and
# turn an unnamed list into a Python list. The names are checked here, each
# element as a single value.
check_r_mapping <- function(x, name, fun) {
  if (length(x) == 0L) {
    arg_error(fun, name, "is an empty list; give NULL for no patterns.")
  }
  keys <- names(x)
  if (is.null(keys) || any(is.na(keys) | !nzchar(keys))) {
    arg_error(fun, name, paste0(
      "must be a named list: every element needs a name, the pattern of the ",
      "variable paths it takes."
    ))
  }
  if (anyDuplicated(keys)) {
    twice <- encodeString(keys[anyDuplicated(keys)], quote = "\"")
    arg_error(fun, name, sprintf("names each pattern once; %s appears twice.", twice))
  }
  for (key in keys) {
    check_r_value(x[[key]], sprintf("%s[[%s]]", name, encodeString(key, quote = "\"")), fun)
  }
  x
}

# TRUE for a function that can be called with exactly one argument.
takes_one_argument <- function(f) {
  f_formals <- as.list(formals(args(f)))
  dots <- "..." %in% names(f_formals)
  f_formals[["..."]] <- NULL
  required <- sum(vapply(f_formals, function(v) identical(v, quote(expr = )), logical(1)))
  required <= 1L && (length(f_formals) >= 1L || dots)
}

# TRUE for a function with an argument that has no default (`...` aside).
needs_arguments <- function(f) {
  f_formals <- as.list(formals(args(f)))  # args(): primitives have formals too
  f_formals[["..."]] <- NULL
  any(vapply(names(f_formals), function(n) identical(f_formals[[n]], quote(expr = )), logical(1)))
}

# What each NA would become on the Python side, in R's words.
na_becomes <- function(x) {
  switch(typeof(x),
    logical = "a logical NA arrives as TRUE",
    integer = "NA_integer_ arrives as the number -2147483648",
    double = "NA_real_ arrives as NaN",
    character = "NA_character_ arrives as the string \"NA\"",
    "an NA arrives as an ordinary value"
  )
}
