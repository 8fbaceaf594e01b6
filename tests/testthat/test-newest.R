skip_if_not(keras3r_available())

# optimizer_lamb(), optimizer_muon() and optimizer_schedule_free_adam_w() from R.

muon_model <- function(keras) {
  keras$utils$set_random_seed(2L)
  keras$Sequential(list(
    keras$Input(shape = list(4L)),
    keras$layers$Dense(6L, name = "hidden"),
    keras$layers$Dense(2L, name = "out")
  ), name = "net")
}

fit_once <- function(model, opt) {
  model$compile(optimizer = opt, loss = "mse")
  x <- matrix(seq_len(32) / 32, ncol = 4)
  model$fit(x, matrix(0, nrow = 8, ncol = 2), epochs = 1L, verbose = 0L)
}

# The kinds of slot ("momentum", "velocity") each model variable has.
slot_kinds <- function(opt, model) {
  paths <- vapply(opt$variables, function(v) v$path, "")
  kinds <- lapply(model$trainable_variables, function(v) {
    key <- paste0(opt$name, "/", gsub("/", "_", v$path, fixed = TRUE), "_")
    sub(key, "", paths[startsWith(paths, key)], fixed = TRUE)
  })
  stats::setNames(kinds, vapply(model$trainable_variables, function(v) v$path, ""))
}

test_that("optimizer_muon() gives Muon's step to the hidden matrix only", {
  keras <- reticulate::import("keras")
  model <- muon_model(keras)
  opt <- optimizer_muon(exclude_layers = c("(^|/)out/", "head"))
  fit_once(model, opt)
  expect_identical(slot_kinds(opt, model), list(
    "net/hidden/kernel" = "momentum",  # 2-D, not excluded: Muon
    "net/hidden/bias" = c("momentum", "velocity"),  # 1-D: AdamW
    "net/out/kernel" = c("momentum", "velocity"),  # matched by exclude_layers
    "net/out/bias" = c("momentum", "velocity")
  ))
  # Keras keeps its list in a list subclass of its own: list() converts it.
  expect_identical(unlist(reticulate::import_builtins()$list(opt$exclude_layers)),
                   c("(^|/)out/", "head"))
})

test_that("an exclude_layers pattern that a reload would read otherwise is refused", {
  keras <- reticulate::import("keras")
  model <- muon_model(keras)
  expect_error(fit_once(model, optimizer_muon(exclude_layers = "^out/")),
               "(^|/)out/", fixed = TRUE)
})

test_that("the defaults of optimizer_muon() are the ones that run", {
  f <- formals(optimizer_muon)
  expect_identical(f$weight_decay, 0.004)
  expect_identical(f$adam_lr_ratio, 1)
  expect_identical(f$ns_steps, 5L)
  cfg <- optimizer_muon()$get_config()
  stock <- reticulate::import("keras")$optimizers$Muon()$get_config()
  for (key in c("weight_decay", "adam_lr_ratio", "ns_steps", "rms_rate", "adam_weight_decay")) {
    expect_equal(cfg[[key]], stock[[key]], label = key)
  }
})

test_that("optimizer_muon() by position means what it means in keras3 R 1.5", {
  cfg <- optimizer_muon(0.01, 0.8, 0.9, 1e-6)$get_config()
  expect_equal(cfg$learning_rate, 0.01, tolerance = 1e-7)  # kept in a float32 variable
  expect_identical(cfg$adam_beta_1, 0.8)
  expect_identical(cfg$adam_beta_2, 0.9)
  expect_identical(cfg$epsilon, 1e-6)
  expect_identical(cfg$adam_weight_decay, 0.004)  # left at its default
  # Keras's own class reads the fourth value as adam_weight_decay.
  stock <- reticulate::import("keras")$optimizers$Muon(0.01, 0.8, 0.9, 1e-6)$get_config()
  expect_identical(c(stock$adam_weight_decay, stock$epsilon), c(1e-6, 1e-7))
})

test_that("optimizer_muon() takes adam_weight_decay and rms_rate by full name only", {
  cfg <- optimizer_muon(adam_weight_decay = 0.01, rms_rate = NULL)$get_config()
  expect_identical(cfg$adam_weight_decay, 0.01)
  expect_null(cfg$rms_rate)
  # After `...`, R does no partial matching: a shortened name lands in `...`,
  # which refuses it, naming the argument it may mean.
  expect_error(optimizer_muon(adam_weight = 0.01),
               "Unknown argument `adam_weight`; did you mean `adam_weight_decay`?",
               fixed = TRUE, class = "keras3r_argument_error")
  expect_error(optimizer_muon(rms = 0.1), "Unknown argument `rms`",
               class = "keras3r_argument_error")
  # Every argument before `...` given by position: a 24th value has no name.
  positional <- list(0.01, 0.8, 0.9, 1e-6, 0.004, NULL, NULL, NULL, FALSE, 0.99, NULL,
                     NULL, NULL, "m", NULL, TRUE, 3.4445, -4.775, 2.0315, 1, 0.95, 5L, TRUE)
  expect_identical(do.call(optimizer_muon, positional)$name, "m")
  expect_error(do.call(optimizer_muon, c(positional, list(0.01))),
               "arguments in `...` must be named", class = "keras3r_argument_error")
})

test_that("the newest optimizers train a small model from R", {
  keras <- reticulate::import("keras")
  for (name in c("optimizer_lamb", "optimizer_muon", "optimizer_schedule_free_adam_w")) {
    keras$utils$set_random_seed(3L)
    model <- keras$Sequential(list(keras$Input(shape = list(3L)), keras$layers$Dense(2L)))
    model$compile(optimizer = do.call(name, list(learning_rate = 0.05)), loss = "mse")
    x <- matrix(seq_len(48) / 48, ncol = 3)
    y <- cbind(x %*% c(1, -1, 0.5), x %*% c(0.2, 0.3, -1))
    history <- model$fit(x, y, epochs = 20L, batch_size = 4L, verbose = 0L)
    loss <- unlist(history$history$loss)
    expect_lt(loss[[length(loss)]], loss[[1]], label = name)
  }
})
