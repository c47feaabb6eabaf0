"""The one user-facing error family. The UI and the CLI show `str(error)` as it is, never a traceback.

Messages say what was wrong, echo the value, and say what to do.
"""


class ListingError(Exception):
    """Base of every error a user should read. CLI exit code 1 unless a subclass says otherwise."""

    exit_code = 1


class BadInput(ListingError):
    """The user gave something we cannot use (file, id, flag value). CLI exit code 2."""

    exit_code = 2


class Refused(ListingError):
    """A valid request the rules do not allow (consent, channel rule, busy background). Exit code 2."""

    exit_code = 2


class EngineUnavailable(ListingError):
    """An engine, model or weights folder is missing; the message says how to get it. Exit code 2."""

    exit_code = 2


class NotFound(BadInput):
    """A SKU, candidate, plate or asset id that the catalog does not know."""
