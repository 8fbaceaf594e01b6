#' @details
#' keras3r builds the optimizers and learning-rate schedules of Keras 3 from R,
#' with the function names, arguments, defaults and help pages of the keras3 R
#' package. Each function checks its arguments in R (an `NA`, a vector where one
#' value is meant, a misspelt argument name are refused with an error of class
#' `keras3r_argument_error` that names the argument), then asks the Python package of the same name to build the
#' object. What comes back is a plain Keras object: give it to
#' `model$compile(optimizer = )`, drive it yourself with `opt$apply()`, or save
#' it with a model that loads later in Keras without keras3r.
#'
#' @section Installing the Python side:
#' The R functions need Python with Keras and a backend; the Python half of
#' keras3r itself ships inside this R package. Run [install_keras3r()] once: it
#' makes a Python virtualenv for keras3r (TensorFlow on the CPU by default,
#' about 1.6 GB) and keras3r uses it at once, and in every later session. [keras3r_available()] says whether that Python is ready,
#' and [uninstall_keras3r()] removes what `install_keras3r()` made.
#' To use a Python of your own instead, set the environment variable
#' `RETICULATE_PYTHON` to it before loading keras3r.
#'
#' @section Where to start:
#' * The vignette, `vignette("keras3r")`, walks from installing to a trained
#'   model: building optimizers and schedules, `fit()`, a training loop of your
#'   own with `opt$apply()`, and saving and loading the model.
#' * `demo("train", package = "keras3r")` trains a small regression model with
#'   [optimizer_adam_w()] and a cosine-decay schedule.
#' * Every help page ends with runnable examples.
#'
#' @section The functions:
#' * Optimizers, `optimizer_*()`: for example [optimizer_adam_w()],
#'   [optimizer_adam()], [optimizer_sgd()] and [optimizer_lion()]. Each
#'   help page lists the others under "See Also".
#' * Learning-rate schedules, `learning_rate_schedule_*()`: for example
#'   [learning_rate_schedule_cosine_decay()] and
#'   [learning_rate_schedule_exponential_decay()]. A schedule goes wherever an
#'   optimizer takes a `learning_rate`.
#' * Newer optimizers: [optimizer_lamb()], [optimizer_muon()],
#'   [optimizer_schedule_free_adam_w()], and [optimizer_multi()] with
#'   [optimizer_map()] to give groups of variables optimizers of their own.
#' * Schedules written in R: [new_learning_rate_schedule_class()].
#' * Set-up: [install_keras3r()], [keras3r_available()] and
#'   [uninstall_keras3r()].
#' * keras3r's additions to an optimizer: [plain()] removes them, and
#'   [adapt_optimizer()] gives them to one that Keras made (a loaded model's).
#'
#' @keywords package
"_PACKAGE"
