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
