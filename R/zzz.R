# The Python module behind every wrapper. It is the copy of py/keras3r that
# this R package ships in inst/python (committed, so that a plain clone
# installs; `make inst-python` refreshes it and the tests fail when it
# drifts from py/keras3r), so R never
# runs a keras3r of another version. It is imported on first use (keras3's
# habit): library(keras3r) neither starts Python nor imports Keras.
# `keras3r_py` stands for the module: `keras3r_py$name` and `keras3r_py[["name"]]`
# import it on first use (see python_module()) and read from it. A failed
# import is tried again on the next use, with the same care against shadowing.
keras3r_py <- structure(list(), class = "keras3r_python_module")

#' @export
`$.keras3r_python_module` <- function(x, name) do.call(`$`, list(python_module(), name))

#' @export
`[[.keras3r_python_module` <- function(x, i, ...) python_module()[[i]]

#' @export
print.keras3r_python_module <- function(x, ...) {
  cat("<keras3r's Python module, from ", python_module_dir(), ": ",
      if (is.null(.keras3r$module)) "not imported yet" else "imported", ">\n", sep = "")
  invisible(x)
}

# Package state: the imported module, once imported, and the Python helpers.
.keras3r <- new.env(parent = emptyenv())

.onLoad <- function(libname, pkgname) {
  quiet_tensorflow_logs()
  register_tensor_conversions()
  if (use_default_virtualenv()) use_environment_backend(virtualenv_dir("r-keras3r"))
  declare_python_requirements()
}

# TensorFlow's C++ logging (absl, oneDNN, XLA's "Compiled cluster") is noise
# in an R session. TF reads TF_CPP_MIN_LOG_LEVEL once, when it loads, so it is
# set here, before Python starts, unless the user chose a level.
quiet_tensorflow_logs <- function() {
  if (!nzchar(Sys.getenv("TF_CPP_MIN_LOG_LEVEL"))) Sys.setenv(TF_CPP_MIN_LOG_LEVEL = "3")
  invisible(Sys.getenv("TF_CPP_MIN_LOG_LEVEL"))
}

# install_keras3r() builds this virtualenv; use it unless the user chose a
# Python already.
use_default_virtualenv <- function(envname = "r-keras3r") {
  if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) return(invisible(FALSE))
  if (!reticulate::virtualenv_exists(envname)) return(invisible(FALSE))
  try(reticulate::use_virtualenv(envname, required = FALSE), silent = TRUE)
  invisible(TRUE)
}

# A virtualenv made by install_keras3r(backend = "jax") records its backend;
# Keras would otherwise look for TensorFlow. The user's KERAS_BACKEND wins.
use_environment_backend <- function(env_dir) {
  marker <- file.path(env_dir, "keras3r-backend")
  if (nzchar(Sys.getenv("KERAS_BACKEND")) || !file.exists(marker)) return(invisible(NULL))
  backend <- trimws(readLines(marker, n = 1L, warn = FALSE))
  if (length(backend) && backend %in% c("tensorflow", "jax", "torch")) {
    Sys.setenv(KERAS_BACKEND = backend)
  }
  invisible(backend)
}

# reticulate 1.41 and later resolve Python from what packages declare with
# py_require() (keras3 1.4+ does so), so a keras3 user needs no environment of
# keras3r's own: keras3r_requirements() declares what keras3 declares.
# Older reticulate (Debian 12 has 1.28) lacks py_require(): there
# install_keras3r() makes the environment instead.
declare_python_requirements <- function(
    py_require = get0("py_require", envir = asNamespace("reticulate"), inherits = FALSE),
    backend = Sys.getenv("KERAS_BACKEND", "tensorflow")) {
  if (!is.function(py_require)) return(invisible(NULL))
  if (!backend %in% c("tensorflow", "jax", "torch")) backend <- "tensorflow"
  requirements <- keras3r_requirements(backend, declared = TRUE)
  tryCatch(py_require(requirements), error = function(e) NULL)
  invisible(requirements)
}

# Where the module is imported from. In a source tree (pkgload::load_all(),
# testthat::test_local()) that is py/, the one source, so a stale copy in
# inst/python can never be what the tests run; an installed package has no
# py/ and uses the copy it was built with.
python_module_dir <- function() {
  root <- getNamespaceInfo(asNamespace("keras3r"), "path")
  source_py <- file.path(root, "py")
  in_source_tree <- !file.exists(file.path(root, "Meta", "package.rds")) &&
    file.exists(file.path(source_py, "keras3r", "__init__.py"))
  if (in_source_tree) return(normalizePath(source_py))
  system.file("python", package = "keras3r")
}

python_module <- function() {
  module <- .keras3r$module
  if (is.null(module)) {
    module <- load_python_module()
    .keras3r$module <- module
  }
  module
}

# Keras itself, once keras3r's module has been imported: every entry point that
# needs Keras comes through here, so that a Python that cannot start is
# reported as keras3r_python_unavailable.
keras_module <- function() {
  python_module()
  reticulate::import("keras")
}

# A submodule of the shipped keras3r (keras3r.summary, say), imported after
# keras3r itself so that it comes from the same copy.
python_submodule <- function(name) {
  python_module()
  reticulate::import(paste0("keras3r.", name))
}

load_python_module <- function() {
  dir <- python_module_dir()
  if (!nzchar(dir) || !file.exists(file.path(dir, "keras3r", "__init__.py"))) {
    stop(python_unavailable(python_problem(list(module_dir = dir))))
  }
  result <- tryCatch(import_shipped_module(dir), error = identity)
  if (inherits(result, "error")) {
    stop(python_unavailable(python_problem(python_facts(dir, result))))
  }
  result
}

# Imports keras3r from `dir` alone. A `keras3r` folder in the working directory
# (a clone of this repository, say) is on Python's path too and would be
# imported as an empty namespace package; `dir` goes first on the path. A
# keras3r that Python imported already (R embedded in a Python process that
# uses keras3r, through rpy2) is kept when its files are the same as the
# shipped ones, and forgotten otherwise.
import_shipped_module <- function(dir) {
  helpers <- python_helpers(dir)
  helpers$forget_other_keras3r(dir)
  level <- suppressWarnings(as.integer(Sys.getenv("TF_CPP_MIN_LOG_LEVEL")))
  if (!is.na(level) && level >= 1L) helpers$import_filtering_logs("keras", level)
  # keras3r imports Keras lazily; without it no function works.
  reticulate::import("keras")
  module <- reticulate::import_from_path("keras3r", path = dir)
  if (!helpers$is_shipped_keras3r(dir)) {
    stop("Python imported keras3r from ", module$`__file__`, ", not from ", dir, call. = FALSE)
  }
  module
}

# What R runs in Python before importing keras3r: keras3r/loading.py, loaded
# from its file as a module of its own (keras3r itself must not be imported
# yet, and the name keeps it apart from the package), once per session.
python_helpers <- function(dir) {
  if (is.null(.keras3r$helpers)) {
    util <- reticulate::import("importlib.util")
    file <- file.path(dir, "keras3r", "loading.py")
    spec <- util$spec_from_file_location("keras3r_loading", file)
    module <- util$module_from_spec(spec)
    spec$loader$exec_module(module)
    .keras3r$helpers <- module
  }
  .keras3r$helpers
}

# What is known about the Python that failed to import keras3r.
python_facts <- function(dir, error) {
  facts <- list(module_dir = dir, error = conditionMessage(error), python = NA_character_,
                numpy = NA_character_, keras = NA, origin = python_origin())
  if (!reticulate::py_available(initialize = FALSE)) {
    if (identical(facts$origin, "py_require")) facts$uv <- uv_version()
    facts$requested <- requested_python()
    return(facts)
  }
  facts$python <- reticulate::py_config()$python
  facts$origin <- python_origin(facts$python)
  util <- reticulate::import("importlib.util")
  if (!is.null(util$find_spec("numpy"))) {
    facts$numpy <- tryCatch(reticulate::import("importlib.metadata")$version("numpy"),
                            error = function(e) "unknown")
  } else {
    facts$numpy <- "none"
  }
  facts$keras <- !is.null(util$find_spec("keras"))
  facts
}

# The interpreter reticulate was to start, when it could not: the one named by
# RETICULATE_PYTHON, else install_keras3r()'s, else the one reticulate finds.
requested_python <- function() {
  named <- Sys.getenv("RETICULATE_PYTHON")
  if (nzchar(named)) return(named)
  env_python <- virtualenv_python(virtualenv_dir("r-keras3r"))
  if (file.exists(env_python)) return(env_python)
  found <- tryCatch(reticulate::py_discover_config()$python, error = function(e) NULL)
  if (is.character(found) && length(found) == 1L) found else NA_character_
}

# Who chose the Python: "RETICULATE_PYTHON", "virtualenv" (install_keras3r()'s),
# "py_require" (reticulate's own environment) or "none" (nobody: reticulate
# falls back on whatever Python it finds).
python_origin <- function(python = NA_character_) {
  if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) return("RETICULATE_PYTHON")
  env_dir <- virtualenv_dir("r-keras3r")
  if (!is.na(python)) {
    # Python's own prefix, not the interpreter's path: a virtualenv's
    # bin/python is a link to the Python it was made from.
    if (python_runs_from(env_dir)) return("virtualenv")
  } else if (reticulate::virtualenv_exists("r-keras3r")) {
    return("virtualenv")
  }
  if (is.function(get0("py_require", envir = asNamespace("reticulate"), inherits = FALSE))) {
    return("py_require")
  }
  "none"
}

# What is wrong and what to do, from the facts: a list(what, fix).
python_problem <- function(facts) {
  rebuild <- "run install_keras3r() to rebuild the virtualenv \"r-keras3r\", then restart R"
  dir <- facts$module_dir
  if (is.null(dir) || !nzchar(dir) || !file.exists(file.path(dir, "keras3r", "__init__.py"))) {
    return(list(
      what = paste0("this installation of the R package has no Python module ",
                    "(inst/python/keras3r was missing from the sources it was installed from)"),
      fix = paste0("reinstall keras3r from a complete copy of its repository, e.g. ",
                   "remotes::install_github() or R CMD INSTALL of a fresh git clone")
    ))
  }
  origin <- facts$origin %||% "none"
  python <- facts$python %||% NA_character_
  error <- facts$error %||% ""
  fix <- switch(origin,
    RETICULATE_PYTHON = paste0(
      "install what is missing into that Python (", python_shell(python), " -m pip install ",
      paste(shQuote(keras3r_requirements(), type = "cmd"), collapse = " "),
      "), or unset RETICULATE_PYTHON and ", new_environment_advice(), "; then restart R"),
    virtualenv = rebuild,
    py_require = paste0(
      "see reticulate::py_require() for the requirements declared in this session, ",
      "or run install_keras3r() and restart R"),
    paste0(new_environment_advice(), ", then restart R"))
  where <- switch(origin,
    RETICULATE_PYTHON = " (RETICULATE_PYTHON)",
    virtualenv = " (the virtualenv \"r-keras3r\")",
    py_require = " (reticulate's environment from py_require())",
    none = paste0(" (reticulate's own choice: there is no virtualenv \"r-keras3r\" ",
                  "and RETICULATE_PYTHON is unset)"),
    "")
  if (is.na(python)) {
    requested <- facts$requested %||% NA_character_
    reticulate_version <- facts$reticulate %||% utils::packageVersion("reticulate")
    if (identical(origin, "py_require") &&
        uv_deletes_reticulate_environment(facts$uv %||% NA_character_, reticulate_version)) {
      return(uv_problem(facts$uv, reticulate_version))
    }
    if (grepl("shared library", error, fixed = TRUE)) {
      return(shared_library_problem(requested, where))
    }
    if (identical(origin, "RETICULATE_PYTHON") && !is.na(requested) && !file.exists(requested)) {
      return(list(
        what = paste0("RETICULATE_PYTHON names ", requested, ", which does not exist"),
        fix = paste0("set RETICULATE_PYTHON to a Python that has Keras, or unset it and ",
                     new_environment_advice(), "; then restart R")))
    }
    what <- if (identical(origin, "none") && !nzchar(error)) {
      "there is no Python environment for keras3r: no virtualenv \"r-keras3r\" and RETICULATE_PYTHON is unset"
    } else {
      paste0("reticulate could not start Python", where,
             if (nzchar(error)) paste0(": ", error) else "")
    }
    return(list(what = what, fix = fix))
  }
  numpy <- facts$numpy %||% NA_character_
  missing <- c(if (identical(facts$keras, FALSE)) "Keras", if (identical(numpy, "none")) "NumPy")
  if (length(missing)) {
    return(list(what = paste0(paste(missing, collapse = " and "),
                              if (length(missing) > 1L) " are" else " is",
                              " not installed in ", python, where),
                fix = fix))
  }
  if (!is.na(numpy) && !identical(numpy, "unknown") && numpy_too_new(numpy)) {
    return(list(
      what = paste0(python, where, " has NumPy ", numpy, ", but reticulate ",
                    utils::packageVersion("reticulate"), " needs NumPy < 2"),
      fix = if (identical(origin, "virtualenv")) rebuild else sub(
        "install what is missing into that Python", "install NumPy 1 into that Python", fix)
    ))
  }
  list(what = paste0("importing keras3r in ", python, where, " failed: ",
                     if (nzchar(error)) error else "unknown error"),
       fix = fix)
}

# How to get a Python environment from scratch with the reticulate in use:
# from 1.41 on, reticulate builds one from keras3r's py_require() declarations.
new_environment_advice <- function(managed = !reticulate_needs_numpy_1()) {
  if (managed) {
    paste0("let reticulate provide one from keras3r's requirements (restart R with ",
           "RETICULATE_PYTHON unset), or run install_keras3r()")
  } else {
    "run install_keras3r() (about 1.6 GB with TensorFlow)"
  }
}

# reticulate embeds Python through its shared library (libpython3.X.so),
# which a Python built without --enable-shared, or a Debian or Ubuntu system
# whose libpython3.X package is not installed, lacks.
shared_library_problem <- function(python, where = "") {
  version <- python_version_of(python)
  library <- if (is.na(version)) "libpython3.X" else paste0("libpython", version)
  list(
    what = paste0("reticulate found ",
                  if (is.na(python)) "a Python" else python, where,
                  " but not its shared library (", library, ".so), which R needs to embed it"),
    fix = paste0("install it (on Debian or Ubuntu: apt install ", library, ") or use a ",
                 "Python built with a shared library (--enable-shared); then restart R"))
}

# "3.13" for a Python interpreter that runs, NA otherwise.
python_version_of <- function(python) {
  if (is.na(python) || !nzchar(python) || !file.exists(python)) return(NA_character_)
  out <- suppressWarnings(tryCatch(
    system2(python, c("-c", shQuote("import sys; print('%d.%d' % sys.version_info[:2])")),
            stdout = TRUE, stderr = FALSE),
    error = function(e) character()))
  if (length(out) && grepl("^[0-9]+\\.[0-9]+$", out[[1]])) out[[1]] else NA_character_
}

numpy_too_new <- function(numpy, reticulate_version = utils::packageVersion("reticulate")) {
  major <- suppressWarnings(as.integer(sub("^([0-9]+).*", "\\1", numpy)))
  !is.na(major) && major >= 2L && reticulate_needs_numpy_1(reticulate_version)
}

python_shell <- function(python) if (is.na(python)) "python" else shQuote(python)

python_unavailable <- function(problem) {
  structure(
    class = c("keras3r_python_unavailable", "error", "condition"),
    list(message = paste0("keras3r cannot use Python: ", sentence(problem$what),
                          "\nTo fix it: ", sentence(problem$fix)),
         call = NULL, what = problem$what, fix = problem$fix)
  )
}

# `text` ending in exactly one full stop, whatever it ended in before (an
# error message from reticulate often has its own).
sentence <- function(text) paste0(sub("[.[:space:]]+$", "", text), ".")

`%||%` <- function(x, y) if (is.null(x)) y else x

#' Is the Python side of keras3r ready?
#'
#' `TRUE` when the Python that reticulate uses can import keras3r's Python
#' module (shipped with this R package) and Keras. Otherwise `FALSE`, with
#' the reason as its `"reason"` attribute: no Python environment, Keras or
#' NumPy missing, NumPy too new for this reticulate, and what to do about it.
#' Examples and tests use it to run only where Python is set up.
#'
#' When no Python has been chosen for keras3r (no virtualenv `"r-keras3r"`,
#' `RETICULATE_PYTHON` unset, and a reticulate without `py_require()`), it
#' answers `FALSE` without starting Python, so that [install_keras3r()] can
#' still set up this same R session.
#'
#' @param verbose If `TRUE`, the reason is also shown as a message.
#' @returns `TRUE`, or `FALSE` with the reason (which printing shows).
#' @export
#' @examples
#' keras3r_available()
keras3r_available <- function(verbose = FALSE) {
  if (!isTRUE(verbose) && !isFALSE(verbose)) {
    arg_error("keras3r_available", "verbose", "must be TRUE or FALSE.", value = verbose)
  }
  reason <- NULL
  if (is.null(.keras3r$module) && !reticulate::py_available(initialize = FALSE) &&
      identical(python_origin(), "none")) {
    reason <- python_unavailable(python_problem(list(
      module_dir = python_module_dir(), origin = "none")))
  } else {
    loaded <- tryCatch(python_module(), error = identity)
    if (inherits(loaded, "error")) reason <- loaded
  }
  if (is.null(reason)) return(TRUE)
  if (verbose) message(conditionMessage(reason))
  structure(FALSE, reason = conditionMessage(reason), class = "keras3r_unavailable")
}

#' @export
print.keras3r_unavailable <- function(x, ...) {
  print(as.vector(x))
  cat(attr(x, "reason"), "\n", sep = "")
  invisible(x)
}
