# Shared by the tests: the contract file and small helpers.

contract_path <- function() test_path("..", "spec", "family-signatures.md")

# The contract's table rows: function name -> its formals as written there.
contract_signatures <- function() {
  lines <- readLines(contract_path())
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
