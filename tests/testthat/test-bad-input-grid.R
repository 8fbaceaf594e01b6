skip_if_not(keras3r_available())

# A grid of R values, each given to every argument of every exported function
# of the family (the others left at their defaults, required ones valid). Each
# call must either build an object that holds the value faithfully (5 reaches
# an integer argument as 5L) or fail with an error that names the argument.
# Values that no argument can take (NA, NaN, infinities, empty vectors,
# factors, functions of an argument, numbers beyond float32 or int64, objects
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
  inner_optimizer = function() optimizer_adam()
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
  if (is.null(value)) return(is.null(got))
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

# R-side refusals are simple errors; Python's must be TypeError or ValueError.
refusal_kind_ok <- function(error) {
  inherits(error, "simpleError") ||
    grepl("^(keras3r\\.checks\\.Argument(Type)?Error|ValueError|TypeError): ",
          conditionMessage(error))
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
        result <- tryCatch(do.call(fun, args, quote = TRUE), error = function(e) e)
        if (inherits(result, "error")) {
          refused <<- refused + 1L
          expect_true(refusal_kind_ok(result),
                      label = paste(label, "fails with a TypeError or ValueError"))
          expect_match(conditionMessage(result), pattern, label = label)
        } else {
          expect_false(code %in% never_valid, label = paste(label, "succeeds"))
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
  # Written in a source checkout only (not from R CMD check's copy).
  root <- test_path("..", "..")
  if (file.exists(file.path(root, "DESCRIPTION")) && dir.exists(file.path(root, "py"))) {
    dir.create(file.path(root, "build", "figures"), recursive = TRUE, showWarnings = FALSE)
    writeLines(
      sprintf(paste0(
        "{\n  \"grid_cases_tried\": %d,\n  \"refused\": %d,\n  \"built\": %d,\n",
        "  \"functions\": %d,\n  \"arguments\": %d,\n  \"grid_values\": %d\n}"
      ), cases_tried, refused, cases_tried - refused, length(family), n_args,
      length(grid_code)),
      file.path(root, "build", "figures", "r_grid.json")
    )
  }
  message(sprintf("test-bad-input-grid: %d grid cases tried, %d refused", cases_tried, refused))
})
