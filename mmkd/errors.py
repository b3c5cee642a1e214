"""The errors mmkd raises for a user's mistake: one family, :class:`MMKDError`, whose messages name
the config key, file or tensor at fault and what was expected. Each also derives from the
builtin exception a Python user would expect (``KeyError`` for a config key, ``ValueError`` for a
bad value or file content, ...), so ``except ValueError`` keeps working. The tools print these in
one or two lines (:mod:`mmkd.engine.cli`); anything else is a bug and keeps its traceback."""


class MMKDError(Exception):
    """A user-facing error; ``str()`` is the message as written."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class ConfigError(MMKDError, KeyError):
    """A config key that is missing, unknown, misspelt or maps to nothing."""


class InvalidValueError(MMKDError, ValueError):
    """A value, a shape or a file's content that is not what was expected."""


class MissingFileError(MMKDError, FileNotFoundError):
    """A file or folder that is not there."""


class WrongTypeError(MMKDError, TypeError):
    """An object of the wrong kind (a model, a file format, a dtype)."""


class StateError(MMKDError, RuntimeError):
    """Something that is in the wrong state: a cache that does not fit, a recorder that holds
    nothing, a training that went non-finite."""


class OutOfRangeError(MMKDError, IndexError):
    """An index outside a dataset or a list."""


class MissingPackageError(MMKDError, ImportError):
    """An optional package that is not installed; the message says how to install it."""
