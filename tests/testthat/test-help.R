# The help an R user reaches first: ?keras3r, demo(package = ), vignette().
# These tests run on the source tree (testthat::test_local) and on the
# installed package (R CMD check); each reads what is there.

# package_path(), from_source(), rd_page() and rd_field(): helper-keras3r.R.

test_that("?keras3r is a package page on installing, where to start and the families", {
  rd <- rd_page("keras3r-package.Rd")
  expect_true("keras3r" %in% rd_field(rd, "\\alias"))
  sections <- vapply(
    Filter(function(x) identical(attr(x, "Rd_tag"), "\\section"), rd),
    function(x) paste(unlist(x[[1]]), collapse = ""), ""
  )
  expect_equal(sections, c("Installing the Python side", "Where to start", "The functions"))
  text <- paste(unlist(rd), collapse = "")
  for (name in c("install_keras3r", "keras3r_available", "optimizer_adam_w",
                 "learning_rate_schedule_cosine_decay", "vignette(\"keras3r\")",
                 "demo(\"train\", package = \"keras3r\")")) {
    expect_true(grepl(name, text, fixed = TRUE), info = name)
  }
})

test_that("demo(package = \"keras3r\") lists the training demo with its title", {
  if (from_source()) {
    lines <- grep("\\S", readLines(file.path(package_path(), "demo", "00Index")), value = TRUE)
    index <- cbind(Item = sub("\\s.*", "", lines), Title = sub("^\\S+\\s+", "", lines))
  } else {
    index <- utils::demo(package = "keras3r", lib.loc = dirname(package_path()))$results
  }
  expect_equal(unname(index[, "Item"]), "train")
  expect_match(unname(index[, "Title"]), "optimizer_adam_w")
  expect_true(file.exists(file.path(package_path(), "demo", "train.R")))
})

test_that("the demo says what to do where Python is not set up", {
  # Debian's own Python, which has no Keras: the demo stops before it touches Keras.
  python <- "/usr/bin/python3"
  skip_if_not(file.exists(python))
  out <- suppressWarnings(system2(
    file.path(R.home("bin"), "Rscript"),
    c("-e", shQuote(sprintf("source(%s)", deparse(file.path(package_path(), "demo", "train.R"))))),
    env = c(paste0("RETICULATE_PYTHON=", python), "TF_CPP_MIN_LOG_LEVEL=3"),
    stdout = TRUE, stderr = TRUE
  ))
  expect_equal(attr(out, "status"), 1L)
  expect_match(paste(out, collapse = "\n"), "run install_keras3r\\(\\) once")
})

test_that("the vignette is \"Using keras3r from R\"", {
  if (from_source()) {
    header <- readLines(file.path(package_path(), "vignettes", "keras3r.Rmd"), n = 10L)
    title <- sub(".*VignetteIndexEntry\\{(.*)\\}.*", "\\1",
                 grep("VignetteIndexEntry", header, value = TRUE))
  } else {
    found <- utils::vignette(package = "keras3r", lib.loc = dirname(package_path()))$results
    # R CMD INSTALL of a source folder installs no built vignettes; a tarball does.
    skip_if(nrow(found) == 0L, "installed without built vignettes")
    title <- sub(" \\(source, html\\)$", "", found[, "Title"])
  }
  expect_equal(unname(title), "Using keras3r from R")
})
