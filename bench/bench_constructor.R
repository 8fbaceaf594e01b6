# Building an optimizer from R: optimizer_adam_w() against Keras's own
# constructor called from R through reticulate (keras$optimizers$AdamW()),
# with the same arguments, in the same session. Also a refused call, which
# builds nothing. Blocks of each alternate (rotating order), so that load
# from other processes falls on all alike; each figure is the median over
# blocks of the time per call, and the ratio is against Keras's constructor.
#
# A figure, not a test: `Rscript bench/bench_constructor.R [source tree]` from
# the repository root (the tree defaults to this one: pass another checkout to
# compare, with the same Python).

args <- commandArgs(trailingOnly = TRUE)
root <- if (length(args)) args[[1]] else "."
Sys.setenv(TF_CPP_MIN_LOG_LEVEL = "3")
if (!nzchar(Sys.getenv("RETICULATE_PYTHON"))) {
  Sys.setenv(RETICULATE_PYTHON = file.path(getwd(), ".venv", "bin", "python"))
}
suppressPackageStartupMessages(pkgload::load_all(root, quiet = TRUE))

ROUNDS <- 15L  # blocks of each
BLOCK <- 40L   # calls per block

keras <- reticulate::import("keras")
calls <- list(
  "keras$optimizers$AdamW()" = function() keras$optimizers$AdamW(learning_rate = 0.01,
                                                                 weight_decay = 0.004),
  "optimizer_adam_w()" = function() optimizer_adam_w(learning_rate = 0.01),
  "optimizer_adam_w(beta_1 = 2), refused" = function() {
    tryCatch(optimizer_adam_w(beta_1 = 2), keras3r_argument_error = identity)
  }
)
for (f in calls) f()  # Python started, modules imported, first calls paid

times <- matrix(NA_real_, ROUNDS, length(calls), dimnames = list(NULL, names(calls)))
for (round in seq_len(ROUNDS)) {
  order <- (seq_along(calls) + round - 2L) %% length(calls) + 1L
  for (i in order) {
    f <- calls[[i]]
    start <- proc.time()[["elapsed"]]
    for (k in seq_len(BLOCK)) f()
    times[round, i] <- (proc.time()[["elapsed"]] - start) / BLOCK * 1000
  }
}
medians <- apply(times, 2L, stats::median)
cat(sprintf("bench_constructor (%s): ms per call, median of %d blocks of %d\n",
            normalizePath(root), ROUNDS, BLOCK))
for (name in names(medians)) {
  cat(sprintf("  %-40s %7.3f ms   ratio %.2f\n", name, medians[[name]],
              medians[[name]] / medians[[1]]))
}
