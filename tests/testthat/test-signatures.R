test_that("every family function has the contract's formals, `...` included", {
  expected <- contract_signatures()
  expect_length(expected, 21L)
  expect_false(anyDuplicated(names(expected)) > 0L)
  for (name in names(expected)) {
    fun <- getExportedValue("keras3r", name)
    expect_identical(usage_of(fun), expected[[name]], label = name)
  }
})

test_that("defaults keep their R types: doubles, integers, logicals, NULL", {
  f <- formals(optimizer_loss_scale)
  expect_type(f$initial_scale, "double")
  expect_type(f$dynamic_growth_steps, "integer")
  expect_type(formals(learning_rate_schedule_cosine_decay)$warmup_steps, "integer")
  expect_null(formals(optimizer_adam_w)$clipnorm)
  expect_false(formals(optimizer_adam_w)$amsgrad)
  expect_identical(names(formals(optimizer_adam_w))[14:16],
                   c("...", "loss_scale_factor", "gradient_accumulation_steps"))
})

test_that("the newest optimizers put `...` last but Muon's two new arguments", {
  # Muon keeps keras3 R 1.5's order before `...`; Keras 3.15's two additions follow it.
  after_dots <- list(optimizer_lamb = character(),
                     optimizer_muon = c("adam_weight_decay", "rms_rate"),
                     optimizer_schedule_free_adam_w = character())
  for (name in names(after_dots)) {
    f <- names(formals(getExportedValue("keras3r", name)))
    expect_identical(f[-seq_len(match("...", f))], after_dots[[name]], label = name)
  }
  expect_identical(names(formals(optimizer_muon))[1:5],
                   c("learning_rate", "adam_beta_1", "adam_beta_2", "epsilon", "weight_decay"))
  expect_type(formals(optimizer_muon)$ns_steps, "integer")
  expect_type(formals(optimizer_muon)$adam_lr_ratio, "double")
  expect_type(formals(optimizer_schedule_free_adam_w)$warmup_steps, "integer")
})
