#' Install the Python side of keras3r
#'
#' Creates (or updates) a Python virtualenv and installs into it the Python
#' package keras3r, Keras 3 and a backend. keras3r uses that virtualenv from
#' the next R session on, unless `RETICULATE_PYTHON` names another Python.
#'
#' NumPy is pinned below 2: the reticulate of Debian 12 (1.28) cannot pass R
#' arrays to NumPy 2.
#'
#' @param envname The name of the virtualenv. keras3r looks for
#'   `"r-keras3r"` when it loads.
#' @param python_package What pip installs for the Python half of keras3r: a
#'   path to a keras3r checkout (the folder holding `pyproject.toml`), a wheel,
#'   or a requirement. Defaults to the environment variable
#'   `KERAS3R_PYTHON_PACKAGE`, or `"keras3r"`.
#' @param backend The Keras backend to install: `"tensorflow"` (the default,
#'   the CPU build), `"jax"` or `"torch"`.
#' @param ... Passed on to [reticulate::virtualenv_create()].
#'
#' @returns The path of the virtualenv's Python, invisibly.
#' @export
#' @examples
#' \dontrun{
#' install_keras3r(python_package = "~/src/keras3r")
#' }
install_keras3r <- function(envname = "r-keras3r",
                            python_package = Sys.getenv("KERAS3R_PYTHON_PACKAGE", "keras3r"),
                            backend = c("tensorflow", "jax", "torch"),
                            ...) {
  backend <- match.arg(backend)
  python <- reticulate::virtualenv_create(envname, ...)
  reticulate::virtualenv_install(
    envname, keras3r_requirements(python_package, backend),
    ignore_installed = FALSE
  )
  message("keras3r is installed in the virtualenv \"", envname, "\"; restart R to use it.")
  invisible(python)
}

# The pip requirements for one backend; kept apart so tests can check them.
keras3r_requirements <- function(python_package = "keras3r", backend = "tensorflow") {
  backend_package <- switch(backend,
    tensorflow = "tensorflow-cpu>=2.16",
    jax = "jax[cpu]",
    torch = "torch",
    stop("unknown backend: ", backend, call. = FALSE)
  )
  c(python_package, "keras>=3.5", backend_package, "numpy<2")
}
