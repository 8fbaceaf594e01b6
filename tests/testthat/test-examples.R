# The examples of the optimizer and schedule pages, run as R CMD check and
# pkgdown run them: each must run and print something (a value, an object),
# so that a reader sees what the code gives without running it.

example_output <- function(rd) {
  script <- tempfile(fileext = ".R")
  on.exit(unlink(script))
  tools::Rd2ex(rd, script)
  # @examplesIf wraps the code in withAutoprint(): every top-level value prints.
  utils::capture.output(source(script, local = new.env(), echo = FALSE))
}

test_that("every optimizer and schedule page has examples that print what they give", {
  pages <- Filter(function(rd) {
    any(rd_field(rd, "\\concept") %in% c("optimizers", "learning rate schedules"))
  }, rd_pages())
  expect_gte(length(pages), 23L)
  for (file in names(pages)) {
    out <- example_output(pages[[file]])
    printed <- out[!startsWith(out, "> ") & !startsWith(out, "+ ")]
    expect_true(length(printed) > 0L, label = paste(file, "prints a value or an object"))
  }
})

test_that("an optimizer's example shows the optimizer and its weights after one step", {
  out <- example_output(rd_page("optimizer_sgd.Rd"))
  expect_true("<SGD \"SGD\"> optimizer" %in% out)
  expect_true("[1] 0.9 1.9 2.9" %in% out)  # 1 - 0.1 * 1: the first step has no momentum yet
})

test_that("a schedule's example shows the schedule and its rates", {
  out <- example_output(rd_page("learning_rate_schedule_exponential_decay.Rd"))
  expect_true(any(startsWith(out, "<ExponentialDecay \"ExponentialDecay\">")))
  expect_true("[1] 0.100 0.050 0.025" %in% out)  # 0.1 * 0.5 ^ (step / 500)
})
