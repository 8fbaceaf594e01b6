# reticulate's environments from py_require() are made by uv. reticulate
# before 1.43 asks for one with `uv run --no-project`, and from uv 0.8 on that
# environment is deleted when uv exits, so reticulate is handed a path that is
# already gone and reports only "Installation of Python not found". keras3r
# names the cause when it sees that pairing.

# The uv that reticulate would run, in reticulate's own order of search, or NA.
uv_binary_path <- function() {
  candidates <- c(
    Sys.getenv("RETICULATE_UV"),
    as.character(getOption("reticulate.uv_binary", "")),
    unname(Sys.which("uv")),
    path.expand("~/.local/bin/uv"),
    file.path(tools::R_user_dir("reticulate", "cache"), "uv", "bin", "uv")
  )
  found <- candidates[nzchar(candidates) & file.exists(candidates)]
  if (length(found)) found[[1]] else NA_character_
}

# "0.9.5" from `uv --version`, or NA where there is no uv that answers.
uv_version <- function(uv = uv_binary_path()) {
  if (is.na(uv)) return(NA_character_)
  out <- suppressWarnings(tryCatch(system2(uv, "--version", stdout = TRUE, stderr = FALSE),
                                   error = function(e) character()))
  version <- sub("^uv ([0-9][0-9.]*).*", "\\1", out[1L])
  if (length(out) && !identical(version, out[1L])) version else NA_character_
}

uv_deletes_reticulate_environment <- function(uv_version,
                                              reticulate_version = utils::packageVersion("reticulate")) {
  !is.na(uv_version) &&
    numeric_version(uv_version, strict = FALSE) >= "0.8" &&
    numeric_version(as.character(reticulate_version)) < "1.43"
}

uv_problem <- function(uv_version, reticulate_version) {
  list(
    what = paste0("reticulate ", reticulate_version, " could not start Python from py_require(): ",
                  "it asks uv ", uv_version, " for the environment with `uv run`, and uv 0.8 ",
                  "and later delete that environment as soon as they finish"),
    fix = paste0("install reticulate 1.43 or later, or a uv older than 0.8 where reticulate ",
                 "finds it (first on PATH, or RETICULATE_UV; e.g. python3 -m pip install ",
                 "'uv<0.8'); or set RETICULATE_PYTHON to a Python that has Keras, or run ",
                 "install_keras3r(); then restart R")
  )
}
