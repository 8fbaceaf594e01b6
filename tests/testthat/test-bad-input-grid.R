skip_if_not(keras3r_available())

# A grid of R values, each given to every argument of every exported function
# of the family (the others left at their defaults, required ones valid). Each
# call must either build an object that holds the value faithfully (5 reaches
# an integer argument as 5L) or fail with a keras3r_argument_error that names
# the argument and shows the value as R writes it (TRUE, "0.1", 5L, NULL).
# Values that no argument can take (NA, NaN, infinities, empty vectors,
# factors, functions of an argument (save as optimizer_multi()'s map, which
# Keras calls with a variable), numbers beyond float32 or int64, objects
# reticulate cannot convert) must fail.

grid_code <- c(
  # never valid
  "NA", "NA_integer_", "NA_real_", "NA_character_", "NaN", "Inf", "-Inf",
  "numeric(0)", "integer(0)", "character(0)", "logical(0)", "list()",
  "factor(\"a\")", "factor(5)", "function(step) 0.1", "1e39", "1e300", "1i",
  "new.env()", "~ x", "quote(x)", "quote(f(x))", "as.Date(\"2024-01-01\")",
  # valid for some arguments
  "NULL", "TRUE", "FALSE", "2.5", "5", "5L", "0", "-1", "0.5",
  "\"a\"", "\"\"", "\"0.1\"",
  "c(1, 2)", "c(0.5, 0.25, 0.125)", "c(\"a\", \"b\")", "c(TRUE, FALSE)",
  "list(1)", "list(1, 2)", "list(\"a\")", "list(NA)",
  "function() 0.01", "matrix(5)",
  "learning_rate_schedule_exponential_decay(0.1, 10, 0.5)", "optimizer_sgd()"
)
never_valid <- grid_code[seq_len(match("as.Date(\"2024-01-01\")", grid_code))]
grid <- lapply(grid_code, function(code) eval(parse(text = code)))
names(grid) <- grid_code

# Valid values for the arguments without a default.
required_values <- list(
  initial_learning_rate = function() 0.1,
  decay_steps = function() 10,
  first_decay_steps = function() 10,
  decay_rate = function() 0.5,
  boundaries = function() c(10, 20),
  values = function() c(0.1, 0.01, 0.001),
  inner_optimizer = function() optimizer_adam(),
  default_optimizer = function() optimizer_sgd(),
  optimizer_map = function() optimizer_map(optimizer_sgd())
)

specs <- reticulate::import("keras3r.spec", convert = FALSE)
py_builtins <- reticulate::import_builtins(convert = FALSE)
as_r <- function(x) if (inherits(x, "python.builtin.object")) reticulate::py_to_r(x) else x

check_kind <- function(fn, arg) {
  check <- specs$SPECS[[fn]]$arg(arg)$check
  sub("^.*\\.", "", class(check)[[1]])  # "keras3r.checks.Real" -> "Real"
}

# The arguments that optimizer_loss_scale() passes on only when not NULL.
passed_only_when_given <- function(fn, arg) {
  spec <- specs$SPECS[[fn]]
  if (!as_r(spec$pass_after_dots_only_when_given)) return(FALSE)
  after <- vapply(seq_len(as_r(py_builtins$len(spec$after_dots))) - 1L,
                  function(i) as_r(spec$after_dots[i]$name), "")
  arg %in% after
}

same_py <- function(a, b) {
  inherits(a, "python.builtin.object") && inherits(b, "python.builtin.object") &&
    identical(reticulate::py_id(a), reticulate::py_id(b))
}

is_number <- function(x) is.numeric(x) && length(x) == 1L && !is.object(x)

# Does the Keras object `obj` hold `value`, given to `arg` (a `kind` check)?
holds <- function(obj, arg, kind, value) {
  cfg <- obj$get_config()
  got <- if (arg %in% names(cfg)) cfg[[arg]] else obj[[arg]]
  if (kind == "PatternList") {
    # Keras keeps "no patterns" as an empty list; a string is one pattern.
    # Keras tracks list attributes in a list subclass, which reticulate leaves
    # as a Python object.
    got <- as_r(py_builtins$list(got))
    wanted <- if (is.null(value)) character() else unlist(value)
    return(is.character(wanted) && identical(as.character(unlist(got)), wanted) &&
             (length(wanted) > 0L || length(got) == 0L))
  }
  if (kind == "OptimizerPatterns") {
    # NULL is no patterns; no grid value is a valid named list of optimizers.
    return(is.null(value) && as_r(py_builtins$len(obj)) == 0L)
  }
  if (is.null(value)) {
    # A NULL name lets Keras name the object itself.
    return(if (kind == "Text") is.character(got) && nzchar(got) else is.null(got))
  }
  switch(kind,
    Real = is_number(value) && is.double(got) && length(got) == 1L && got == value,
    Integer = is_number(value) && is.integer(got) && length(got) == 1L && got == value,
    Boolean = is.logical(value) && length(value) == 1L && identical(got, value),
    Text = is.character(value) && length(value) == 1L && identical(got, value),
    RealList = {
      wanted <- unlist(value)
      is.numeric(wanted) && is.double(unlist(got)) &&
        identical(as.numeric(unlist(got)), as.numeric(wanted))
    },
    OptimizerInstance = same_py(obj[[arg]], value),
    RoutableOptimizer = same_py(obj[[arg]], value),
    # A function of one argument routes the variables (optimizer_multi()).
    OptimizerRouting = is.function(value) && !is.null(obj[["_optimizer_map"]]),
    LearningRate = {
      if (inherits(value, "python.builtin.object")) {
        same_py(obj[["_learning_rate"]], value)
      } else if (is.function(value)) {
        isTRUE(all.equal(obj$learning_rate, value()))
      } else {
        # Keras keeps a rate in a float32 variable.
        is_number(value) && isTRUE(all.equal(got, value, tolerance = 1e-7))
      }
    },
    stop("no rule for checks of kind ", kind, ": add one to this test")
  )
}

# Every refusal, whether R or Python made it, is one kind of R condition.
refusal_kind_ok <- function(error) {
  identical(class(error), c("keras3r_argument_error", "error", "condition"))
}

# ... worded as R words it: no Python spelling, class name or traceback.
python_words <- "\\b(True|False|None)\\b|keras3r\\.checks|Traceback|ValueError|TypeError|Error:"

# The value that a refusal shows after ", not ", as R code writes it: the
# element where one element is named (`values[[2]]`), the whole value otherwise.
shown_value_ok <- function(message, value, fn) {
  tail <- regmatches(message, regexec(", not (.*)\\.$", message))[[1]]
  if (length(tail) < 2L) return(TRUE)  # no value shown
  tail <- tail[[2]]
  # R's own descriptions of a value rather than the value ("a list", ...).
  if (grepl("^(a|an|one of) ", tail)) return(TRUE)
  element <- regmatches(message, regexec("`\\w+\\[\\[(\\d+)\\]\\]`", message))[[1]]
  if (length(element) == 2L) value <- value[[as.integer(element[[2]])]]
  expected <- if (inherits(value, "python.builtin.object")) {
    paste0("<", sub("^.*\\.", "", class(value)[[1]]), ">")
  } else {
    paste(deparse(value, width.cutoff = 500L), collapse = " ")
  }
  if (nchar(expected) > 60L) expected <- paste0(substr(expected, 1L, 57L), "...")
  identical(tail, expected)
}

family <- sort(grep("^(optimizer|learning_rate_schedule)_", getNamespaceExports("keras3r"),
                    value = TRUE))
cases_tried <- 0L
refused <- 0L

test_that("the family is the spec's, every function exported", {
  expect_setequal(family, as_r(py_builtins$list(specs$SPECS)))
})

for (fn in family) {
  test_that(paste0(fn, "(): every grid value is held faithfully or refused by name"), {
    fun <- getExportedValue("keras3r", fn)
    arg_names <- setdiff(names(formals(fun)), "...")
    required <- arg_names[vapply(arg_names, function(a) {
      identical(formals(fun)[[a]], quote(expr = ))
    }, logical(1))]
    for (arg in arg_names) {
      kind <- check_kind(fn, arg)
      pattern <- paste0("`", arg, "[`\\[]")  # `arg` or `arg[[1]]`/`arg[0]`
      for (code in grid_code) {
        value <- grid[[code]]
        args <- lapply(required_values[setdiff(required, arg)], function(make) make())
        args[arg] <- list(value)  # list(): a NULL value stays in
        label <- sprintf("%s(%s = %s)", fn, arg, code)
        cases_tried <<- cases_tried + 1L
        # A function as optimizer_multi()'s map is valid, with a warning that
        # it cannot be saved (tested in test-multi.R).
        result <- tryCatch(
          withCallingHandlers(do.call(fun, args, quote = TRUE),
                              keras3r_warning = function(w) invokeRestart("muffleWarning")),
          error = function(e) e
        )
        if (inherits(result, "error")) {
          refused <<- refused + 1L
          message <- conditionMessage(result)
          expect_true(refusal_kind_ok(result),
                      label = paste(label, "fails with a keras3r_argument_error"))
          expect_match(message, pattern, label = label)
          expect_true(startsWith(message, paste0(fn, "(): ")), label = paste(label, message))
          expect_false(grepl(python_words, message), label = paste(label, "speaks R:", message))
          expect_true(shown_value_ok(message, value, fn),
                      label = paste(label, "shows the value in R:", message))
          expect_true(arg %in% result$argument, label = paste(label, "has the argument field"))
          expect_identical(result$fun, fn, label = label)
        } else {
          function_map <- kind == "OptimizerRouting" && code == "function(step) 0.1"
          expect_false(code %in% never_valid && !function_map, label = paste(label, "succeeds"))
          if (is.null(value) && passed_only_when_given(fn, arg)) next
          expect_true(holds(result, arg, kind, value),
                      label = paste(label, "is held faithfully"))
        }
      }
    }
  })
}

test_that("the grid was tried in full, and the count is recorded", {
  n_args <- sum(vapply(family, function(fn) {
    length(setdiff(names(formals(getExportedValue("keras3r", fn))), "..."))
  }, integer(1)))
  expect_identical(cases_tried, n_args * length(grid_code))
  expect_gt(refused, 0L)
  expect_lt(refused, cases_tried)
  # The counts go to KERAS3R_FIGURES if set (as the Python tests' figures
  # do), else to the session's temporary folder: never into the checkout.
  figures <- Sys.getenv("KERAS3R_FIGURES", file.path(tempdir(), "figures"))
  dir.create(figures, recursive = TRUE, showWarnings = FALSE)
  writeLines(
    sprintf(paste0(
      "{\n  \"grid_cases_tried\": %d,\n  \"refused\": %d,\n  \"built\": %d,\n",
      "  \"functions\": %d,\n  \"arguments\": %d,\n  \"grid_values\": %d\n}"
    ), cases_tried, refused, cases_tried - refused, length(family), n_args,
    length(grid_code)),
    file.path(figures, "r_grid.json")
  )
  message(sprintf("test-bad-input-grid: %d grid cases tried, %d refused", cases_tried, refused))
})
