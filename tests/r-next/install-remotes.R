# The ways remotes installs a package from GitHub: a built tarball of a local
# copy, and a git clone (what install_github() and pak do, over the network).
lib <- Sys.getenv("R_LIBS")
remotes::install_local("clone", build = TRUE, lib = lib, upgrade = "never",
                       dependencies = FALSE, force = TRUE, quiet = TRUE)
stopifnot(file.exists(system.file("python", "keras3r", "__init__.py", package = "keras3r",
                                  lib.loc = lib)))
remove.packages("keras3r", lib = lib)
remotes::install_git(paste0("file://", normalizePath("clone")), lib = lib, upgrade = "never",
                     dependencies = FALSE, force = TRUE, quiet = TRUE)
stopifnot(file.exists(system.file("python", "keras3r", "__init__.py", package = "keras3r",
                                  lib.loc = lib)))
packageDescription("keras3r", lib.loc = lib)$RemoteType
