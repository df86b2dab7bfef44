"""User-facing errors: the CLI and the API turn these into one line or a JSON error."""

from __future__ import annotations


class PowerdeskError(Exception):
    """An error whose message is meant for the user as it is (one line, no traceback)."""


class InputFileError(PowerdeskError):
    """A bad input file: names the file, the row when known, and the problem."""

    def __init__(self, path: str, problem: str, row: int | None = None) -> None:
        where = f"{path}" if row is None else f"{path}, row {row}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.row = row
        self.problem = problem


class NotFoundError(PowerdeskError):
    """A requested record does not exist."""


class ConflictError(PowerdeskError):
    """The request conflicts with what is recorded (duplicate key, stale state)."""
