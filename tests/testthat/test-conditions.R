skip_if_not(keras3r_available())

refusal <- function(expr) tryCatch(expr, keras3r_argument_error = function(e) e)

test_that("refusals from R and from Python are one kind of condition", {
  from_r <- refusal(optimizer_sgd(momentum = NA))
  from_python <- refusal(optimizer_sgd(momentum = TRUE))
  for (e in list(from_r, from_python)) {
    expect_identical(class(e), c("keras3r_argument_error", "error", "condition"))
    expect_identical(e$fun, "optimizer_sgd")
    expect_identical(e$argument, "momentum")
    expect_null(conditionCall(e))
  }
  expect_identical(from_python$value, TRUE)
  # One handler catches both; a plain error handler does too.
  caught <- tryCatch(optimizer_adam(beta_1 = 2), error = function(e) class(e)[[1]])
  expect_identical(caught, "keras3r_argument_error")
})

test_that("Python's refusals are worded with R's spelling of the value", {
  msg <- function(expr) conditionMessage(refusal(expr))
  expect_identical(msg(optimizer_sgd(momentum = TRUE)),
                   "optimizer_sgd(): `momentum` must be a number in [0, 1], not TRUE.")
  expect_identical(msg(optimizer_sgd(learning_rate = "0.01")), paste0(
    "optimizer_sgd(): `learning_rate` must be a number >= 0, a LearningRateSchedule ",
    "or a function of no arguments, not \"0.01\"."
  ))
  expect_identical(msg(optimizer_sgd(momentum = 5L)),
                   "optimizer_sgd(): `momentum` must be a number in [0, 1], not 5L.")
  expect_identical(msg(optimizer_sgd(nesterov = "yes")),
                   "optimizer_sgd(): `nesterov` must be TRUE or FALSE, not \"yes\".")
  expect_identical(msg(optimizer_adam(beta_1 = NULL)),
                   "optimizer_adam(): `beta_1` must not be NULL.")
  expect_identical(msg(optimizer_adam(use_ema = TRUE, ema_momentum = NULL)), paste0(
    "optimizer_adam(): `ema_momentum` must be a number in [0, 1] when `use_ema` is TRUE, ",
    "not NULL."
  ))
  expect_identical(
    msg(learning_rate_schedule_piecewise_constant_decay(c(20, 10), c(0.1, 0.01, 0.001))),
    paste0("learning_rate_schedule_piecewise_constant_decay(): `boundaries` must be ",
           "strictly increasing, not c(20, 10).")
  )
  # One element at fault: named and shown as R indexes it.
  e <- refusal(learning_rate_schedule_piecewise_constant_decay(list(10, "a"), c(1, 2, 3)))
  expect_match(conditionMessage(e), "`boundaries[[2]]` must be a finite number, not \"a\".",
               fixed = TRUE)
  expect_identical(e$argument, "boundaries")
  expect_match(msg(optimizer_sgd(learning_rate = optimizer_adam())), "not <Adam>.", fixed = TRUE)
  # A layer takes any arguments: only its kind tells it from a function of no arguments.
  keras <- reticulate::import("keras")
  e <- refusal(optimizer_adam_w(learning_rate = keras$layers$Dense(1L)))
  expect_identical(e$argument, "learning_rate")
  expect_match(conditionMessage(e), "not <Dense>, which is a Keras layer.", fixed = TRUE)
  expect_match(msg(optimizer_sgd(lr = 0.1)), "Unknown argument `lr`; did you mean `learning_rate`?",
               fixed = TRUE)
  e <- refusal(optimizer_sgd(clipnorm = 1, clipvalue = 1))
  expect_identical(e$argument, c("clipnorm", "clipvalue"))
})

test_that("no refusal shows Python's words, class names or a traceback", {
  calls <- list(
    quote(optimizer_sgd(momentum = TRUE)), quote(optimizer_sgd(nesterov = 1)),
    quote(optimizer_sgd(name = FALSE)), quote(optimizer_adam(beta_1 = NULL)),
    quote(optimizer_sgd(name = "a/b")), quote(optimizer_loss_scale("adam")),
    quote(optimizer_loss_scale(optimizer_adam(), use_ema = TRUE)),
    quote(learning_rate_schedule_cosine_decay(0.1, 10, name = NULL)),
    quote(learning_rate_schedule_piecewise_constant_decay(c(1, 2), c(0.1, 0.2)))
  )
  for (call in calls) {
    e <- refusal(eval(call))
    label <- deparse(call)
    expect_s3_class(e, "keras3r_argument_error")
    expect_false(grepl("\\b(True|False|None)\\b|keras3r\\.checks|Traceback|Error",
                       conditionMessage(e)), label = label)
  }
})

test_that("errors that are not refusals keep propagating as they are", {
  # Python raises AttributeError here, in the very path every wrapper takes.
  e <- tryCatch(keras3r:::keras3r_call("optimizer_no_such_thing", list()),
                error = function(e) e)
  expect_s3_class(e, "error")
  expect_false(inherits(e, "keras3r_argument_error"))
  expect_match(conditionMessage(e), "optimizer_no_such_thing")
})

test_that("NULL is passed on where keras3 R passes it on and Keras takes it", {
  # Keras names the optimizer itself, from its class.
  expect_match(optimizer_adam_w(name = NULL)$name, "^adam_w")
  expect_match(optimizer_sgd(name = NULL)$name, "^sgd")
  # Keras reads NULL as FALSE for its on/off settings; the config keeps None,
  # as with keras3 R.
  expect_null(optimizer_adam(amsgrad = NULL)$get_config()$amsgrad)
  expect_null(optimizer_sgd(nesterov = NULL, use_ema = NULL)$get_config()$nesterov)
  expect_null(learning_rate_schedule_exponential_decay(0.1, 10, 0.5,
                                                       staircase = NULL)$get_config()$staircase)
  # Unused settings may be NULL while unused.
  expect_null(optimizer_adam(ema_momentum = NULL)$get_config()$ema_momentum)
  expect_null(learning_rate_schedule_cosine_decay(0.1, 10, warmup_steps = NULL)$
                get_config()$warmup_steps)
  # ... and an optimizer built so still trains.
  keras <- reticulate::import("keras")
  w <- keras$Variable(c(1, 1))
  opt <- optimizer_adam(amsgrad = NULL, name = NULL, ema_momentum = NULL)
  opt$apply(list(keras$ops$ones(2L)), list(w))
  expect_true(all(as.numeric(keras$ops$convert_to_numpy(w)) < 1))
})
