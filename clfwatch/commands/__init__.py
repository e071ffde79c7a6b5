"""Command groups of the ``clfwatch`` console script."""


class CommandError(Exception):
    """An expected failure: printed as one line, exit code non-zero."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
