test_that("install_keras3r() asks pip for keras3r, Keras, a backend and NumPy 1", {
  req <- keras3r:::keras3r_requirements("/src/keras3r", "tensorflow")
  expect_identical(req[1], "/src/keras3r")
  expect_true("numpy<2" %in% req)
  expect_true(any(grepl("^keras>=3", req)))
  expect_true(any(grepl("^tensorflow", req)))
  expect_true(any(grepl("^jax", keras3r:::keras3r_requirements(backend = "jax"))))
  expect_error(keras3r:::keras3r_requirements(backend = "theano"), "unknown backend")
})

test_that("without the Python module, the first call says how to fix it", {
  skip_on_cran()
  env <- file.path(tempdir(), "no-keras3r-venv")
  python3 <- Sys.which("python3")
  skip_if(!nzchar(python3), "no python3 on PATH")
  system2(python3, c("-m", "venv", "--without-pip", env))
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "library(keras3r)",
    "msg <- tryCatch({optimizer_adam_w(); 'no error'}, error = conditionMessage)",
    "cat(msg)"
  ), script)
  out <- system2(
    file.path(R.home("bin"), "Rscript"), script, stdout = TRUE, stderr = TRUE,
    env = c(paste0("RETICULATE_PYTHON=", file.path(env, "bin", "python")),
            paste0("R_LIBS=", paste(.libPaths(), collapse = ":")))
  )
  out <- paste(out, collapse = "\n")
  expect_match(out, "could not import its Python module")
  expect_match(out, "install_keras3r()", fixed = TRUE)
  expect_match(out, "RETICULATE_PYTHON", fixed = TRUE)
})
