# keras3r's testthat suite against the package installed from the clone.
library(testthat)
library(keras3r)
Sys.setenv(KERAS3R_SOURCE = normalizePath("clone"))
keras3r_available()
test_dir("clone/tests/testthat", package = "keras3r", load_package = "installed",
         reporter = ProgressReporter$new(show_praise = FALSE, update_interval = 60),
         stop_on_failure = TRUE)
