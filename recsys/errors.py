"""Typed errors with actionable one-line messages.

Every error a user can cause derives from :class:`RecsysError`; the CLI prints its
message on one line and exits with :attr:`RecsysError.exit_code` (2).
"""

from __future__ import annotations


class RecsysError(Exception):
    """Base of all user-facing errors: the message says what is wrong and where."""

    exit_code: int = 2


class ConfigError(RecsysError):
    """A configuration file, key or value is invalid."""


class InputFileError(RecsysError):
    """An input file is missing, empty, unreadable or not in the expected format."""


class BadRowError(RecsysError):
    """A raw row is malformed (raised under ``--strict``); names file and line."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = path, line, reason

    def __reduce__(self) -> tuple:  # picklable: it crosses process boundaries (Ray tasks)
        return (BadRowError, (self.path, self.line, self.reason))


class DataDirError(RecsysError):
    """A prepared DATA_DIR is missing, incomplete or from another format version."""


class ModelError(RecsysError):
    """An unknown model name or an invalid model/embedding combination."""


class TrainingError(RecsysError):
    """Training cannot continue (for example a non-finite loss)."""


class BundleError(RecsysError):
    """An exported bundle is incomplete or does not match its features artifact."""


class OutputError(RecsysError):
    """An ``--out`` path holds something this verb must not replace."""
