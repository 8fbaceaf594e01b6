# install_keras3r() and uninstall_keras3r(), short of downloading Keras (make
# test-install does that, from the built tarball).

expect_refused <- function(expr, pattern) {
  expect_error(expr, pattern, fixed = TRUE)
}

test_that("refused set-up arguments are keras3r_argument_error conditions, as elsewhere", {
  refusal <- function(expr) tryCatch(expr, keras3r_argument_error = function(e) e)
  e <- refusal(install_keras3r(python_package = "/src/keras3r"))
  expect_s3_class(e, "keras3r_argument_error")
  expect_identical(e$argument, "python_package")
  e <- refusal(install_keras3r(python = c("a", "b")))
  expect_s3_class(e, "keras3r_argument_error")
  expect_identical(e$value, c("a", "b"))
  expect_s3_class(refusal(uninstall_keras3r(NA_character_)), "keras3r_argument_error")
  e <- refusal(keras3r_available("yes"))
  expect_s3_class(e, "keras3r_argument_error")
  expect_match(conditionMessage(e), "keras3r_available(): `verbose` must be TRUE or FALSE.",
               fixed = TRUE)
})

test_that("install_keras3r() matches its arguments by full name only", {
  expect_identical(names(formals(install_keras3r)), c("envname", "...", "backend", "python"))
  # Each of these is refused before anything is made.
  expect_refused(install_keras3r(python_package = "/src/keras3r"),
                 "has no argument `python_package`")
  expect_refused(install_keras3r(pyth = "/usr/bin/python3"), "has no argument `pyth`")
  expect_refused(install_keras3r(back = "jax"), "has no argument `back`")
  expect_refused(install_keras3r("r-keras3r", "jax"), "takes one unnamed argument")
  expect_error(install_keras3r(backend = "theano"), "should be one of")
  expect_refused(install_keras3r(envname = NA_character_), "`envname` must be one non-empty string")
  expect_refused(install_keras3r(python = c("a", "b")), "`python` must be one non-empty string")
  # A folder that is not a virtualenv is never replaced.
  folder <- tempfile("not-a-venv")
  dir.create(folder)
  writeLines("keep me", file.path(folder, "notes.txt"))
  expect_refused(install_keras3r(folder), "exists and is not a Python virtualenv")
  expect_true(file.exists(file.path(folder, "notes.txt")))
})

test_that("pip gets Keras and one CPU backend, NumPy 1 only for an old reticulate, never a keras3r", {
  req <- function(backend, ...) keras3r:::keras3r_requirements(backend, os = "linux", ...)
  expect_identical(req("tensorflow", numpy_1 = TRUE), c("keras>=3.5", "tensorflow-cpu", "numpy<2"))
  expect_identical(req("tensorflow", numpy_1 = FALSE), c("keras>=3.5", "tensorflow-cpu"))
  expect_identical(req("jax", numpy_1 = TRUE), c("keras>=3.5", "jax[cpu]", "numpy<2"))
  expect_identical(req("torch", numpy_1 = FALSE), c("keras>=3.5", "torch"))
  expect_identical(keras3r:::keras3r_requirements("tensorflow", os = "macos", numpy_1 = FALSE),
                   c("keras>=3.5", "tensorflow"))
  expect_identical("numpy<2" %in% keras3r:::keras3r_requirements("tensorflow"),
                   utils::packageVersion("reticulate") < "1.41")
  expect_match(keras3r:::pip_index_options("torch"), "download.pytorch.org/whl/cpu", all = FALSE)
  expect_identical(keras3r:::pip_index_options("tensorflow"), character())
  expect_error(keras3r:::keras3r_requirements("theano"), "unknown backend")
})

# What keras3 (1.4 and later) declares with py_require() when it loads, for
# its default TensorFlow backend: "keras" with no version, and TensorFlow's
# CPU build under the name "tensorflow-cpu" on Linux, "tensorflow" elsewhere.
keras3_declares <- function(os) c("keras", if (os == "linux") "tensorflow-cpu" else "tensorflow")

# The Python module each distribution name installs.
provides <- c(keras = "keras", tensorflow = "tensorflow", "tensorflow-cpu" = "tensorflow",
              jax = "jax", torch = "torch", numpy = "numpy")

# "2" is version 2.0 (R's versions need two parts).
as_version <- function(v) package_version(ifelse(grepl(".", v, fixed = TRUE), v, paste0(v, ".0")))

# TRUE when one environment can hold both sets: one distribution name per
# module, and for each name its version floors and ceilings leave a version.
requirements_meet <- function(a, b) {
  parsed <- lapply(c(a, b), function(r) {
    m <- regmatches(r, regexec("^([A-Za-z0-9_.-]+)(\\[[^]]*\\])?\\s*(([<>=!]=?)\\s*([0-9.]+))?$", r))[[1]]
    list(name = tolower(m[2]), op = m[5], version = m[6])
  })
  names <- vapply(parsed, `[[`, "", "name")
  modules <- provides[names]
  if (anyNA(modules)) stop("unknown distribution in ", paste(names[is.na(modules)], collapse = ", "))
  for (module in unique(modules)) {
    if (length(unique(names[modules == module])) > 1L) return(FALSE)
  }
  for (name in unique(names)) {
    rules <- Filter(function(p) p$name == name && nzchar(p$op), parsed)
    floors <- vapply(Filter(function(p) startsWith(p$op, ">"), rules), `[[`, "", "version")
    floor <- max(as_version(c("0", floors)))
    for (p in Filter(function(p) startsWith(p$op, "<"), rules)) {
      if (!(as_version(p$version) > floor)) return(FALSE)
    }
  }
  TRUE
}

test_that("keras3r declares what keras3 declares, so both share one environment", {
  for (os in c("linux", "macos", "windows")) {
    for (numpy_1 in c(TRUE, FALSE)) {
      ours <- keras3r:::keras3r_requirements("tensorflow", declared = TRUE, os = os,
                                             numpy_1 = numpy_1)
      expect_true(requirements_meet(ours, keras3_declares(os)), info = paste(os, numpy_1))
    }
  }
  # The check itself: another name for TensorFlow, or a ceiling below a
  # floor, cannot share an environment.
  expect_false(requirements_meet(c("keras>=3.5", "tensorflow"), keras3_declares("linux")))
  expect_false(requirements_meet(c("keras<3"), c("keras>=3.5")))
  expect_true(requirements_meet(c("keras>=3.5", "numpy<2"), c("keras", "numpy")))
  for (backend in c("jax", "torch")) {
    ours <- keras3r:::keras3r_requirements(backend, declared = TRUE, os = "linux", numpy_1 = FALSE)
    expect_true(requirements_meet(ours, "keras"), info = backend)
  }
})

test_that("a Python that cannot serve is skipped with the reason", {
  expect_identical(keras3r:::probe_python(tempfile()), "it does not exist")
  python <- usable_python()
  skip_if(!nzchar(python), "no Python here can make a virtualenv")
  expect_null(keras3r:::probe_python(python))
  # The same Python with a module that fails to load, as ssl does for a Python
  # that picks up another libpython under R.
  broken <- function(module) {
    dir <- tempfile("broken")
    dir.create(dir)
    writeLines(sprintf("raise ImportError('no _%s in this build')", module),
               file.path(dir, paste0(module, ".py")))
    wrapper <- file.path(dir, "python3")
    writeLines(c("#!/bin/sh", sprintf("PYTHONPATH=%s exec %s \"$@\"", shQuote(dir),
                                      shQuote(python))), wrapper)
    Sys.chmod(wrapper, "0755")
    wrapper
  }
  expect_match(keras3r:::probe_python(broken("ssl")),
               "its ssl module does not load (no _ssl in this build)", fixed = TRUE)
  expect_match(keras3r:::probe_python(broken("ensurepip")),
               "it cannot make a virtualenv with pip", fixed = TRUE)
})

test_that("the candidates are tried in order, the given Python alone", {
  expect_identical(keras3r:::python_candidates("/opt/py/bin/python3"), "/opt/py/bin/python3")
  found <- keras3r:::python_candidates()
  expect_false(anyDuplicated(normalizePath(found)) > 0)
  if (file.exists("/usr/bin/python3")) expect_identical(found[[1]], "/usr/bin/python3")
})

test_that("a failed install removes what it built and says how to retry", {
  python <- usable_python()
  skip_if(!nzchar(python), "no Python here can make a virtualenv")
  root <- tempfile("venvs")
  env_dir <- file.path(root, "r-keras3r-test")
  # An index nobody answers: the check of pip's connection fails, as it does
  # without TLS.
  saved <- Sys.getenv(c("PIP_INDEX_URL", "PIP_RETRIES", "PIP_TIMEOUT", "PIP_FIND_LINKS",
                        "PIP_CONFIG_FILE", "R_USER_CACHE_DIR"), unset = NA)
  on.exit(for (name in names(saved)) {
    if (is.na(saved[[name]])) Sys.unsetenv(name) else do.call(Sys.setenv, as.list(saved[name]))
  }, add = TRUE)
  # No pip configuration file either: one may name other indexes.
  Sys.setenv(PIP_INDEX_URL = "https://127.0.0.1:9/simple", PIP_RETRIES = "0",
             PIP_TIMEOUT = "2", PIP_CONFIG_FILE = "/dev/null",
             R_USER_CACHE_DIR = tempfile("cache"))
  Sys.unsetenv("PIP_FIND_LINKS")
  messages <- character()
  err <- tryCatch(
    withCallingHandlers(
      install_keras3r(env_dir, python = python),
      message = function(m) {
        messages <<- c(messages, conditionMessage(m))
        invokeRestart("muffleMessage")
      }),
    error = identity)
  expect_s3_class(err, "keras3r_install_error")
  expect_match(conditionMessage(err), "its pip cannot reach the package index", fixed = TRUE)
  expect_match(conditionMessage(err), "To retry, run install_keras3r() again", fixed = TRUE)
  expect_match(conditionMessage(err), "python = \"/path/to/python3\"", fixed = TRUE)
  expect_true(file.exists(err$log))
  expect_match(paste(messages, collapse = ""), paste0("Skipped the Python ", python), fixed = TRUE)
  expect_false(dir.exists(env_dir))
})

test_that("uninstall_keras3r() removes a virtualenv and says what it freed", {
  env_dir <- file.path(tempfile("venvs"), "r-keras3r-test")
  dir.create(file.path(env_dir, "lib"), recursive = TRUE)
  writeLines("home = /usr/bin", file.path(env_dir, "pyvenv.cfg"))
  writeBin(raw(2e6), file.path(env_dir, "lib", "weights.bin"))
  expect_message(freed <- uninstall_keras3r(env_dir), "freeing 2 MB")
  expect_gte(freed, 2e6)
  expect_identical(keras3r:::format_size(1.6e9), "1.60 GB")
  expect_false(dir.exists(env_dir))
  expect_message(none <- uninstall_keras3r(env_dir), "nothing to remove")
  expect_identical(none, 0)

  not_env <- tempfile("not-a-venv")
  dir.create(not_env)
  expect_error(uninstall_keras3r(not_env), "is not a Python virtualenv")
  expect_true(dir.exists(not_env))
  expect_error(uninstall_keras3r(c("a", "b")), "`envname` must be one non-empty string")
})

test_that("a virtualenv is named under reticulate's root or given by path", {
  expect_identical(keras3r:::virtualenv_dir("r-keras3r"),
                   normalizePath(file.path(reticulate::virtualenv_root(), "r-keras3r"),
                                 mustWork = FALSE))
  expect_identical(keras3r:::virtualenv_dir("/opt/envs/k"), "/opt/envs/k")
})
