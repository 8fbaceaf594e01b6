# The Python module behind every wrapper, imported on first use (keras3's
# habit): library(keras3r) neither starts Python nor imports Keras.
keras3r_py <- NULL

.onLoad <- function(libname, pkgname) {
  use_default_virtualenv()
  keras3r_py <<- reticulate::import(
    "keras3r",
    delay_load = list(on_error = function(e) stop(python_not_found_message(e), call. = FALSE))
  )
}

# install_keras3r() puts Python, Keras and keras3r into this virtualenv; use it
# unless the user chose a Python already.
use_default_virtualenv <- function(envname = "r-keras3r") {
  if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) return(invisible(FALSE))
  if (!reticulate::virtualenv_exists(envname)) return(invisible(FALSE))
  try(reticulate::use_virtualenv(envname, required = FALSE), silent = TRUE)
  invisible(TRUE)
}

python_not_found_message <- function(e) {
  paste0(
    "keras3r could not import its Python module `keras3r`",
    if (!is.null(e)) paste0(" (", conditionMessage(e), ")") else "",
    ".\nTo fix it, either:\n",
    "  * run install_keras3r() once, which makes the virtualenv \"r-keras3r\" ",
    "with keras3r, Keras and TensorFlow, then restart R; or\n",
    "  * set RETICULATE_PYTHON to a Python that has the keras3r package ",
    "(pip install path/to/keras3r) before loading keras3r."
  )
}

#' Is the Python side of keras3r ready?
#'
#' `TRUE` when the Python package `keras3r` (with Keras) can be imported by
#' the Python that reticulate uses. Examples and tests use it to run only where
#' Python is set up.
#'
#' @returns `TRUE` or `FALSE`.
#' @export
#' @examples
#' keras3r_available()
keras3r_available <- function() {
  isTRUE(tryCatch(
    reticulate::py_module_available("keras3r") && reticulate::py_module_available("keras"),
    error = function(e) FALSE
  ))
}
