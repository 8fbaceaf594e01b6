library(testthat)
library(keras3r)

test_check("keras3r")
