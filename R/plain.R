# The way back to stock Keras: a thin call into the Python module keras3r.stock.

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
  keras3r_py$stock$plain(optimizer)
}
