"""The one refusal every backend raises: a construct it cannot lower yet.

The backend's entry point turns it into an `ArchspecError` at the spec's location, so a user
sees a located error (never this class, never a traceback).
"""


class Unsupported(Exception):
    """A construct a backend cannot write yet; the message says which and where."""

    def __init__(self, message: str, span=None):
        super().__init__(message)
        self.message, self.span = message, span
