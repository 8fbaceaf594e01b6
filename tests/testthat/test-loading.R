# How keras3r finds and starts its Python module.

package_root <- function() getNamespaceInfo(asNamespace("keras3r"), "path")
installed <- function() file.exists(file.path(package_root(), "Meta", "package.rds"))

test_that("R runs the Python module shipped with this package", {
  skip_if_not(keras3r_available())
  dir <- keras3r:::python_module_dir()
  if (installed()) {
    expect_identical(dir, system.file("python", package = "keras3r"))
  } else {
    expect_identical(dir, normalizePath(file.path(package_root(), "py")))
  }
  file <- normalizePath(keras3r:::python_module()$`__file__`)
  expect_identical(file, normalizePath(file.path(dir, "keras3r", "__init__.py")))
})

test_that("the shipped Python module is py/keras3r, file by file", {
  # The source tree: the package itself when loaded from source, or the
  # checkout named by KERAS3R_SOURCE (make check sets it for R CMD check).
  source <- if (installed()) Sys.getenv("KERAS3R_SOURCE") else package_root()
  skip_if(!nzchar(source), "no source tree to compare with (KERAS3R_SOURCE is unset)")
  shipped <- if (installed()) {
    system.file("python", "keras3r", package = "keras3r")
  } else {
    file.path(source, "inst", "python", "keras3r")
  }
  py_files <- function(dir) {
    files <- list.files(dir, pattern = "\\.py$", recursive = TRUE)
    sort(files[!grepl("__pycache__", files, fixed = TRUE)])
  }
  original <- file.path(source, "py", "keras3r")
  expect_identical(py_files(shipped), py_files(original))
  common <- intersect(py_files(shipped), py_files(original))
  expect_gt(length(common), 10L)
  differ <- common[unname(tools::md5sum(file.path(shipped, common))) !=
                     unname(tools::md5sum(file.path(original, common)))]
  expect_identical(differ, character(), info = "run `make inst-python`")
})

test_that("a keras3r folder in the working directory does not shadow the module", {
  skip_if_not(keras3r_available())
  code <- c(
    "opt <- optimizer_adam_w(learning_rate = 0.01)",
    "cat('CLASS', class(opt)[1], '\\n')",
    "cat('FILE', keras3r:::python_module()$`__file__`, '\\n')"
  )
  # What `git clone` makes: an empty folder that Python would import as a
  # namespace package.
  empty <- tempfile("wd")
  dir.create(file.path(empty, "keras3r"), recursive = TRUE)
  # A folder with an __init__.py, which Python has even imported already.
  imported <- tempfile("wd")
  dir.create(file.path(imported, "keras3r"), recursive = TRUE)
  writeLines("WRONG = True", file.path(imported, "keras3r", "__init__.py"))
  cases <- list(list(wd = empty, before = character()),
                list(wd = imported, before = c(
                  "wrong <- reticulate::import('keras3r')",
                  "stopifnot(isTRUE(wrong$WRONG))")))
  dir <- normalizePath(keras3r:::python_module_dir())
  for (case in cases) {
    res <- run_fresh_r(c(case$before, code), wd = case$wd)
    info <- paste(c(res$stdout, res$stderr), collapse = "\n")
    expect_identical(res$status, 0L, info = info)
    expect_identical(tagged(res$stdout, "CLASS"), "keras.src.optimizers.adamw.AdamW", info = info)
    file <- tagged(res$stdout, "FILE")
    expect_true(startsWith(normalizePath(file, mustWork = FALSE), dir), info = info)
  }
})

test_that("a keras3r that Python imported already is kept only if it is the same code", {
  skip_if_not(keras3r_available())
  # As when R runs inside a Python process that uses keras3r (rpy2): a copy of
  # the shipped module, imported before the first call.
  copy <- tempfile("copy")
  dir.create(copy)
  file.copy(file.path(keras3r:::python_module_dir(), "keras3r"), copy, recursive = TRUE)
  code <- c(
    sprintf(paste0("reticulate::py_run_string(\"import sys; sys.path.insert(0, %s); ",
                   "import keras3r; sys.path.pop(0)\")"), encodeString(copy, quote = "'")),
    "opt <- optimizer_sgd()",
    "cat('FILE', keras3r:::python_module()$`__file__`, '\\n')"
  )
  same <- run_fresh_r(code)
  expect_identical(same$status, 0L, info = paste(same$stderr, collapse = "\n"))
  expect_identical(tagged(same$stdout, "FILE"), file.path(copy, "keras3r", "__init__.py"))

  cat("# changed\n", file = file.path(copy, "keras3r", "docs.py"), append = TRUE)
  other <- run_fresh_r(code)
  expect_identical(other$status, 0L, info = paste(other$stderr, collapse = "\n"))
  expect_identical(normalizePath(tagged(other$stdout, "FILE")),
                   normalizePath(file.path(keras3r:::python_module_dir(), "keras3r", "__init__.py")))
})

test_that("the first call starts TensorFlow quietly, unless the user set its log level", {
  skip_if_not(keras3r_available())
  code <- c(
    "cat('LEVEL', Sys.getenv('TF_CPP_MIN_LOG_LEVEL'), '\\n')",
    "opt <- optimizer_adam_w(learning_rate = 0.01)",
    "keras <- reticulate::import('keras')",
    "w <- keras$Variable(c(1, 2))",
    "opt$apply(list(keras$ops$ones(2L)), list(w))",
    "model <- keras$Sequential(list(keras$Input(shape = list(2L)), keras$layers$Dense(1L)))",
    "model$compile(optimizer = optimizer_sgd(), loss = 'mse', jit_compile = TRUE)",
    "invisible(model$fit(matrix(1, 4, 2), matrix(1, 4, 1), epochs = 1L, verbose = 0L))",
    "cat('DONE\\n')"
  )
  tf_log <- "^[IWEF][0-9]{4} |absl::InitializeLog|oneDNN|Compiled cluster|cpu_feature_guard"
  env_tf <- function(level) c(paste0("TF_CPP_MIN_LOG_LEVEL=", level), "KERAS_BACKEND=tensorflow")

  quiet <- run_fresh_r(code, env = env_tf(""))
  info <- paste(quiet$stderr, collapse = "\n")
  expect_identical(quiet$status, 0L, info = info)
  expect_true("DONE" %in% quiet$stdout, info = info)
  expect_identical(trimws(tagged(quiet$stdout, "LEVEL")), "3")
  expect_identical(grep(tf_log, quiet$stderr, value = TRUE), character())

  chatty <- run_fresh_r(code, env = env_tf("0"))
  info <- paste(chatty$stderr, collapse = "\n")
  expect_identical(chatty$status, 0L, info = info)
  expect_identical(trimws(tagged(chatty$stdout, "LEVEL")), "0")
  expect_true(any(grepl(tf_log, chatty$stderr)), info = info)
})

test_that("keras3r_available() does not start Python when none was chosen for keras3r", {
  skip_if(is.function(get0("py_require", asNamespace("reticulate"))),
          "this reticulate manages Python itself (py_require())")
  home <- tempfile("home")
  dir.create(home)
  res <- run_fresh_r(c(
    "ok <- keras3r_available()",
    "cat('OK', ok, '\\n')",
    "cat('STARTED', reticulate::py_available(initialize = FALSE), '\\n')",
    "cat('REASON', gsub('\\n', ' ', attr(ok, 'reason')), '\\n')"
  ), env = c("RETICULATE_PYTHON=", paste0("HOME=", home), paste0("WORKON_HOME=", home)))
  info <- paste(c(res$stdout, res$stderr), collapse = "\n")
  expect_identical(res$status, 0L, info = info)
  expect_identical(trimws(tagged(res$stdout, "OK")), "FALSE")
  expect_identical(trimws(tagged(res$stdout, "STARTED")), "FALSE")
  expect_match(tagged(res$stdout, "REASON"), "no virtualenv \"r-keras3r\"", fixed = TRUE)
  expect_match(tagged(res$stdout, "REASON"), "install_keras3r()", fixed = TRUE)
})

test_that("without Keras, the first call says what is missing, where, and what to do", {
  skip_on_cran()
  python <- usable_python()
  skip_if(!nzchar(python), "no Python here can make a virtualenv")
  env <- file.path(tempfile("venv"), "no-keras")
  system2(python, c("-m", "venv", "--without-pip", shQuote(env)))
  res <- run_fresh_r(c(
    "msg <- tryCatch({optimizer_adam_w(); 'no error'},",
    "  keras3r_python_unavailable = function(e) conditionMessage(e))",
    "cat(msg)",
    "ok <- keras3r_available()",
    "cat('\\nAVAILABLE', ok, '\\n')"
  ), env = paste0("RETICULATE_PYTHON=", file.path(env, "bin", "python")))
  out <- paste(res$stdout, collapse = "\n")
  expect_match(out, "keras3r cannot use Python: Keras and NumPy are not installed in", fixed = TRUE)
  expect_match(out, file.path(env, "bin", "python"), fixed = TRUE)
  expect_match(out, "(RETICULATE_PYTHON)", fixed = TRUE)
  expect_match(out, "install_keras3r()", fixed = TRUE)
  expect_identical(trimws(tagged(res$stdout, "AVAILABLE")), "FALSE")
})

test_that("each problem with Python has its own explanation and remedy", {
  ok_dir <- keras3r:::python_module_dir()
  problem <- function(...) keras3r:::python_problem(list(module_dir = ok_dir, ...))

  no_module <- keras3r:::python_problem(list(module_dir = tempfile()))
  expect_match(no_module$what, "has no Python module")
  expect_match(no_module$fix, "install_github", fixed = TRUE)

  nothing <- problem(origin = "none")
  expect_match(nothing$what, "no virtualenv \"r-keras3r\" and RETICULATE_PYTHON is unset",
               fixed = TRUE)
  expect_match(nothing$fix, "install_keras3r()", fixed = TRUE)

  env_python <- "/home/u/.virtualenvs/r-keras3r/bin/python"
  no_keras <- problem(origin = "virtualenv", python = env_python, numpy = "1.26.4",
                      keras = FALSE)
  expect_identical(no_keras$what, paste0("Keras is not installed in ", env_python,
                                         " (the virtualenv \"r-keras3r\")"))
  expect_match(no_keras$fix, "rebuild the virtualenv", fixed = TRUE)

  numpy2 <- problem(origin = "RETICULATE_PYTHON", python = "/opt/py/bin/python",
                    numpy = "2.1.0", keras = TRUE)
  if (utils::packageVersion("reticulate") < "1.41") {
    expect_match(numpy2$what, "has NumPy 2.1.0, but reticulate .* needs NumPy < 2")
    expect_match(numpy2$fix, "install NumPy 1 into that Python")
  }
  expect_false(keras3r:::numpy_too_new("2.1.0", package_version("1.41.0")))
  expect_true(keras3r:::numpy_too_new("2.0.0", package_version("1.28")))
  expect_false(keras3r:::numpy_too_new("1.26.4", package_version("1.28")))

  broken <- problem(origin = "RETICULATE_PYTHON", python = "/opt/py/bin/python",
                    numpy = "1.26.4", keras = TRUE,
                    error = "ModuleNotFoundError: No module named 'tensorflow'")
  expect_match(broken$what, "No module named 'tensorflow'", fixed = TRUE)
  expect_match(broken$fix, "unset RETICULATE_PYTHON", fixed = TRUE)

  cond <- keras3r:::python_unavailable(no_keras)
  expect_s3_class(cond, c("keras3r_python_unavailable", "error"))
  expect_match(conditionMessage(cond), "^keras3r cannot use Python: Keras is not installed")
  expect_match(conditionMessage(cond), "\nTo fix it: run install_keras3r()", fixed = TRUE)
})

test_that("with reticulate's py_require(), keras3r declares what it needs", {
  seen <- NULL
  record <- function(packages) seen <<- packages
  tensorflow <- if (keras3r:::platform_os() == "linux") "tensorflow-cpu" else "tensorflow"
  keras3r:::declare_python_requirements(py_require = record, backend = "tensorflow")
  expect_identical(seen, c("keras>=3.5", tensorflow))
  keras3r:::declare_python_requirements(py_require = record, backend = "jax")
  expect_identical(seen, c("keras>=3.5", "jax"))
  keras3r:::declare_python_requirements(py_require = record, backend = "theano")
  expect_identical(seen, c("keras>=3.5", tensorflow))
  seen <- NULL
  expect_null(keras3r:::declare_python_requirements(py_require = NULL))
  expect_null(seen)
})

test_that("a virtualenv's recorded backend becomes KERAS_BACKEND unless the user set one", {
  env <- tempfile("env")
  dir.create(env)
  writeLines("jax", file.path(env, "keras3r-backend"))
  old <- Sys.getenv("KERAS_BACKEND", unset = NA)
  on.exit(if (is.na(old)) Sys.unsetenv("KERAS_BACKEND") else Sys.setenv(KERAS_BACKEND = old),
          add = TRUE)
  Sys.unsetenv("KERAS_BACKEND")
  keras3r:::use_environment_backend(env)
  expect_identical(Sys.getenv("KERAS_BACKEND"), "jax")
  Sys.setenv(KERAS_BACKEND = "torch")
  keras3r:::use_environment_backend(env)
  expect_identical(Sys.getenv("KERAS_BACKEND"), "torch")
})

test_that("with NumPy 2 and a reticulate before 1.41, the first call says so", {
  skip_on_cran()
  skip_if_not(utils::packageVersion("reticulate") < "1.41")
  skip_if_not(keras3r_available())
  python <- usable_python()
  skip_if(!nzchar(python), "no Python here can make a virtualenv")
  # A virtualenv whose NumPy says 2.0.0, with Keras reachable through a .pth
  # file pointing at the site-packages of the Python these tests use.
  env <- file.path(tempfile("venv"), "numpy2")
  system2(python, c("-m", "venv", "--without-pip", shQuote(env)))
  site <- Sys.glob(file.path(env, "lib", "python3*", "site-packages"))[[1]]
  dir.create(file.path(site, "numpy"))
  writeLines('__version__ = "2.0.0"', file.path(site, "numpy", "__init__.py"))
  dir.create(file.path(site, "numpy-2.0.0.dist-info"))
  writeLines(c("Metadata-Version: 2.1", "Name: numpy", "Version: 2.0.0"),
             file.path(site, "numpy-2.0.0.dist-info", "METADATA"))
  ours <- reticulate::import("site")$getsitepackages()
  writeLines(unlist(ours), file.path(site, "zz-keras.pth"))
  res <- run_fresh_r(c(
    "msg <- tryCatch({optimizer_adam_w(); 'no error'},",
    "  keras3r_python_unavailable = function(e) conditionMessage(e))",
    "cat(msg)"
  ), env = paste0("RETICULATE_PYTHON=", file.path(env, "bin", "python")))
  out <- paste(res$stdout, collapse = "\n")
  expect_match(out, "has NumPy 2.0.0, but reticulate [0-9.]+ needs NumPy < 2")
  expect_match(out, "install NumPy 1 into that Python", fixed = TRUE)
})
