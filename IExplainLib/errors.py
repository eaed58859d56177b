"""User-facing errors.

Every entry point (CLI, Slicer module, subprocess worker) catches :class:`IExplainError` and shows its message as one
line; anything else is a bug and keeps its traceback (shown by the CLI only with ``--debug``).
"""


class IExplainError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class InputError(IExplainError):
    """An input file or folder is missing, unreadable, or not what the command needs."""


class UnsupportedInputError(InputError):
    """The input is readable but deliberately refused (localizer only, unsupported transfer syntax, ...)."""


class ModelFileError(IExplainError):
    """A model file is missing, truncated, of the wrong architecture, or not a safetensors file."""


class OutputExistsError(IExplainError):
    """The output already exists and ``overwrite`` was not requested."""
