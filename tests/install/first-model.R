# A new user's first model, trained with optimizer_adam_w() from an R matrix;
# run by tests/install/new-user.R and tests/r-next/first-session.R, where `opt`
# is the optimizer. Stops unless the model learnt.
keras <- reticulate::import("keras")
keras$utils$set_random_seed(1L)
set.seed(1)
x <- matrix(runif(1024), ncol = 4)
y <- x %*% c(1, -2, 3, 0.5)
model <- keras$Sequential(list(keras$Input(shape = list(4L)), keras$layers$Dense(1L)))
model$compile(optimizer = opt, loss = "mse")
history <- model$fit(x, y, epochs = 30L, batch_size = 32L, verbose = 0L)
loss <- unlist(history$history$loss)
round(loss[c(1, length(loss))], 4)

# The model learnt, with the Python module that this R package ships (not a
# keras3r folder in the working directory).
stopifnot(loss[length(loss)] < loss[1] / 2)
stopifnot(startsWith(keras3r:::python_module()$`__file__`,
                     system.file("python", package = "keras3r")))
