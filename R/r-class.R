# The machinery shared by the Keras classes written in R through
# reticulate::PyClass(): new_learning_rate_schedule_class() and
# new_optimizer_class(). Their methods are R functions that find `self`,
# `private`, `super` and `__class__` by name, as in keras3's classes.

# The arguments common to both constructors, refused as keras3r_argument_error
# naming `fun`: `classname`, the named methods (`methods`, each a function or
# NULL), the further members of `...` and `public`, and `private`.
check_r_class_args <- function(fun, classname, methods, members, private) {
  if (!is.character(classname) || length(classname) != 1L || is.na(classname) ||
      !grepl("^[A-Za-z_][A-Za-z0-9_]*$", classname)) {
    stop(argument_error(sprintf(
      "%s(): `classname` must be one string that is a valid Python class name.", fun
    ), fun, argument = "classname"))
  }
  for (name in names(methods)) {
    value <- methods[[name]]
    if (!is.null(value) && !is.function(value)) {
      stop(argument_error(sprintf("%s(): `%s` must be a function or NULL.", fun, name),
                          fun, argument = name))
    }
  }
  if (length(members) && (is.null(names(members)) || !all(nzchar(names(members))))) {
    stop(argument_error(sprintf(
      "%s(): every method or field in `...` and `public` must be named.", fun
    ), fun, argument = "..."))
  }
  if (!is.list(private) || (length(private) && (is.null(names(private)) ||
                                                 !all(nzchar(names(private)))))) {
    stop(argument_error(sprintf("%s(): `private` must be a named list.", fun),
                        fun, argument = "private"))
  }
  invisible(NULL)
}

# The class body for PyClass(): each R function of `methods` (named as in
# Python, NULL ones dropped) made a Python method by r_class_method(), then
# passed through `wrap(method, name)`; other members stay values. The methods
# named in `returns_none` return None, as Python's __init__ must.
# `make_super(class_ref, self)` is what `super` is inside a method. Returns
# the body and `class_ref`, the environment whose `cls` the caller sets to the
# class once PyClass() made it: the methods read it when they run.
r_class_defs <- function(methods, private, parent_env, make_super,
                         returns_none = "__init__", wrap = function(method, name) method) {
  methods <- methods[!vapply(methods, is.null, logical(1))]
  class_ref <- new.env(parent = emptyenv())
  defs <- lapply(names(methods), function(name) {
    member <- methods[[name]]
    if (!is.function(member)) return(member)
    wrap(r_class_method(member, class_ref, private, parent_env, make_super,
                        returns_none = name %in% returns_none), name)
  })
  names(defs) <- names(methods)
  # Keras writes the class's module and name into a saved model: "__main__",
  # the R session, where no Python import can find it, so loading asks for the
  # class as a custom object.
  defs[["__module__"]] <- "__main__"
  list(defs = defs, class_ref = class_ref)
}

# A Python method from an R function of a class: `self`, `private`, `super`
# and `__class__` are found by name, not taken as arguments.
r_class_method <- function(fn, class_ref, private_members, parent_env, make_super,
                           returns_none = FALSE) {
  force(fn)
  function(self, ...) {
    env <- new.env(parent = parent_env)
    env$self <- self
    env$private <- r_class_private(self, private_members, class_ref, parent_env, make_super)
    env$`__class__` <- class_ref$cls
    env$super <- make_super(class_ref, self)
    environment(fn) <- env
    value <- fn(...)
    if (returns_none || is.null(value)) NULL else value
  }
}

# `super()`, Python's super() for the class.
python_super <- function(class_ref, self) {
  function(type = class_ref$cls, object = self) {
    reticulate::import_builtins()$super(type, object)
  }
}

# Each object's private environment for one class, made on first use from
# that class's `private`: a class extending another has its own, so that the
# parent's methods, run through super, still find the parent's members.
r_class_private_envs <- new.env(parent = emptyenv())

r_class_private <- function(self, members, class_ref, parent_env, make_super) {
  key <- paste(reticulate::py_id(self), reticulate::py_id(class_ref$cls))
  env <- r_class_private_envs[[key]]
  if (is.null(env)) {
    env <- new.env(parent = emptyenv())
    # Stored before it is filled: the private functions look it up when they run.
    assign(key, env, envir = r_class_private_envs)
    for (name in names(members)) {
      member <- members[[name]]
      if (is.function(member)) {
        method <- r_class_method(member, class_ref, members, parent_env, make_super)
        member <- local({
          m <- method
          function(...) m(self, ...)
        })
      }
      assign(name, member, envir = env)
    }
  }
  env
}
