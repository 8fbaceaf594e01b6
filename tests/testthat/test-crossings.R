skip_if_not(keras3r_available())

# A keras3r call from R crosses into Python once: R checks only what
# reticulate would mangle, and keras3r.for_r.build() checks, builds, and hands
# back a refusal or keras3r's warnings in the same call. Counted here by a
# profile hook in Python: every Python function that R calls starts a frame
# with no Python caller. Not counted: functions of Python's `inspect` module,
# which reticulate calls to look at what it hands over (getmro() to name an
# object's classes, as often for a direct call of Keras; reticulate 1.41 also
# reads a function's signature()), and the garbage collector's callbacks.
crossing_counter <- function() {
  reticulate::py_run_string("
import gc
import inspect
import sys


class _Crossings:
    def __init__(self):
        self.calls = []

    def _hook(self, frame, event, arg):
        if event != 'call' or frame.f_back is not None:
            return
        code = frame.f_code
        if code.co_filename == inspect.__file__:
            return
        if code in {getattr(c, '__code__', None) for c in gc.callbacks}:
            return
        self.calls.append(code.co_name)

    def start(self):
        self.calls = []
        sys.setprofile(self._hook)

    def stop(self):
        sys.setprofile(None)
        return self.calls[:-1]  # the call of stop() itself


keras3r_crossings = _Crossings()
", convert = FALSE)$keras3r_crossings
}

crossings <- function(counter, expr) {
  counter$start()
  on.exit(counter$stop())
  force(expr)
  calls <- as.character(unlist(reticulate::py_to_r(counter$stop())))
  on.exit()
  calls
}

test_that("a plain call, a refusal and a warning each cross into Python once", {
  counter <- crossing_counter()
  invisible(optimizer_adam_w())  # Python started and the module imported
  plain <- crossings(counter, optimizer_adam_w(learning_rate = 0.01))
  expect_identical(plain, "build")
  refused <- crossings(counter, tryCatch(optimizer_adam_w(beta_1 = 2),
                                          keras3r_argument_error = identity))
  expect_identical(refused, "build")
  schedule <- crossings(counter, learning_rate_schedule_cosine_decay(0.1, 100))
  expect_identical(schedule, "build")
  # An R function reaches Python through reticulate's own wrapper: one more.
  route <- function(variable) optimizer_sgd()
  warned <- crossings(counter, withCallingHandlers(
    optimizer_multi(route), keras3r_warning = function(w) invokeRestart("muffleWarning")
  ))
  expect_lte(length(warned), 2L)
  expect_true("build" %in% warned)
})

test_that("an optimizer of one's own gets the base arguments checked, in one crossing", {
  counter <- crossing_counter()
  check <- function(args) {
    keras3r_call("my_optimizer", args, entry = "check_optimizer_arguments")
  }
  invisible(check(list()))
  calls <- crossings(counter, values <- check(list(clipnorm = 1, gradient_accumulation_steps = 2)))
  expect_identical(calls, "check_optimizer_arguments")
  expect_identical(values, list(clipnorm = 1, gradient_accumulation_steps = 2L))
  error <- tryCatch(check(list(clipnorm = -1)), keras3r_argument_error = identity)
  expect_identical(conditionMessage(error), "my_optimizer(): `clipnorm` must be a number > 0, not -1.")
  expect_identical(error$argument, "clipnorm")
  expect_error(check(list(clipnorm = NA)), "`clipnorm` is NA", class = "keras3r_argument_error")
})
