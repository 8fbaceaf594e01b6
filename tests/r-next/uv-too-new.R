# reticulate 1.41 with the newest uv (what reticulate itself would download
# today): uv deletes the environment it made, and keras3r says so.
library(keras3r)
reticulate::py_require(python_version = unname(Sys.which("python3.13")))
system2("uv", "--version")
e <- tryCatch(optimizer_adam_w(), error = identity)
class(e)
cat(conditionMessage(e), "\n")
stopifnot(inherits(e, "keras3r_python_unavailable"),
          grepl("uv 0.8 and later delete that environment", conditionMessage(e), fixed = TRUE))
