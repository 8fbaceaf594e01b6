#' Install the Python side of keras3r
#'
#' Makes a Python virtualenv with Keras 3, a backend and NumPy, for
#' keras3r. The Python code of keras3r itself comes with this R package; the
#' virtualenv holds only what it needs. keras3r uses the virtualenv
#' `"r-keras3r"` whenever it exists and `RETICULATE_PYTHON` is unset; when
#' Python has not started yet in this R session, straight away.
#'
#' Before it downloads anything, it looks for a Python (3.10 or later) that
#' can make a virtualenv whose pip reaches the package index over TLS: the
#' `python` you give, or else `/usr/bin/python3`, `python3` and `python` on
#' the `PATH`, and the Python reticulate would start virtualenvs from, in that
#' order. It says which ones it skipped and why. (A Python that works in a
#' terminal can fail under R: R's library path can make it load another
#' libpython, which lacks the `ssl` module.)
#'
#' An existing virtualenv of that name is replaced. The virtualenv takes
#' about 1.6 GB with TensorFlow. pip's output goes to a log file, whose path is
#' shown; if anything fails, the half-built virtualenv is removed.
#'
#' NumPy is pinned below 2 only with reticulate before 1.41 (Debian 12 has
#' 1.28), which cannot pass R arrays to NumPy 2. With reticulate 1.41 or
#' later, keras3r also declares its needs with `reticulate::py_require()` (the
#' same package names as keras3 declares, so both share one environment), and
#' reticulate can provide them without this function.
#'
#' @param envname The name of the virtualenv, or a path to it. keras3r looks
#'   for `"r-keras3r"` when it loads.
#' @param ... Must be empty; the arguments after it are matched by their full
#'   names only.
#' @param backend The Keras backend to install: `"tensorflow"` (the default,
#'   the CPU build), `"jax"` (CPU) or `"torch"` (CPU). keras3r sets
#'   `KERAS_BACKEND` to it when it uses the virtualenv, unless you set it.
#' @param python The Python to make the virtualenv with, a path. `NULL` (the
#'   default) tries the usual ones.
#'
#' @returns The path of the virtualenv's Python, invisibly.
#' @seealso [uninstall_keras3r()], [keras3r_available()].
#' @export
#' @examples
#' \dontrun{
#' install_keras3r()
#' install_keras3r(backend = "jax", python = "/usr/bin/python3")
#' }
install_keras3r <- function(envname = "r-keras3r", ...,
                            backend = c("tensorflow", "jax", "torch"),
                            python = NULL) {
  check_no_dots("install_keras3r", ...)
  backend <- match.arg(backend)
  check_string(envname, "install_keras3r", "envname")
  if (!is.null(python)) check_string(python, "install_keras3r", "python")
  env_dir <- virtualenv_dir(envname)
  if (python_runs_from(env_dir)) {
    stop("install_keras3r(): this R session runs Python from ", env_dir,
         ", so it cannot be replaced now. Restart R and run install_keras3r() ",
         "before using keras3r.", call. = FALSE)
  }
  if (dir.exists(env_dir) && length(list.files(env_dir, all.files = TRUE, no.. = TRUE)) &&
      !file.exists(file.path(env_dir, "pyvenv.cfg"))) {
    stop("install_keras3r(): ", env_dir, " exists and is not a Python virtualenv; ",
         "give another envname.", call. = FALSE)
  }
  log <- install_log_path()
  requirements <- keras3r_requirements(backend)
  message("Installing the Python side of keras3r (", paste(requirements, collapse = ", "),
          ") into the virtualenv \"", envname, "\" at ", env_dir, ".")
  message("pip's log: ", log)

  finished <- FALSE
  on.exit(if (!finished && dir.exists(env_dir)) {
    unlink(env_dir, recursive = TRUE)
    message("Removed the half-built virtualenv ", env_dir, ".")
  }, add = TRUE)
  if (dir.exists(env_dir)) {
    message("Replacing the existing virtualenv ", env_dir, ".")
    unlink(env_dir, recursive = TRUE)
  }

  python <- make_virtualenv(python_candidates(python), env_dir, log)
  message("Downloading and installing ", backend_label(backend), ", Keras and NumPy ",
          "(", expected_size(backend), "; this takes a few minutes) ...")
  started <- Sys.time()
  # --no-compile: Python compiles the few modules it imports when it imports
  # them; compiling all of TensorFlow up front costs a minute on a small machine.
  status <- run_logged(virtualenv_python(env_dir),
                       c("-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                         "--no-compile", pip_index_options(backend), shQuote(requirements)),
                       log)
  if (status != 0L) {
    install_failed("pip could not install ", paste(requirements, collapse = ", "),
                   " (", attr(status, "last"), ")", log = log)
  }
  versions <- installed_versions(env_dir, backend, log)
  writeLines(backend, file.path(env_dir, "keras3r-backend"))
  finished <- TRUE
  message("Installed ", versions, ": ", format_size(dir_size(env_dir)), " in ",
          round(as.numeric(difftime(Sys.time(), started, units = "secs"))), " s.")
  if (activate_virtualenv(env_dir, backend)) {
    message("keras3r uses it from now on, in this R session too.")
  } else {
    message("keras3r uses it from the next R session on: restart R.")
  }
  invisible(virtualenv_python(env_dir))
}

#' Remove the Python side of keras3r
#'
#' Deletes the virtualenv that [install_keras3r()] made and says how much disk
#' space that freed.
#'
#' @inheritParams install_keras3r
#' @returns The number of bytes freed, invisibly (0 when there was no such
#'   virtualenv).
#' @export
#' @examples
#' \dontrun{
#' uninstall_keras3r()
#' }
uninstall_keras3r <- function(envname = "r-keras3r") {
  check_string(envname, "uninstall_keras3r", "envname")
  env_dir <- virtualenv_dir(envname)
  if (!dir.exists(env_dir)) {
    message("There is no virtualenv \"", envname, "\" (", env_dir, "): nothing to remove.")
    return(invisible(0))
  }
  if (!file.exists(file.path(env_dir, "pyvenv.cfg"))) {
    stop("uninstall_keras3r(): ", env_dir, " is not a Python virtualenv (it has no ",
         "pyvenv.cfg); it is left as it is.", call. = FALSE)
  }
  in_use <- python_runs_from(env_dir)
  size <- dir_size(env_dir)
  unlink(env_dir, recursive = TRUE)
  if (dir.exists(env_dir)) {
    stop("uninstall_keras3r(): could not remove all of ", env_dir, ".", call. = FALSE)
  }
  message("Removed the virtualenv \"", envname, "\" (", env_dir, "), freeing ",
          format_size(size), ".")
  if (in_use) message("This R session still runs Python from it: restart R.")
  invisible(size)
}

# What keras3r asks for, for one backend: what install_keras3r() gives pip, or
# with `declared = TRUE` what .onLoad declares with py_require().
#
# The declaration must meet keras3's, which .onLoad of keras3 (1.4 and later)
# makes with py_require(): "keras" with no version, and TensorFlow as
# "tensorflow-cpu" on Linux, "tensorflow" elsewhere. Declaring another name
# for the same module (tensorflow beside tensorflow-cpu) makes reticulate
# build an environment of its own for the mix, so keras3r declares the names
# keras3 does, and a version floor that keras3's plain "keras" admits.
#
# NumPy is pinned below 2 only where reticulate is older than 1.41 (Debian
# 12 has 1.28): those cannot pass R arrays to NumPy 2. keras3r's Python
# package itself allows NumPy 2 (pyproject.toml).
keras3r_requirements <- function(backend = "tensorflow", declared = FALSE,
                                  os = platform_os(), numpy_1 = reticulate_needs_numpy_1()) {
  backend_package <- switch(backend,
    tensorflow = if (identical(os, "linux")) "tensorflow-cpu" else "tensorflow",
    jax = if (declared) "jax" else "jax[cpu]",
    torch = "torch",
    stop("unknown backend: ", backend, call. = FALSE)
  )
  # A declaration is made only where reticulate has py_require() (1.41 and
  # later), which handles NumPy 2.
  c("keras>=3.5", backend_package, if (numpy_1 && !declared) "numpy<2")
}

# "linux", "macos", "windows" or another lower-case system name.
platform_os <- function() {
  sys <- tolower(Sys.info()[["sysname"]])
  if (identical(sys, "darwin")) "macos" else sys
}

# reticulate before 1.41 converts R arrays only for NumPy 1.
reticulate_needs_numpy_1 <- function(version = utils::packageVersion("reticulate")) {
  version < "1.41"
}

# PyPI's torch wheels for Linux bring CUDA (several GB); the CPU build lives on
# PyTorch's own index.
pip_index_options <- function(backend) {
  if (identical(backend, "torch")) {
    c("--extra-index-url", "https://download.pytorch.org/whl/cpu")
  } else {
    character()
  }
}

backend_label <- function(backend) {
  switch(backend, tensorflow = "TensorFlow (CPU)", jax = "JAX (CPU)", torch = "PyTorch (CPU)")
}

# Measured with TensorFlow 2.21 and Keras 3 (Python 3.11); the others vary more
# with the platform.
expected_size <- function(backend) {
  switch(backend, tensorflow = "about 1.6 GB on disk", "several hundred MB or more on disk")
}

# The interpreters to try, in order, without duplicates.
python_candidates <- function(python = NULL) {
  if (!is.null(python)) return(path.expand(python))
  candidates <- c("/usr/bin/python3", Sys.which("python3"), Sys.which("python"))
  starter <- tryCatch(
    getExportedValue("reticulate", "virtualenv_starter")(),
    error = function(e) NULL)
  if (is.character(starter)) candidates <- c(candidates, starter)
  candidates <- unname(candidates[nzchar(candidates) & file.exists(candidates)])
  candidates[!duplicated(normalizePath(candidates))]
}

# What a Python needs before it can make keras3r's virtualenv. Run as a child
# of R, so it sees R's library path as the embedded Python will.
probe_script <- function() {
  c(
    "import sys",
    "if sys.version_info < (3, 10):",
    "    sys.exit('it is Python %d.%d; Keras 3 needs 3.10 or later' % sys.version_info[:2])",
    "try:",
    "    import ssl",
    "except Exception as e:",
    "    sys.exit('its ssl module does not load (%s), so pip cannot reach the index over TLS' % e)",
    "try:",
    "    import ensurepip, venv",
    "except Exception as e:",
    "    sys.exit('it cannot make a virtualenv with pip (%s; on Debian: apt install python3-venv)' % e)",
    "print(sys.version.split()[0])"
  )
}

# NULL when `python` can serve, or the reason it cannot.
probe_python <- function(python, timeout = 60) {
  if (!file.exists(python)) return("it does not exist")
  script <- tempfile(fileext = ".py")
  on.exit(unlink(script), add = TRUE)
  writeLines(probe_script(), script)
  out <- suppressWarnings(system2(python, shQuote(script), stdout = TRUE, stderr = TRUE,
                                  timeout = timeout))
  status <- attr(out, "status") %||% 0L
  if (status == 0L) return(NULL)
  out <- out[nzchar(trimws(out))]
  if (!length(out)) return(paste0("it exited with status ", status))
  out[[length(out)]]
}

# Makes the virtualenv with the first candidate that can, and checks that its
# pip reaches the package index. Returns the interpreter used.
make_virtualenv <- function(candidates, env_dir, log) {
  if (!length(candidates)) {
    install_failed("no Python found: there is no /usr/bin/python3, and no python3 or ",
                   "python on the PATH", log = log, hint_python = TRUE)
  }
  reasons <- character()
  for (python in candidates) {
    why <- probe_python(python)
    if (is.null(why)) {
      status <- run_logged(python, c("-m", "venv", shQuote(env_dir)), log)
      why <- if (status != 0L) {
        paste0("`", python, " -m venv` failed (", attr(status, "last"), ")")
      } else {
        pip_reaches_index(env_dir, log)
      }
    }
    if (is.null(why)) {
      message("Python: ", python, ", whose virtualenv's pip reaches the package index.")
      return(python)
    }
    message("Skipped the Python ", python, ": ", why, ".")
    reasons <- c(reasons, paste0(python, ": ", why))
    if (dir.exists(env_dir)) unlink(env_dir, recursive = TRUE)
  }
  install_failed("none of the Pythons tried can make a virtualenv whose pip reaches the ",
                 "package index:\n  ", paste(reasons, collapse = "\n  "),
                 log = log, hint_python = TRUE)
}

# NULL when the virtualenv's pip can talk to the index (TLS included), or why
# not. `pip index versions` asks the index about one package and downloads
# nothing.
pip_reaches_index <- function(env_dir, log, timeout = 120) {
  status <- run_logged(virtualenv_python(env_dir),
                       c("-m", "pip", "index", "versions", "pip", "--disable-pip-version-check"),
                       log, timeout = timeout)
  if (status == 0L) return(NULL)
  paste0("its pip cannot reach the package index (", attr(status, "last"), ")")
}

# Imports Keras and the backend in the new virtualenv and reports versions.
installed_versions <- function(env_dir, backend, log) {
  module <- switch(backend, tensorflow = "tensorflow", jax = "jax", torch = "torch")
  script <- tempfile(fileext = ".py")
  on.exit(unlink(script), add = TRUE)
  writeLines(c(
    "import os",
    sprintf("os.environ['KERAS_BACKEND'] = '%s'", backend),
    "os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')",
    sprintf("import keras, numpy, %s as backend", module),
    sprintf("print('Keras %%s, %s %%s, NumPy %%s' %% (keras.__version__, backend.__version__, numpy.__version__))",
            backend_label(backend))
  ), script)
  status <- run_logged(virtualenv_python(env_dir), shQuote(script), log)
  if (status != 0L) {
    install_failed("the new virtualenv cannot import Keras with ", backend_label(backend),
                   " (", attr(status, "last"), ")", log = log)
  }
  attr(status, "last")
}

# Runs a command, its output appended to the log. Returns its exit status,
# with the last informative line of its output as attribute "last".
run_logged <- function(command, args, log, timeout = 0) {
  out <- tempfile()
  on.exit(unlink(out), add = TRUE)
  status <- suppressWarnings(system2(command, args, stdout = out, stderr = out,
                                     timeout = timeout))
  cat("\n$ ", command, " ", paste(args, collapse = " "), "\n", sep = "", file = log,
      append = TRUE)
  lines <- if (file.exists(out)) readLines(out, warn = FALSE) else character()
  if (identical(as.integer(status), 124L)) lines <- c(lines, paste0("(timed out after ", timeout, " s)"))
  cat(lines, sep = "\n", file = log, append = TRUE)
  structure(as.integer(status), last = last_line(lines))
}

last_line <- function(lines) {
  lines <- trimws(lines[nzchar(trimws(lines))])
  lines <- lines[!grepl("^WARNING: (Retrying|You are using pip|There was an error checking)", lines)]
  if (!length(lines)) return("no output")
  lines[[length(lines)]]
}

install_failed <- function(..., log, hint_python = FALSE) {
  stop(structure(
    class = c("keras3r_install_error", "error", "condition"),
    list(message = paste0(
      "install_keras3r() failed: ", ..., ".\n",
      "pip's full log: ", log, "\n",
      "To retry, run install_keras3r() again",
      if (hint_python) paste0(
        ", with python = \"/path/to/python3\" naming a Python 3.10+ that has the ",
        "venv and ssl modules") else "",
      "."
    ), call = NULL, log = log)
  ))
}

install_log_path <- function() {
  dir <- tools::R_user_dir("keras3r", "cache")
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  file.path(dir, format(Sys.time(), "install-%Y%m%d-%H%M%S.log"))
}

# The directory of a virtualenv given by name (under reticulate's virtualenv
# root: WORKON_HOME, or ~/.virtualenvs) or by path.
virtualenv_dir <- function(envname) {
  if (grepl("/", envname, fixed = TRUE)) return(normalizePath(envname, mustWork = FALSE))
  normalizePath(file.path(reticulate::virtualenv_root(), envname), mustWork = FALSE)
}

virtualenv_python <- function(env_dir) file.path(env_dir, "bin", "python")

python_runs_from <- function(env_dir) {
  if (!reticulate::py_available(initialize = FALSE)) return(FALSE)
  prefix <- tryCatch(reticulate::import("sys")$prefix, error = function(e) "")
  identical(normalizePath(prefix, mustWork = FALSE), normalizePath(env_dir, mustWork = FALSE))
}

# Points this session's reticulate at the new virtualenv when Python has not
# started yet and the user has not chosen another Python.
activate_virtualenv <- function(env_dir, backend) {
  if (nzchar(Sys.getenv("RETICULATE_PYTHON")) ||
      reticulate::py_available(initialize = FALSE)) {
    return(FALSE)
  }
  ok <- !inherits(try(reticulate::use_virtualenv(env_dir, required = TRUE), silent = TRUE),
                  "try-error")
  if (ok) use_environment_backend(env_dir)
  ok
}

dir_size <- function(dir) {
  du <- Sys.which("du")
  if (nzchar(du)) {
    out <- suppressWarnings(system2(du, c("-sk", shQuote(dir)), stdout = TRUE, stderr = FALSE))
    kb <- suppressWarnings(as.numeric(sub("\\s.*", "", out[1])))
    if (length(kb) && !is.na(kb)) return(kb * 1024)
  }
  files <- list.files(dir, recursive = TRUE, all.files = TRUE, full.names = TRUE)
  sum(file.info(files, extra_cols = FALSE)$size, na.rm = TRUE)
}

format_size <- function(bytes) {
  if (bytes >= 1e9) return(sprintf("%.2f GB", bytes / 1e9))
  if (bytes >= 1e6) return(sprintf("%.0f MB", bytes / 1e6))
  if (bytes >= 1e3) return(sprintf("%.0f kB", bytes / 1e3))
  sprintf("%.0f bytes", bytes)
}

check_no_dots <- function(fun, ...) {
  if (...length() == 0L) return(invisible())
  names <- ...names()
  if (is.null(names)) names <- rep("", ...length())
  names[is.na(names)] <- ""
  named <- names[nzchar(names)]
  if (length(named)) {
    hint <- if ("python_package" %in% named) {
      " (keras3r's Python code now comes with the R package: nothing to give)"
    } else {
      ""
    }
    stop(argument_error(paste0(
      fun, "() has no argument ", paste0("`", named, "`", collapse = ", "), hint,
      ". Its arguments are matched by full name: ",
      paste(setdiff(names(formals(sys.function(-1L))), "..."), collapse = ", "), "."
    ), fun, argument = named[[1]]))
  }
  stop(argument_error(paste0(
    fun, "() takes one unnamed argument, `envname`; name the others (backend = , python = )."
  ), fun))
}

check_string <- function(x, fun, arg) {
  if (!is.character(x) || length(x) != 1L || is.na(x) || !nzchar(x)) {
    arg_error(fun, arg, "must be one non-empty string.", value = x)
  }
  invisible(x)
}
