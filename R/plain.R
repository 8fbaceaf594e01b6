# The way back to stock Keras and forth: thin calls into the Python modules
# keras3r.adapt and keras3r.adapt.

#' Remove keras3r's extra behaviour from an optimizer
#'
#' @description
#' An optimizer made by a keras3r function is the Keras class with Keras's
#' config, but the one object behaves better in a few ways: an eager
#' `optimizer$apply()` runs one compiled update, gradient clipping under
#' `tf.distribute` acts on the summed gradient, a learning-rate function is
#' refused where a compiled step would freeze it, and a few optimizers check
#' their set-up when they are built. `plain()` takes all of that away, so that
#' the optimizer is exactly what Keras itself builds from the same config:
#' useful to tell whether keras3r plays a part in something you see.
#'
#' @details
#' `plain()` changes the optimizer itself (a model compiled with it uses the
#' stock optimizer from then on) and returns it. Its config and its state
#' (slots, iteration count) are kept; only keras3r's additions go, from the
#' optimizer and from any optimizer it wraps ([optimizer_loss_scale()]'s inner
#' optimizer, the optimizers of [optimizer_multi()]). A Keras optimizer that
#' keras3r did not make is returned as it is. A model that holds
#' schedule-free AdamW's averaged weights must get its training weights back
#' first ([swap_schedule_free_weights()]).
#'
#' @param optimizer A Keras optimizer, such as one made by [optimizer_adam_w()].
#'
#' @returns `optimizer`, now a stock Keras optimizer.
#'
#' @seealso [optimizer_adam_w()] and the other optimizers.
#' @export
#' @examplesIf keras3r_available()
#' opt <- optimizer_adam_w(learning_rate = 0.01)
#' opt <- plain(opt)   # stock Keras from here on
#' keras <- reticulate::import("keras")
#' w <- keras$Variable(c(1, 2, 3))
#' opt$apply(list(keras$ops$ones(3L)), list(w))  # Keras's own eager update
plain <- function(optimizer) {
  if (!inherits(optimizer, "python.builtin.object")) {
    arg_error("plain", "optimizer",
              sprintf("must be a Keras optimizer, not %s.", r_spelling(optimizer)))
  }
  keras3r_py$plain(optimizer)
}

#' Give an optimizer that Keras made keras3r's behaviour
#'
#' @description
#' keras3r's additions (see [plain()]) live on the optimizer object, not in its
#' config, so that a saved model stays a plain Keras file. An optimizer that
#' Keras makes from a config, in `keras$models$load_model()` or a class's
#' `from_config()`, is therefore stock Keras. `adapt_optimizer()` gives it
#' keras3r's behaviour: afterwards it acts as the optimizer that the keras3r
#' function of its class builds from the same config, with its variables and
#' state as they were.
#'
#' @details
#' A copy made with Python's `copy.deepcopy()` of an optimizer made by keras3r
#' keeps keras3r's behaviour by itself. `adapt_optimizer()` changes the
#' optimizer in place and returns it; optimizers it wraps
#' ([optimizer_loss_scale()]'s inner optimizer, the optimizers of
#' [optimizer_multi()]) are adapted too, and an optimizer that already has
#' keras3r's behaviour is returned as it is. [plain()] does the reverse.
#'
#' keras3r does not do this by itself when a model is loaded, because it
#' cannot tell: the saved file is plain Keras and does not say that keras3r
#' built its optimizer (Keras refuses a file that names anything but its own
#' class for a Keras optimizer), and catching every load would mean changing
#' Keras's optimizer classes for everything else in the session. After
#' loading a model trained with a keras3r optimizer, call
#' `adapt_optimizer(model$optimizer)` before training on.
#'
#' @param optimizer A Keras optimizer, such as `model$optimizer` of a loaded
#'   model.
#'
#' @returns `optimizer`, now with keras3r's behaviour.
#'
#' @seealso [plain()], [optimizer_adam_w()] and the other optimizers.
#' @export
#' @examplesIf keras3r_available()
#' keras <- reticulate::import("keras")
#' opt <- keras$optimizers$AdamW(learning_rate = 0.01)  # stock Keras
#' opt <- adapt_optimizer(opt)
#' w <- keras$Variable(c(1, 2, 3))
#' opt$apply(list(keras$ops$ones(3L)), list(w))  # keras3r's compiled update
adapt_optimizer <- function(optimizer) {
  if (!inherits(optimizer, "python.builtin.object")) {
    arg_error("adapt_optimizer", "optimizer",
              sprintf("must be a Keras optimizer, not %s.", r_spelling(optimizer)))
  }
  keras3r_py$adapt_optimizer(optimizer)
}
