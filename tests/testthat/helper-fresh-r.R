# Runs R code in a fresh R process, from working directory `wd`, with `env`
# ("NAME=value" strings; "NAME=" empties a variable) on top of this one's
# environment. The process loads this same keras3r: the source tree through
# pkgload when these tests run from source, the installed package otherwise.
# Returns list(status, stdout, stderr), the last two as character vectors.
run_fresh_r <- function(code, wd = tempfile("wd"), env = character()) {
  root <- getNamespaceInfo(asNamespace("keras3r"), "path")
  load <- if (file.exists(file.path(root, "Meta", "package.rds"))) {
    "library(keras3r)"
  } else {
    sprintf("suppressMessages(pkgload::load_all(%s, quiet = TRUE))", deparse(root))
  }
  script <- tempfile(fileext = ".R")
  writeLines(c(load, code), script)
  out <- tempfile()
  err <- tempfile()
  dir.create(wd, showWarnings = FALSE, recursive = TRUE)
  owd <- setwd(wd)
  on.exit(setwd(owd), add = TRUE)
  status <- suppressWarnings(system2(
    file.path(R.home("bin"), "Rscript"), shQuote(script), stdout = out, stderr = err,
    env = c(paste0("R_LIBS=", paste(.libPaths(), collapse = ":")), env)
  ))
  list(status = status, stdout = readLines(out, warn = FALSE), stderr = readLines(err, warn = FALSE))
}

# The line of `lines` that starts with `tag`, without the tag.
tagged <- function(lines, tag) {
  hit <- grep(paste0("^", tag, " "), lines, value = TRUE)
  if (length(hit)) trimws(sub(paste0("^", tag, " "), "", hit[[1]])) else NA_character_
}

# A Python that can make a virtualenv under R, or "" where there is none.
usable_python <- function() {
  for (python in keras3r:::python_candidates()) {
    if (is.null(keras3r:::probe_python(python))) return(python)
  }
  ""
}
