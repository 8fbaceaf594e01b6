# A new user's first session with the package installed from GitHub: no
# install_keras3r(); reticulate provides Python from what keras3r declares
# (py_require()), or uses RETICULATE_PYTHON where it is set.
library(keras3r)
# This machine cannot download uv's Python builds, and reticulate 1.41 asks uv
# for those alone (`uv run --python-preference only-managed`, whatever
# UV_PYTHON_PREFERENCE says), so the session names Debian's Python for uv to
# build the environment on. Where downloads work, this line is not needed.
if (!nzchar(Sys.getenv("RETICULATE_PYTHON"))) {
  reticulate::py_require(python_version = unname(Sys.which("python3.13")))
}
opt <- optimizer_adam_w(learning_rate = 0.01)
opt
reticulate::py_config()$python

# The first model (tests/install/first-model.R):
source("first-model.R", echo = TRUE, keep.source = TRUE, max.deparse.length = Inf)
