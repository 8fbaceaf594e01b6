# Whatever keeps Python from starting, every entry point signals
# keras3r_python_unavailable, which says what is wrong and what to do for the
# reticulate in use.

entry_points <- c(
  "optimizer_adam_w()",
  "learning_rate_schedule_exponential_decay(0.1, 10, 0.9)",
  "LearningRateSchedule('Halving', call = function(self, step) 0.5)",
  "optimizer_multi(optimizer_map(optimizer_sgd()))"
)

# Runs every entry point in a fresh R with `env`; one line per entry point:
# CLASS <first class> MESSAGE <message on one line>.
entry_point_conditions <- function(env) {
  code <- c(
    sprintf("calls <- %s", paste(deparse(entry_points), collapse = "")),
    "for (call in c(calls, 'if (!keras3r_available()) stop(structure(class = c(\"keras3r_python_unavailable\", \"error\", \"condition\"), list(message = attr(keras3r_available(), \"reason\"), call = NULL)))')) {",
    "  e <- tryCatch({ eval(parse(text = call)); NULL }, error = identity)",
    "  cat('CLASS', if (is.null(e)) 'none' else class(e)[1], '\\n')",
    "  cat('MESSAGE', if (is.null(e)) '' else gsub('\\n', ' ', conditionMessage(e)), '\\n')",
    "}"
  )
  res <- run_fresh_r(code, env = env)
  list(res = res, classes = sub("^CLASS ", "", trimws(grep("^CLASS ", res$stdout, value = TRUE))),
       messages = sub("^MESSAGE ", "", grep("^MESSAGE ", res$stdout, value = TRUE)))
}

expect_guidance <- function(found, what, fix) {
  info <- paste(c(found$res$stdout, found$res$stderr), collapse = "\n")
  expect_identical(found$res$status, 0L, info = info)
  expect_identical(found$classes, rep("keras3r_python_unavailable", length(entry_points) + 1L),
                   info = info)
  for (message in found$messages) {
    expect_match(message, "^keras3r cannot use Python: ", info = info)
    expect_match(message, what, fixed = TRUE, info = info)
    expect_match(message, paste0("To fix it: ", fix), fixed = TRUE, info = info)
    expect_false(grepl("..", message, fixed = TRUE), info = message)
    # Only a reticulate before 1.41 needs NumPy 1.
    if (!keras3r:::reticulate_needs_numpy_1()) {
      expect_false(grepl("numpy<2", message, fixed = TRUE), info = message)
    }
  }
}

test_that("a RETICULATE_PYTHON that does not exist is named, from every entry point", {
  skip_on_cran()
  missing <- file.path(tempfile("nowhere"), "python3")
  found <- entry_point_conditions(paste0("RETICULATE_PYTHON=", missing))
  expect_guidance(found, paste0("RETICULATE_PYTHON names ", missing, ", which does not exist"),
                  "set RETICULATE_PYTHON to a Python that has Keras")
})

test_that("a Python without its shared library: what to install", {
  skip_on_cran()
  python <- usable_python()
  skip_if(!nzchar(python), "no Python here")
  version <- keras3r:::python_version_of(python)
  expect_match(version, "^3\\.[0-9]+$")
  # What reticulate reports when it finds the interpreter but no libpython.
  problem <- keras3r:::python_problem(list(
    module_dir = keras3r:::python_module_dir(), origin = "RETICULATE_PYTHON",
    requested = python, error = "Python shared library not found, Python bindings not loaded."))
  expect_match(problem$what, paste0(python, " (RETICULATE_PYTHON) but not its shared library (libpython",
                                    version, ".so)"), fixed = TRUE)
  expect_match(problem$fix, paste0("apt install libpython", version), fixed = TRUE)
  # End to end: the same interpreter reporting a shared library that is not
  # there, as a Debian venv's python does when libpython3.X is not installed.
  # reticulate before 1.41 looks for the library where Python's sysconfig says;
  # later ones search the system's library folders too, where it is found.
  if (!keras3r:::reticulate_needs_numpy_1()) return(invisible())
  dir <- tempfile("noshared")
  dir.create(dir)
  writeLines(c(
    "import sysconfig",
    "_real = sysconfig.get_config_var",
    "_fake = {'LDLIBRARY': 'libpython0.0.so', 'INSTSONAME': 'libpython0.0.so.1.0',",
    "         'LIBRARY': 'libpython0.0.a', 'LIBPL': '/nonexistent', 'LIBDIR': '/nonexistent'}",
    "sysconfig.get_config_var = lambda name: _fake[name] if name in _fake else _real(name)"
  ), file.path(dir, "sitecustomize.py"))
  wrapper <- file.path(dir, "python3")
  writeLines(c("#!/bin/sh", sprintf("PYTHONPATH=%s exec %s \"$@\"", shQuote(dir),
                                    shQuote(python))), wrapper)
  Sys.chmod(wrapper, "0755")
  found <- entry_point_conditions(paste0("RETICULATE_PYTHON=", wrapper))
  expect_guidance(found,
                  paste0("but not its shared library (libpython", version, ".so)"),
                  paste0("install it (on Debian or Ubuntu: apt install libpython", version, ")"))
})

test_that("a Python without Keras: from every entry point, with what to install", {
  skip_on_cran()
  python <- usable_python()
  skip_if(!nzchar(python), "no Python here can make a virtualenv")
  env <- file.path(tempfile("venv"), "no-keras")
  system2(python, c("-m", "venv", "--without-pip", shQuote(env)))
  found <- entry_point_conditions(paste0("RETICULATE_PYTHON=", file.path(env, "bin", "python")))
  expect_guidance(found, "Keras and NumPy are not installed in",
                  "install what is missing into that Python")
  expect_match(found$messages[[1]], "\"keras>=3.5\"", fixed = TRUE)
  expect_identical(grepl("\"numpy<2\"", found$messages[[1]], fixed = TRUE),
                   keras3r:::reticulate_needs_numpy_1())
})

test_that("messages end in one full stop", {
  expect_identical(keras3r:::sentence("it failed."), "it failed.")
  expect_identical(keras3r:::sentence("it failed.. "), "it failed.")
  expect_identical(keras3r:::sentence("restart R"), "restart R.")
  condition <- keras3r:::python_unavailable(list(what = "Python bindings not loaded.",
                                                 fix = "run install_keras3r()"))
  expect_s3_class(condition, "keras3r_python_unavailable")
  expect_false(grepl("..", conditionMessage(condition), fixed = TRUE))
})

test_that("the advice for a fresh environment follows the reticulate in use", {
  expect_match(keras3r:::new_environment_advice(managed = TRUE), "py_require|reticulate provide")
  expect_identical(keras3r:::new_environment_advice(managed = FALSE),
                   "run install_keras3r() (about 1.6 GB with TensorFlow)")
  expect_true(keras3r:::reticulate_needs_numpy_1(package_version("1.28")))
  expect_false(keras3r:::reticulate_needs_numpy_1(package_version("1.41.0.1")))
  expect_false(keras3r:::numpy_too_new("2.1.0", reticulate_version = package_version("1.46")))
  expect_true(keras3r:::numpy_too_new("2.1.0", reticulate_version = package_version("1.28")))
})

test_that("reticulate before 1.43 with uv 0.8 or later: the cause is named", {
  expect_true(keras3r:::uv_deletes_reticulate_environment("0.9.5", "1.41.0.1"))
  expect_true(keras3r:::uv_deletes_reticulate_environment("0.8", "1.42.0"))
  expect_false(keras3r:::uv_deletes_reticulate_environment("0.7.22", "1.41.0.1"))
  expect_false(keras3r:::uv_deletes_reticulate_environment("0.9.5", "1.43.0"))
  expect_false(keras3r:::uv_deletes_reticulate_environment(NA_character_, "1.41.0.1"))
  facts <- list(module_dir = keras3r:::python_module_dir(), origin = "py_require",
                uv = "0.9.5", reticulate = "1.41.0.1",
                error = "Installation of Python not found, Python bindings not loaded.")
  problem <- keras3r:::python_problem(facts)
  expect_match(problem$what, "reticulate 1.41.0.1 could not start Python from py_require()", fixed = TRUE)
  expect_match(problem$what, "uv 0.9.5", fixed = TRUE)
  expect_match(problem$fix, "reticulate 1.43 or later", fixed = TRUE)
  expect_match(problem$fix, "'uv<0.8'", fixed = TRUE)
  # The same failure with a uv that keeps its environments is not blamed on uv.
  facts$uv <- "0.7.22"
  expect_match(keras3r:::python_problem(facts)$what, "reticulate could not start Python", fixed = TRUE)
})

test_that("uv's version is read from the uv that reticulate would run", {
  skip_on_os("windows")
  dir <- tempfile("uv")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  uv <- file.path(dir, "uv")
  writeLines(c("#!/bin/sh", "echo 'uv 0.9.5 (x86_64-unknown-linux-gnu)'"), uv)
  Sys.chmod(uv, "755")
  expect_identical(keras3r:::uv_version(uv), "0.9.5")
  withr_env <- Sys.getenv("RETICULATE_UV", unset = NA)
  Sys.setenv(RETICULATE_UV = uv)
  on.exit(if (is.na(withr_env)) Sys.unsetenv("RETICULATE_UV") else Sys.setenv(RETICULATE_UV = withr_env),
          add = TRUE)
  expect_identical(keras3r:::uv_binary_path(), uv)
  writeLines(c("#!/bin/sh", "echo 'not uv'"), uv)
  expect_identical(keras3r:::uv_version(uv), NA_character_)
  expect_identical(keras3r:::uv_version(NA_character_), NA_character_)
})
