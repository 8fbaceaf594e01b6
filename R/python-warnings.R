# Python's warnings.warn() only prints when R is the caller: R code cannot catch
# it, silence it or test for it. While keras3r builds an object, the warnings
# that keras3r itself raises (such as: a function given to optimizer_multi()
# cannot be saved) are recorded and signalled again as R warnings of class
# "keras3r_warning"; any other Python warning is handed back to Python's own
# machinery, unchanged.
with_python_warnings <- function(expr, fun = NULL) {
  # Starting Python here, through keras3r's module, turns a Python that cannot
  # start into keras3r's own condition, with what to do about it.
  python_module()
  if (is.null(.keras3r$warnings)) {
    .keras3r$warnings <- reticulate::import("warnings", convert = FALSE)
  }
  py_warnings <- .keras3r$warnings
  recorder <- py_warnings$catch_warnings(record = TRUE)
  caught <- recorder$`__enter__`()
  open <- TRUE
  on.exit(if (open) recorder$`__exit__`(NULL, NULL, NULL), add = TRUE)
  py_warnings$simplefilter("always")  # within the recorder only
  value <- expr
  recorder$`__exit__`(NULL, NULL, NULL)
  open <- FALSE
  if (reticulate::py_len(caught) == 0L) return(value)
  records <- reticulate::iterate(caught, function(record) record, simplify = FALSE)
  for (record in records) signal_python_warning(record, py_warnings, fun)
  value
}

signal_python_warning <- function(record, py_warnings, fun = NULL) {
  category <- record$category
  module <- reticulate::py_to_r(reticulate::py_get_attr(category, "__module__"))
  if (!startsWith(module, "keras3r")) {
    py_warnings$warn_explicit(record$message, category, record$filename, record$lineno)
    return(invisible())
  }
  message <- reticulate::py_str(record$message)
  if (!is.null(fun)) message <- sprintf("%s(): %s", fun, message)
  warning(structure(
    class = c("keras3r_warning", "warning", "condition"),
    list(message = message, call = NULL,
         category = reticulate::py_to_r(reticulate::py_get_attr(category, "__name__")))
  ))
}
