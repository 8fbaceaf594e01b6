# Schedule-free AdamW's averaged weights, from R: thin calls into the Python
# module keras3r.schedule_free, which does the arithmetic on the backend.

#' The averaged weights of schedule-free AdamW, and swapping them in and out
#'
#' @description
#' Schedule-free AdamW ([optimizer_schedule_free_adam_w()]) keeps three points
#' for every weight: `z`, where the gradient steps are taken; `x`, the running
#' average of the `z`'s, where the method's guarantees hold; and `y`, the
#' interpolation \eqn{y = (1 - \beta_1) z + \beta_1 x}{y = (1 - beta_1) z + beta_1 x}
#' at which gradients are computed. During training the model's variables hold
#' `y`, and Keras keeps no `x`: evaluate, predict with and save the model at
#' `x` by swapping it in first.
#'
#' * `schedule_free_averaged_weights()` returns `x`, one array per variable the
#'   optimizer updates (in the order of the model's `trainable_variables`; with
#'   [optimizer_multi()], the variables of each schedule-free optimizer in
#'   turn), without changing anything. It is computed from the model's `y` and the
#'   optimizer's `z` (its "momentum" slot) as
#'   \eqn{x = (y - (1 - \beta_1) z) / \beta_1}{x = (y - (1 - beta_1) z) / beta_1}.
#' * `swap_schedule_free_weights(object, "averaged")` assigns `x` to the
#'   model's variables and keeps `y` aside; `swap_schedule_free_weights(object,
#'   "training")` assigns `y` back, exactly as it was. Either does nothing when
#'   the model already holds those weights, or before the first training step
#'   (when `x` equals `y`).
#' * `schedule_free_weights_in_model()` says which of the two the model holds.
#' * `with_schedule_free_averaged_weights()` evaluates `expr` with `x` in the
#'   model, and afterwards (even after an error) puts back what it held before.
#'
#' To have `fit()` validate at `x` and end with `x` in the model, use
#' [callback_swap_schedule_free_weights()].
#'
#' @details
#' Train only with the training weights in the model: the optimizer reads `y`
#' from the variables at every step, so a step taken with `x` in them would
#' start from the wrong point. [callback_swap_schedule_free_weights()] puts `y`
#' back when `fit()` begins.
#'
#' A model saved with `x` in it holds `x` as its weights (what to ship); the
#' optimizer state saved with it is unchanged, and the `y` kept aside is not
#' saved. To resume training from a saved file, save with `y` in.
#'
#' keras3r builds `optimizer_schedule_free_adam_w()` so that its steps are
#' the published method on every backend: Keras 3.15's own update, on
#' TensorFlow and torch, recovers `x` from a `z` it has already moved, which
#' shifts `x` at every step (on JAX it does not). A model saved by keras3r and
#' loaded in plain Keras without keras3r trains with Keras's own update.
#'
#' @param object A model compiled with [optimizer_schedule_free_adam_w()] (also
#'   inside [optimizer_loss_scale()], or as one of the optimizers of
#'   [optimizer_multi()]), or that optimizer itself.
#' @param to `"averaged"` to put `x` in the model, `"training"` to put `y` back.
#' @param expr Code to evaluate with the averaged weights in the model.
#'
#' @returns `schedule_free_averaged_weights()`: a list of arrays.
#'   `swap_schedule_free_weights()`: `object`, invisibly.
#'   `schedule_free_weights_in_model()`: `"averaged"` or `"training"`.
#'   `with_schedule_free_averaged_weights()`: the value of `expr`.
#'
#' @references
#' Defazio, Yang, Mehta, Mishchenko, Khaled and Cutkosky, 2024. *The Road Less
#' Scheduled*. <https://arxiv.org/abs/2405.15682>
#'
#' @seealso [callback_swap_schedule_free_weights()], [optimizer_schedule_free_adam_w()]
#' @export
#' @examplesIf keras3r_available()
#' keras <- reticulate::import("keras")
#' x <- matrix(rnorm(400), ncol = 4)
#' y <- x %*% c(1, -2, 0.5, 3) + rnorm(100)
#' model <- keras$Sequential(list(keras$Input(shape = list(4L)), keras$layers$Dense(1L)))
#' model$compile(optimizer = optimizer_schedule_free_adam_w(learning_rate = 0.1), loss = "mse")
#' model$fit(x, y, epochs = 2L, batch_size = 10L, verbose = 0L)
#' schedule_free_averaged_weights(model)
#' with_schedule_free_averaged_weights(model, model$evaluate(x, y, verbose = 0L))
#' swap_schedule_free_weights(model, "averaged")   # e.g. before predict() or saving
#' schedule_free_weights_in_model(model)
#' swap_schedule_free_weights(model, "training")   # before training on
schedule_free_averaged_weights <- function(object) {
  keras3r_py$schedule_free_averaged_weights(object)
}

#' @rdname schedule_free_averaged_weights
#' @export
swap_schedule_free_weights <- function(object, to = c("averaged", "training")) {
  if (!is.character(to) || anyNA(to) || length(to) == 0L) {
    arg_error("swap_schedule_free_weights", "to", 'must be "averaged" or "training".')
  }
  to <- tryCatch(match.arg(to), error = function(e) {
    arg_error("swap_schedule_free_weights", "to", 'must be "averaged" or "training".')
  })
  keras3r_py$swap_schedule_free_weights(object, to)
  invisible(object)
}

#' @rdname schedule_free_averaged_weights
#' @export
schedule_free_weights_in_model <- function(object) {
  keras3r_py$schedule_free_weights_in_model(object)
}

#' @rdname schedule_free_averaged_weights
#' @export
with_schedule_free_averaged_weights <- function(object, expr) {
  before <- schedule_free_weights_in_model(object)
  swap_schedule_free_weights(object, "averaged")
  on.exit(swap_schedule_free_weights(object, before), add = TRUE)
  expr
}

#' Evaluate a schedule-free model at its averaged weights during `fit()`
#'
#' @description
#' A Keras callback for models trained with [optimizer_schedule_free_adam_w()],
#' in the manner of keras3's `callback_swap_ema_weights()`: before every
#' evaluation it is part of (the validation of `fit()`, or `evaluate()` and
#' `predict()` given it as a callback) it puts the averaged weights `x` into
#' the model, and afterwards the training weights `y` again (see
#' [schedule_free_averaged_weights()]). Training itself is unchanged: the steps
#' are the same as without the callback.
#'
#' @param swap_on_epoch If `TRUE`, `x` also stays in the model from the end of
#'   each epoch until the next one begins, so that callbacks placed after this
#'   one in the list (a model checkpoint, say) see `x`.
#' @param averaged_after_fit If `TRUE` (the default), `fit()` ends with `x` in
#'   the model, ready for `predict()` and saving; the next `fit()` given this
#'   callback puts `y` back before its first step (call
#'   `swap_schedule_free_weights(model, "training")` before training without
#'   it). If `FALSE`, `fit()` ends with `y` in the model.
#'
#' @returns A Keras `Callback`, to pass in `fit()`'s `callbacks` list.
#' @seealso [schedule_free_averaged_weights()], [optimizer_schedule_free_adam_w()]
#' @export
#' @examplesIf keras3r_available()
#' keras <- reticulate::import("keras")
#' x <- matrix(rnorm(400), ncol = 4)
#' y <- x %*% c(1, -2, 0.5, 3) + rnorm(100)
#' model <- keras$Sequential(list(keras$Input(shape = list(4L)), keras$layers$Dense(1L)))
#' model$compile(optimizer = optimizer_schedule_free_adam_w(learning_rate = 0.1), loss = "mse")
#' history <- model$fit(
#'   x, y, epochs = 2L, batch_size = 10L, verbose = 0L, validation_split = 0.2,
#'   callbacks = list(callback_swap_schedule_free_weights())
#' )
#' schedule_free_weights_in_model(model)  # "averaged"
callback_swap_schedule_free_weights <- function(swap_on_epoch = FALSE,
                                                averaged_after_fit = TRUE) {
  fun <- "callback_swap_schedule_free_weights"
  flags <- list(swap_on_epoch = swap_on_epoch, averaged_after_fit = averaged_after_fit)
  for (name in names(flags)) {
    value <- flags[[name]]
    if (!is.logical(value) || length(value) != 1L || is.na(value)) {
      arg_error(fun, name, "must be TRUE or FALSE.", value = value)
    }
  }
  keras3r_py$callback_swap_schedule_free_weights(
    swap_on_epoch = swap_on_epoch, averaged_after_fit = averaged_after_fit
  )
}
