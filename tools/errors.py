"""The one user-facing error family. The UI and the CLI show `str(error)` as it is, never a traceback.

Messages say what was wrong, echo the value, and say what to do. `storage_problem` turns a full disk
or an unusable path (OSError, SQLite errors) into one of these.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path


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


class OutOfSpace(ListingError):
    """The disk is full (or over quota). Nothing stored is lost: every write is all-or-nothing. Exit code 1."""


def storage_problem(error: BaseException, home: Path) -> ListingError | None:
    """The one line to show for an OSError or SQLite error from the file system, or None when it is not one.

    A full disk says where and that nothing was lost (writes are atomic, SQLite rolls back); a path we
    cannot use says which and what to do: exit 2 when the user named it, 1 when it is the home folder.
    """
    home = Path(home)
    if isinstance(error, sqlite3.Error):
        text = str(error)
        if "full" in text or (("disk I/O" in text or "unable to open" in text) and _nearly_full(home)):
            return OutOfSpace(f"no space left in the home folder {home}: free space and retry; nothing was lost")
        if isinstance(error, sqlite3.OperationalError) and ("disk I/O" in text or "unable to open" in text
                                                            or "readonly" in text):
            return ListingError(f"the catalog in {home} cannot be written ({text}): check the disk and the "
                                "folder's permissions, then retry; nothing was lost")
        return None
    if not isinstance(error, OSError):
        return None
    name = error.filename
    inside_home = name is not None and _inside(Path(name), home)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f"the home folder {home}" if name is None or inside_home else str(Path(name).parent)
        return OutOfSpace(f"no space left in {where}: free space and retry; nothing was lost")
    if name is None:
        return None
    reason = (error.strerror or type(error).__name__).lower()
    if inside_home:
        return ListingError(f"cannot use the home folder {home} ({name}: {reason}): check its permissions and "
                            "free space, then retry; nothing was lost")
    return BadInput(f"cannot use {name}: {reason}; choose a path you can read and write")


def write_problem(error: OSError, target: Path, what: str) -> ListingError:
    """Writing `what` (e.g. "the pack") into the user's `target` failed: a full disk, or a path we cannot
    write (exit 2: the user chose it). Callers write aside and rename, so nothing there was lost."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutOfSpace(f"no space left in {target}: free space and retry; nothing was lost")
    reason = (error.strerror or type(error).__name__).lower()
    return BadInput(f"cannot write {what} into {target}: {reason}; choose a folder you can write to")


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        return False


def _nearly_full(folder: Path, margin: int = 1 << 20) -> bool:
    """SQLite reports a full disk as "disk I/O error" when the journal cannot grow: look at the free space."""
    try:
        return shutil.disk_usage(folder if folder.exists() else folder.parent).free < margin
    except OSError:
        return False
