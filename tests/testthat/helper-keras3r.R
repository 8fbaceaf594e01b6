# Shared by the tests: the contract file and small helpers.

# keras3 R 1.1.0's family, and the optimizers added since.
contract_paths <- function() {
  test_path("..", "spec", c("family-signatures.md", "newest-signatures.md"))
}

# The contract's table rows: function name -> its formals as written there.
contract_signatures <- function() {
  lines <- unlist(lapply(contract_paths(), readLines))
  rows <- regmatches(lines, regexec("^\\| (\\w+) \\| \\w+ \\| `\\((.*)\\)` \\|$", lines))
  rows <- Filter(function(m) length(m) == 3L, rows)
  stats::setNames(vapply(rows, `[[`, "", 3L), vapply(rows, `[[`, "", 2L))
}

# formals() written back the way a usage block shows them.
usage_of <- function(fun) {
  f <- formals(fun)
  parts <- vapply(names(f), function(n) {
    value <- paste(deparse(f[[n]]), collapse = "")
    if (nzchar(value)) paste(n, "=", value) else n  # "" : no default
  }, "")
  paste(parts, collapse = ", ")
}

# An R constructor of classes with no Python twin: `name` has the usage
# `usage`, `alias` is the same function, and neither is a spec entry (the
# Python package has no such function).
expect_r_only_constructor <- function(name, alias, usage) {
  fun <- getExportedValue("keras3r", name)
  expect_identical(usage_of(fun), usage)
  expect_identical(getExportedValue("keras3r", alias), fun)
  specs <- reticulate::import("keras3r.spec")
  expect_false(any(c(name, alias) %in% names(specs$SPECS)))
}

# The package's help pages: from man/ on the source tree (testthat::test_local),
# from the installed package's Rd database under R CMD check.
package_path <- function() getNamespaceInfo("keras3r", "path")
from_source <- function() dir.exists(file.path(package_path(), "man"))

rd_pages <- function() {
  if (from_source()) {
    files <- list.files(file.path(package_path(), "man"), pattern = "[.]Rd$")
    stats::setNames(lapply(files, rd_page), files)
  } else {
    tools::Rd_db("keras3r", lib.loc = dirname(package_path()))
  }
}

rd_page <- function(file) {
  if (from_source()) {
    tools::parse_Rd(file.path(package_path(), "man", file))
  } else {
    tools::Rd_db("keras3r", lib.loc = dirname(package_path()))[[file]]
  }
}

rd_field <- function(rd, tag) {
  fields <- Filter(function(x) identical(attr(x, "Rd_tag"), tag), rd)
  vapply(fields, function(x) paste(unlist(x), collapse = ""), "")
}

# Tests of one Keras backend need that backend's Python package. Where the
# Python was built with every backend (make test-r sets
# KERAS3R_TEST_EVERY_BACKEND=true), a missing one is a failure; elsewhere (the
# R 4.5 environment has no torch wheel for its Python 3.13) the test is skipped
# with the reason.
skip_without_backend <- function(backend) {
  module <- c(tensorflow = "tensorflow", jax = "jax", torch = "torch")[[backend]]
  if (reticulate::py_module_available(module)) return(invisible(TRUE))
  if (identical(Sys.getenv("KERAS3R_TEST_EVERY_BACKEND"), "true")) {
    testthat::fail(sprintf("%s is not installed in %s", module, reticulate::py_exe()))
  }
  testthat::skip(sprintf("%s is not installed in this Python", module))
}
