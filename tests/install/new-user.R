library(keras3r)
keras3r_available()
install_keras3r()
keras3r_available()

opt <- optimizer_adam_w(learning_rate = 0.01)
opt

# The first model (tests/install/first-model.R):
source("first-model.R", echo = TRUE, keep.source = TRUE, max.deparse.length = Inf)

uninstall_keras3r()
stopifnot(!reticulate::virtualenv_exists("r-keras3r"))
