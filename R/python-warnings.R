# Python's warnings.warn() only prints when R is the caller: R code cannot catch
# it, silence it or test for it. keras3r.for_r.build() records the warnings
# that keras3r itself raises while it builds an object (such as: a function
# given to optimizer_multi() cannot be saved) and hands them back, as
# (category, message) pairs; they are signalled here as R warnings of class
# "keras3r_warning". Python shows any other warning itself, unchanged.
signal_keras3r_warnings <- function(records, fun = NULL) {
  for (record in records) {
    record <- unlist(record)
    message <- record[[2L]]
    if (!is.null(fun)) message <- sprintf("%s(): %s", fun, message)
    warning(structure(
      class = c("keras3r_warning", "warning", "condition"),
      list(message = message, call = NULL, category = record[[1L]])
    ))
  }
  invisible()
}
