skip_if_not(keras3r_available())

py_class_name <- function(x) x$`__class__`$`__name__`

# Valid values for the arguments without a default.
print_required <- list(
  initial_learning_rate = 0.1, decay_steps = 100, first_decay_steps = 100, decay_rate = 0.5,
  boundaries = c(10, 20), values = c(0.1, 0.01, 0.001)
)

# Whether format() of `obj` is the method of R/print.R (a more specific class,
# such as a MultiOptimizer, may have its own).
formatted_here <- function(obj) {
  for (cls in class(obj)) {
    method <- utils::getS3method("format", cls, optional = TRUE)
    if (!is.null(method)) {
      return(identical(environmentName(environment(method)), "keras3r") &&
               cls %in% c("keras.src.optimizers.optimizer.Optimizer",
                          "keras.src.optimizers.schedules.learning_rate_schedule.LearningRateSchedule"))
    }
  }
  FALSE
}

test_that("an optimizer prints its class, name, rate and what differs from the defaults", {
  opt <- optimizer_adam_w()
  expect_identical(format(opt), c(
    "<AdamW \"adamw\"> optimizer",
    "  learning_rate: 0.001",
    "  settings: all at their defaults"
  ))
  opt <- optimizer_adam_w(learning_rate = 0.01, weight_decay = 0.1, amsgrad = TRUE,
                          name = "w", gradient_accumulation_steps = 4)
  expect_identical(format(opt), c(
    "<AdamW \"w\"> optimizer",
    "  learning_rate: 0.01",
    "  settings other than the defaults:",
    "    weight_decay = 0.1",
    "    amsgrad = TRUE",
    "    gradient_accumulation_steps = 4L"
  ))
  printed <- capture.output(shown <- withVisible(print(opt)))
  expect_identical(printed, format(opt))
  expect_false(shown$visible)
  expect_identical(shown$value, opt)
})

test_that("a schedule as learning rate is shown with its settings", {
  schedule <- learning_rate_schedule_cosine_decay(0.1, 1000, alpha = 0.1)
  expect_identical(format(schedule), c(
    "<CosineDecay \"CosineDecay\"> learning-rate schedule",
    "  initial_learning_rate = 0.1",
    "  decay_steps = 1000L",
    "  alpha = 0.1"
  ))
  opt <- optimizer_sgd(learning_rate = schedule, momentum = 0.9)
  expect_identical(format(opt)[[2]], paste0(
    "  learning_rate: <CosineDecay \"CosineDecay\">",
    "(initial_learning_rate = 0.1, decay_steps = 1000L, alpha = 0.1)"
  ))
  expect_identical(format(optimizer_sgd(learning_rate = function() 0.1))[[2]],
                   "  learning_rate: <function>")
  pw <- learning_rate_schedule_piecewise_constant_decay(c(10, 20), c(0.1, 0.01, 0.001))
  expect_identical(format(pw)[2:3], c("  boundaries = c(10, 20)",
                                      "  values = c(0.1, 0.01, 0.001)"))
})

test_that("values are spelled as R spells them", {
  lines <- format(optimizer_sgd(nesterov = TRUE, use_ema = TRUE, ema_overwrite_frequency = 5))
  expect_true(all(c("    nesterov = TRUE", "    use_ema = TRUE",
                    "    ema_overwrite_frequency = 5L") %in% lines))
  expect_true("    nesterov = NULL" %in% format(optimizer_sgd(nesterov = NULL)))
  expect_false(any(grepl("\\b(True|False|None)\\b", lines)))
})

test_that("a wrapped optimizer is shown inside its wrapper", {
  opt <- optimizer_loss_scale(optimizer_adam(beta_1 = 0.8), initial_scale = 1024)
  lines <- format(opt)
  expect_match(lines[[1]], "^<LossScaleOptimizer \"")
  expect_identical(lines[[2]], "  learning_rate: 0.001")
  expect_true("    inner_optimizer = <Adam \"adam\">(learning_rate = 0.001, beta_1 = 0.8)" %in% lines)
  expect_true("    initial_scale = 1024" %in% lines)
})

test_that("str() gives one useful line, and the Python objects stay plain", {
  opt <- optimizer_adam_w(weight_decay = 0.1)
  expect_output(str(opt), "^<AdamW \"adamw\">\\(learning_rate = 0.001, weight_decay = 0.1\\)$")
  expect_output(str(list(rate = learning_rate_schedule_exponential_decay(0.1, 10, 0.5))),
                "<ExponentialDecay \"ExponentialDecay\">\\(initial_learning_rate = 0.1")
  expect_match(reticulate::py_repr(opt), "^<keras.src.optimizers.adamw.AdamW object at")
  expect_identical(class(opt)[[1]], "keras.src.optimizers.adamw.AdamW")
  # Plain Keras objects, not built by keras3r, print the same way.
  keras <- reticulate::import("keras")
  expect_identical(format(keras$optimizers$RMSprop(rho = 0.8))[3:4],
                   c("  settings other than the defaults:", "    rho = 0.8"))
})

test_that("every optimizer and schedule of the family prints so", {
  family <- sort(grep("^(optimizer|learning_rate_schedule)_", getNamespaceExports("keras3r"),
                      value = TRUE))
  printed <- 0L
  for (fn in family) {
    fun <- getExportedValue("keras3r", fn)
    formal <- formals(fun)
    required <- names(formal)[vapply(names(formal), function(a) {
      a != "..." && identical(formal[[a]], quote(expr = ))
    }, logical(1))]
    args <- lapply(required, function(a) {
      if (a == "inner_optimizer") optimizer_adam() else print_required[[a]]
    })
    names(args) <- required
    if (any(vapply(args, is.null, logical(1)))) next  # a required argument of its own kind
    obj <- do.call(fun, args)
    if (!formatted_here(obj)) next  # a class with a print method of its own
    lines <- format(obj)
    header <- paste0("<", py_class_name(obj), " \"", obj$name, "\">")
    expect_identical(substr(lines[[1]], 1L, nchar(header)), header, label = fn)
    if (startsWith(fn, "optimizer_")) {
      expect_match(lines[[2]], "^  learning_rate: [0-9]", label = fn)
      if (!"inner_optimizer" %in% required) {
        expect_identical(lines[[3]], "  settings: all at their defaults", label = fn)
        lines <- format(do.call(fun, c(args, list(clipnorm = 2))))
        expect_true("    clipnorm = 2" %in% lines, label = fn)
      }
    } else {
      for (a in required) expect_true(any(startsWith(lines, paste0("  ", a, " = "))), label = fn)
    }
    printed <- printed + 1L
  }
  expect_gte(printed, 18L)
})
