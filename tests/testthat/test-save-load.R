skip_if_not(keras3r_available())

# A Python that is only Python and Keras: it never imports keras3r, and says so.
plain_loader <- c(
  "import json, sys",
  "import keras",
  "model = keras.models.load_model(sys.argv[1])",
  "opt = model.optimizer",
  "assert 'keras3r' not in sys.modules, 'keras3r was imported'",
  "print('keras3r_imported=' + str('keras3r' in sys.modules))",
  "print('is_adamw=' + str(isinstance(opt, keras.optimizers.AdamW)))",
  "print('class=' + type(opt).__name__)",
  "print('name=' + opt.name)",
  "print('iterations=' + str(int(opt.iterations.numpy())))",
  "print('config=' + json.dumps(opt.get_config(), sort_keys=True))"
)

# "key=value" lines into a named character vector.
parse_report <- function(lines) {
  lines <- grep("^[a-z0-9_]+=", lines, value = TRUE)
  keys <- sub("=.*$", "", lines)
  stats::setNames(substring(lines, nchar(keys) + 2L), keys)
}

test_that("a model compiled and fitted in R with optimizer_adam_w() loads in plain Keras", {
  keras <- reticulate::import("keras")
  json <- reticulate::import("json")
  keras$utils$set_random_seed(1L)
  set.seed(1)
  # R matrices straight into fit(): reticulate hands them over as NumPy arrays,
  # which needs NumPy < 2 with Debian's reticulate.
  x <- matrix(rnorm(60), ncol = 3)
  y <- x %*% c(1, -2, 0.5)
  expect_true(is.matrix(x) && is.matrix(y))

  model <- keras$Sequential(list(
    keras$Input(shape = list(3L)),
    keras$layers$Dense(4L, activation = "tanh"),
    keras$layers$Dense(1L)
  ))
  opt <- optimizer_adam_w(learning_rate = 0.01)
  model$compile(optimizer = opt, loss = "mse")
  before <- model$get_weights()[[1]]
  history <- model$fit(x, y, epochs = 2L, batch_size = 5L, shuffle = FALSE, verbose = 0L)
  loss <- unlist(history$history$loss)
  expect_length(loss, 2L)
  expect_true(all(is.finite(loss)))
  after <- model$get_weights()[[1]]
  expect_gt(max(abs(after - before)), 0)
  # 60 / 3 = 20 rows, batches of 5, 2 epochs: 8 steps.
  expect_equal(as.integer(opt$iterations$numpy()), 8L)

  path <- tempfile(fileext = ".keras")
  script <- tempfile(fileext = ".py")
  on.exit(unlink(c(path, script)), add = TRUE)
  model$save(path)
  expect_true(file.exists(path))
  writeLines(plain_loader, script)

  out <- suppressWarnings(system2(
    reticulate::py_exe(), c(shQuote(script), shQuote(path)),
    stdout = TRUE, stderr = TRUE,
    env = c("KERAS_BACKEND=tensorflow", "TF_CPP_MIN_LOG_LEVEL=3", "PYTHONPATH=")
  ))
  status <- attr(out, "status")
  expect_true(is.null(status) || identical(status, 0L), info = paste(out, collapse = "\n"))

  report <- parse_report(out)
  expect_identical(unname(report["keras3r_imported"]), "False")
  expect_identical(unname(report["is_adamw"]), "True")
  expect_identical(unname(report["class"]), "AdamW")
  expect_identical(unname(report["name"]), "adamw")
  expect_identical(unname(report["iterations"]), "8")
  expected_config <- json$dumps(opt$get_config(), sort_keys = TRUE)
  expect_identical(unname(report["config"]), expected_config)
  config <- opt$get_config()
  expect_equal(config$learning_rate, 0.01, tolerance = 1e-6)
  expect_equal(config$weight_decay, 0.004)
})
