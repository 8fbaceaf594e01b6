# R's conversions on Keras variables and tensors, and that they never take a
# class away from a package (keras3, tensorflow) that registered one first.

test_that("Keras variables and tensors convert as R values do", {
  skip_if_not(keras3r_available())
  keras <- reticulate::import("keras")
  opt <- optimizer_adam_w(learning_rate = 0.25)
  expect_identical(as.numeric(opt$learning_rate), 0.25)
  expect_identical(as.double(opt$learning_rate), 0.25)
  expect_identical(as.array(opt$learning_rate), array(0.25))
  expect_identical(as.integer(opt$iterations), 0L)
  expect_identical(as.logical(opt$iterations), FALSE)
  expect_identical(format(opt$learning_rate), "0.25")

  model <- keras$Sequential(list(keras$Input(shape = list(3L)), keras$layers$Dense(2L)))
  kernel <- model$weights[[1]]
  value <- as.array(kernel)
  expect_identical(dim(value), c(3L, 2L))
  expect_equal(value, kernel$numpy())
  expect_identical(as.numeric(kernel), as.numeric(kernel$numpy()))
  expect_identical(format(kernel), format(kernel$numpy()))

  tensor <- keras$ops$convert_to_tensor(matrix(c(1.7, -2.2, 0, 3), 2L))
  expect_identical(as.integer(tensor), c(1L, -2L, 0L, 3L))
  expect_identical(as.logical(tensor), c(TRUE, TRUE, FALSE, TRUE))
  expect_equal(as.array(tensor), matrix(c(1.7, -2.2, 0, 3), 2L), tolerance = 1e-6)

  symbolic <- keras$Input(shape = list(3L))
  expect_error(as.array(symbolic), class = "keras3r_symbolic_tensor")
})

test_that("a class that another package claimed keeps that package's method", {
  skip_if_not(keras3r_available())
  keras3_like <- c(
    "registerS3method('as.array', 'keras.src.backend.common.variables.Variable',",
    "  function(x, ...) 'theirs', envir = baseenv())"
  )
  probe <- c(
    "opt <- optimizer_adam_w(learning_rate = 0.5)",
    "cat('ARRAY', format(as.array(opt$learning_rate)), '\\n')",
    "cat('NUMERIC', as.numeric(opt$learning_rate), '\\n')"
  )
  # run_fresh_r() loads keras3r first; `before` runs ahead of that.
  fresh <- function(before, after) {
    script <- tempfile(fileext = ".R")
    root <- getNamespaceInfo(asNamespace("keras3r"), "path")
    load <- if (file.exists(file.path(root, "Meta", "package.rds"))) {
      "library(keras3r)"
    } else {
      sprintf("suppressMessages(pkgload::load_all(%s, quiet = TRUE))", deparse(root))
    }
    writeLines(c(before, load, after, probe), script)
    out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), shQuote(script),
                                    stdout = TRUE, stderr = TRUE,
                                    env = paste0("R_LIBS=", paste(.libPaths(), collapse = ":"))))
    list(array = tagged(out, "ARRAY"), numeric = tagged(out, "NUMERIC"),
         info = paste(out, collapse = "\n"))
  }
  alone <- fresh(character(), character())
  expect_identical(alone$array, "0.5", info = alone$info)
  first <- fresh(keras3_like, character())
  expect_identical(first$array, "theirs", info = first$info)
  expect_identical(first$numeric, "0.5", info = first$info)
  later <- fresh(character(), keras3_like)
  expect_identical(later$array, "theirs", info = later$info)
})

test_that("registration skips what is claimed and reports what it registered", {
  claimed <- "keras3r.test.Claimed"
  free <- "keras3r.test.Free"
  registerS3method("as.array", claimed, function(x, ...) "theirs", envir = baseenv())
  done <- keras3r:::register_tensor_conversions(classes = c(claimed, free))
  expect_false(paste0("as.array.", claimed) %in% done)
  expect_true(all(paste0(c("as.array.", "as.double.", "as.integer.", "as.logical.", "format."),
                         free) %in% done))
  expect_true(paste0("format.", claimed) %in% done)
  expect_identical(as.array(structure(list(), class = claimed)), "theirs")
})

for (backend in c("jax", "torch")) {
  test_that(paste(backend, "variables and tensors convert too"), {
    skip_if_not(keras3r_available())
    skip_without_backend(backend)
    code <- c(
      "keras <- reticulate::import('keras')",
      "opt <- optimizer_sgd(learning_rate = 0.125)",
      "x <- keras$ops$convert_to_tensor(matrix(c(1.5, -2, 0, 4), 2L))",
      "cat('CLASS', class(x)[1], '\\n')",
      "cat('RATE', as.numeric(opt$learning_rate), '\\n')",
      "cat('INT', as.integer(x), '\\n')",
      "cat('DIM', dim(as.array(x)), '\\n')"
    )
    res <- run_fresh_r(code, env = paste0("KERAS_BACKEND=", backend))
    info <- paste(c(res$stdout, res$stderr), collapse = "\n")
    expect_match(tagged(res$stdout, "CLASS"), backend, info = info)
    expect_identical(tagged(res$stdout, "RATE"), "0.125", info = info)
    expect_identical(tagged(res$stdout, "INT"), "1 -2 0 4", info = info)
    expect_identical(tagged(res$stdout, "DIM"), "2 2", info = info)
  })
}
