# Optimizers written in R (`Optimizer()`) against keras3r's own, in fit():
# the time per training step with an R SGD with momentum and an R Adam (the
# classes of tests/testthat/helper-optimizer-class.R) over the time with
# Keras's own SGD (momentum 0.9) and Adam: stock Keras (keras3r's builders with
# plain(), which takes keras3r's behaviours off), and keras3r's
# optimizer_sgd() and optimizer_adam() as they come (on TensorFlow and torch
# their updates are compiled or fused where stock Keras's are not).
#
# Under a compiled fit() (TensorFlow with and without XLA, JAX) the R code
# runs only while the step is traced, so the ratio should be 1 within noise.
# With run_eagerly = TRUE, and on torch, Python calls the R update_step() for
# every variable at every step: that cost is measured beside it.
#
# The noise figure is stock Keras against a second instance of itself,
# measured like the others. Each backend runs in a fresh R process
# (Keras fixes its backend once per process). Every model is compiled and
# traced first; then rounds of one epoch each, the candidates in a rotating
# order, so that load from other processes falls on all alike; each figure is
# the fastest round's (load from other processes only ever slows a round).
#
# A figure, not a test: `make bench` or `Rscript bench/bench_r_optimizer.R`
# from the repository root.

Sys.setenv(TF_CPP_MIN_LOG_LEVEL = "3")
if (!nzchar(Sys.getenv("RETICULATE_PYTHON"))) {
  Sys.setenv(RETICULATE_PYTHON = file.path(getwd(), ".venv", "bin", "python"))
}

ROUNDS <- 11L  # rounds in compiled modes
EAGER_ROUNDS <- 5L
BATCH <- 128L
STEPS <- 32L  # steps per round in compiled modes
# Compiled steps run 8 to a call: with one step a call, fit()'s Python loop
# between steps made two models of the same stock Keras class differ by up to
# a third on TensorFlow without XLA, more than the effect looked for.
SPE <- 8L
EAGER_STEPS <- 6L  # steps per round where R runs at every step

args <- commandArgs(trailingOnly = TRUE)
if (!length(args)) {
  # The driver: one fresh R per backend, this same script.
  script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  cat("Per-step time in fit(): optimizer written in R / Keras's own class",
      "(the fastest of", ROUNDS, "interleaved rounds;", EAGER_ROUNDS, "where R runs at every step)\n")
  cat("noise: Keras's class against a second instance of itself\n\n")
  for (backend in c("tensorflow", "jax", "torch")) {
    status <- system2(file.path(R.home("bin"), "Rscript"), c(shQuote(script), backend),
                      env = paste0("KERAS_BACKEND=", backend))
    if (status != 0L) stop("the ", backend, " run failed")
  }
  quit(save = "no")
}

suppressPackageStartupMessages(library(keras3r))
keras <- reticulate::import("keras")
source(file.path("tests", "testthat", "helper-optimizer-class.R"))
backend <- keras$backend$backend()
RSGD <- r_sgd_momentum_class()
RAdam <- r_adam_class(keras)

make_model <- function(opt, ...) {
  keras$utils$set_random_seed(1L)
  model <- keras$Sequential(list(
    keras$Input(shape = list(32L)),
    keras$layers$Dense(256L, activation = "relu"),
    keras$layers$Dense(256L, activation = "relu"),
    keras$layers$Dense(1L)
  ))
  model$compile(optimizer = opt, loss = "mse", ...)
  model
}

set.seed(1)
x_all <- matrix(rnorm(BATCH * STEPS * 32L), BATCH * STEPS, 32L)
y_all <- matrix(rnorm(BATCH * STEPS), BATCH * STEPS, 1L)

# Seconds per step of each candidate (a list of optimizer makers), `steps`
# steps per round; `...` goes to compile().
per_step <- function(candidates, steps, rounds, ...) {
  rows <- seq_len(BATCH * steps)
  x <- x_all[rows, , drop = FALSE]
  y <- y_all[rows, , drop = FALSE]
  models <- lapply(candidates, function(make) make_model(make(), ...))
  fit <- function(model) {
    model$fit(x, y, epochs = 1L, batch_size = BATCH, shuffle = FALSE, verbose = 0L)
  }
  for (model in models) fit(model)  # trace and compile
  times <- matrix(NA_real_, rounds, length(models))
  for (round in seq_len(rounds)) {
    order <- (seq_along(models) + round - 2L) %% length(models) + 1L
    for (i in order) {
      start <- proc.time()[["elapsed"]]
      fit(models[[i]])
      times[round, i] <- (proc.time()[["elapsed"]] - start) / steps
    }
  }
  stats::setNames(apply(times, 2L, min), names(candidates))
}

report <- function(mode, steps, rounds, ...) {
  pairs <- list(
    "SGD, momentum 0.9" = list(
      r = function() RSGD(learning_rate = 0.01),
      keras3r = function() optimizer_sgd(learning_rate = 0.01, momentum = 0.9)
    ),
    "Adam" = list(
      r = function() RAdam(learning_rate = 0.001),
      keras3r = function() optimizer_adam(learning_rate = 0.001)
    )
  )
  for (name in names(pairs)) {
    p <- pairs[[name]]
    stock <- function() plain(p$keras3r())
    t <- per_step(list(r = p$r, stock = stock, again = stock, keras3r = p$keras3r), steps, rounds, ...)
    cat(sprintf(paste0("%-10s %-16s %-17s R %6.2f ms  Keras %6.2f ms  R / Keras %5.3f",
                       "  noise %5.3f  R / keras3r's %5.3f\n"),
                backend, mode, name, 1000 * t[["r"]], 1000 * t[["stock"]],
                t[["r"]] / t[["stock"]], abs(t[["again"]] / t[["stock"]] - 1),
                t[["r"]] / t[["keras3r"]]))
  }
}

if (backend == "tensorflow") {
  # What the compiled step runs: the traced graph of one update, by operation.
  tf <- reticulate::import("tensorflow")
  same <- function(r, keras_opt) {
    if (identical(graph_ops(keras, tf, r), graph_ops(keras, tf, keras_opt))) "the same" else "NOT the same"
  }
  cat(sprintf("tensorflow graph of one update, R SGD and Keras's: %s operations\n",
              same(RSGD(learning_rate = 0.01), plain(optimizer_sgd(0.01, momentum = 0.9)))))
  cat(sprintf("tensorflow graph of one update, R Adam and Keras's: %s operations\n",
              same(RAdam(learning_rate = 0.001), plain(optimizer_adam(0.001)))))
  report("compiled, XLA", STEPS, ROUNDS, jit_compile = TRUE, steps_per_execution = SPE)
  report("compiled, graph", STEPS, ROUNDS, jit_compile = FALSE, steps_per_execution = SPE)
  report("eager", EAGER_STEPS, EAGER_ROUNDS, run_eagerly = TRUE)
} else if (backend == "jax") {
  report("compiled (jit)", STEPS, ROUNDS, steps_per_execution = SPE)
  report("eager", EAGER_STEPS, EAGER_ROUNDS, run_eagerly = TRUE)
} else {
  report("fit() (eager)", EAGER_STEPS, EAGER_ROUNDS)
}
