# Train a small regression model from R with keras3r's optimizer_adam_w and a
# cosine-decay learning-rate schedule.
library(keras3r)
if (!keras3r_available()) {
  stop("this demo needs the Python side of keras3r: run install_keras3r() once, ",
       "restart R, and run the demo again.", call. = FALSE)
}
keras <- reticulate::import("keras")

keras$utils$set_random_seed(42L)
set.seed(42)
x <- matrix(rnorm(1024 * 8), ncol = 8)
y <- x %*% rnorm(8) + 0.1 * rnorm(1024)

model <- keras$Sequential(list(
  keras$Input(shape = list(8L)),
  keras$layers$Dense(32L, activation = "relu"),
  keras$layers$Dense(1L)
))
model$compile(
  optimizer = optimizer_adam_w(
    learning_rate = learning_rate_schedule_cosine_decay(1e-2, decay_steps = 320)
  ),
  loss = "mse"
)
cat(sprintf("R: Keras %s on %s, optimizer %s named \"%s\"\n",
            keras$`__version__`, keras$backend$backend(),
            class(model$optimizer)[1], model$optimizer$name))
history <- model$fit(x, y, epochs = 10L, batch_size = 32L, verbose = 2L)
loss <- unlist(history$history$loss)
cat(sprintf("R: loss %.4f -> %.4f\n", loss[1], loss[length(loss)]))
