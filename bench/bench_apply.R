# A plain R training loop, `opt$apply(grads, weights)` batch by batch: its cost
# per step from R (through reticulate) against the same loop written in Python,
# measured in the same run on the same optimizer, gradients and variables.
#
# The gradients and variables are made in Python (as a tape would give them),
# so the figures compare the loops, not R-to-NumPy conversion of the data.
# Two R loops are timed, differing only in how R holds them:
#   * as Python lists (reticulate objects, `convert = FALSE`): each call hands
#     reticulate two references;
#   * as R lists of Python objects (what `model$trainable_weights` and most
#     R code give): each call, reticulate converts both lists back to Python
#     lists, element by element (through keras3r's r_to_py() method for
#     tensors and variables, R/convert.R).
# Blocks of the three loops alternate (rotating order), so that load from
# other processes falls on all alike; each figure is the median over blocks.
#
# A figure, not a test: `make bench` or `Rscript bench/bench_apply.R` from the
# repository root.

Sys.setenv(TF_CPP_MIN_LOG_LEVEL = "3")
if (!nzchar(Sys.getenv("RETICULATE_PYTHON"))) {
  Sys.setenv(RETICULATE_PYTHON = file.path(getwd(), ".venv", "bin", "python"))
}
suppressPackageStartupMessages({
  library(reticulate)
  library(keras3r)
})

ROUNDS <- 8L  # blocks of each loop per shape
BLOCK <- 10L  # steps per block
SHAPES <- list(
  "(a) large: 8M parameters in 16 variables" = c(16L, 8000000L),
  "(b) many small: 1M parameters in 100 variables" = c(100L, 1000000L)
)

py_run_string("
import time
import numpy as np
import tensorflow as tf
import keras
from keras3r.adapt.eager_apply import stats
import keras3r.adapt.eager_apply

# Compile on the first call, whose cost this bench reports (keras3r otherwise
# runs a new structure's first calls on Keras's path; see bench_sweep.py).
keras3r.adapt.eager_apply.KERAS_CALLS_BEFORE_COMPILING = 0

def make(n_vars, total, seed=0):
    rng = np.random.default_rng(seed)
    size = total // n_vars
    variables = [keras.Variable(rng.standard_normal(size).astype('float32'))
                 for _ in range(n_vars)]
    grads = [tf.constant((rng.standard_normal(size) * 1e-2).astype('float32'))
             for _ in range(n_vars)]
    return variables, grads

def python_loop(opt, grads, variables, steps):
    '''Seconds per step of the same loop, written in Python.'''
    start = time.perf_counter()
    for _ in range(steps):
        opt.apply(grads, variables)
    return (time.perf_counter() - start) / steps
")

# Seconds per step of the loop an R user writes.
r_loop <- function(opt, grads, variables, steps) {
  start <- Sys.time()
  for (i in seq_len(steps)) opt$apply(grads, variables)
  as.numeric(difftime(Sys.time(), start, units = "secs")) / steps
}

cat(sprintf(
  "opt$apply() loop, R vs Python: median of %d rotating blocks of %d steps each\n",
  ROUNDS, BLOCK
))
cat(sprintf(
  "%s; reticulate %s; Python %s; %s CPUs; load average at start %s\n",
  R.version.string, packageVersion("reticulate"), py_config()$version,
  parallel::detectCores(), paste(readLines("/proc/loadavg", warn = FALSE), collapse = "")
))

main <- import_main(convert = FALSE)

for (label in names(SHAPES)) {
  shape <- SHAPES[[label]]
  made <- main$make(shape[[1]], shape[[2]])
  loops <- list(
    python = function(opt, steps) {
      py_to_r(main$python_loop(opt, py_get_item(made, 1L), py_get_item(made, 0L), steps))
    },
    r_python_lists = (function(variables, grads) {
      function(opt, steps) r_loop(opt, grads, variables, steps)
    })(py_get_item(made, 0L), py_get_item(made, 1L)),
    r_r_lists = (function(variables, grads) {
      function(opt, steps) r_loop(opt, grads, variables, steps)
    })(py_to_r(py_get_item(made, 0L)), py_to_r(py_get_item(made, 1L)))
  )
  stopifnot(is.list(environment(loops$r_r_lists)$grads))
  opt <- optimizer_adam_w()

  # Warm-up: the first call builds the slots and compiles the update.
  compile_s <- system.time(loops$r_python_lists(opt, 1L))[["elapsed"]]
  for (loop in loops) loop(opt, 3L)

  times <- matrix(NA_real_, ROUNDS, length(loops), dimnames = list(NULL, names(loops)))
  for (round in seq_len(ROUNDS)) {
    order <- (seq_along(loops) + round - 2L) %% length(loops) + 1L
    for (j in order) times[round, j] <- loops[[j]](opt, BLOCK)
  }
  ms <- 1000 * apply(times, 2L, stats::median)
  counts <- py$stats(opt)

  cat(sprintf("\n== %s ==\n", label))
  cat(sprintf(
    paste0(
      "first call (build + trace + XLA compile) %.2f s; over the run %d trace for %d ",
      "compiled calls, %d on Keras's eager path\n"
    ),
    compile_s, counts$traces, counts$compiled_calls, counts$keras_calls
  ))
  cat(sprintf("Python loop                         %7.2f ms per step\n", ms[["python"]]))
  cat(sprintf(
    "R loop, Python lists                %7.2f ms per step   R / Python %5.2f\n",
    ms[["r_python_lists"]], ms[["r_python_lists"]] / ms[["python"]]
  ))
  cat(sprintf(
    "R loop, R lists of Python objects   %7.2f ms per step   R / Python %5.2f\n",
    ms[["r_r_lists"]], ms[["r_r_lists"]] / ms[["python"]]
  ))
}
cat(sprintf(
  "\nload average at end %s\n", paste(readLines("/proc/loadavg", warn = FALSE), collapse = "")
))
