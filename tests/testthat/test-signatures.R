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

test_that("the newest optimizers put `...` last and keep integer defaults", {
  for (name in c("optimizer_lamb", "optimizer_muon", "optimizer_schedule_free_adam_w")) {
    f <- names(formals(getExportedValue("keras3r", name)))
    expect_identical(f[[length(f)]], "...", label = name)
  }
  expect_type(formals(optimizer_muon)$ns_steps, "integer")
  expect_type(formals(optimizer_muon)$adam_lr_ratio, "double")
  expect_type(formals(optimizer_schedule_free_adam_w)$warmup_steps, "integer")
})
