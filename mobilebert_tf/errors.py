"""The one base class of errors that are the user's input or environment, not our bug.

``mobilebert`` (mobilebert_tf/cli.py) catches :class:`MobileBertError` by type and prints its message with
exit code 1; anything else keeps its traceback. Filesystem faults (full disk, no permission, a file where a
folder is expected) become :class:`PathError` at the boundary where the path is known (:func:`path_error`).
"""
from __future__ import annotations

import errno
import os

__all__ = ["MobileBertError", "UsageError", "PathError", "DirectoryInUseError", "path_error", "USER_OS_ERRNOS"]


class MobileBertError(Exception):
    """Base of every error whose message is meant for the user (bad input, bad flags, full disk, ...).

    Example:
        >>> raise UsageError("--out x.tflite is a directory")
    """


class UsageError(MobileBertError, ValueError):
    """A flag or a combination of flags that cannot work; the message names the flag."""


class PathError(MobileBertError, OSError):
    """A file or folder cannot be read or written (no space, no permission, wrong kind); names the path."""


class DirectoryInUseError(MobileBertError):
    """Another process holds the directory's lock (``DIR is in use by PID n``)."""


# errno -> what the user should read; these are the environment's faults, not ours.
_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "is a directory (expected a file)",
    errno.ENOTDIR: "a path component is a file (expected a directory)",
    errno.EEXIST: "already exists",
    errno.ENOENT: "no such file or directory",
    errno.EIO: "input/output error",
    errno.ENAMETOOLONG: "file name too long",
}
USER_OS_ERRNOS = frozenset(_REASONS)


def path_error(e: OSError, path: str | os.PathLike | None = None, doing: str = "access") -> PathError:
    """A :class:`PathError` naming ``path`` (default: the OSError's own file name) for an OSError ``e``.

    Args:
        e: the OSError raised by the filesystem.
        path: the file or folder the user named (or the one written); default ``e.filename``.
        doing: a verb phrase, e.g. "write", "read", "create the folder".

    Returns:
        The PathError to raise (``raise path_error(e, out, "write") from e``).

    Example:
        >>> path_error(OSError(errno.ENOSPC, "No space left on device"), "/data/out", "write").args[0]
        'cannot write /data/out: no space left on device'
    """
    where = os.fspath(path) if path is not None else (e.filename or "?")
    reason = _REASONS.get(e.errno, e.strerror or str(e))
    err = PathError(f"cannot {doing} {where}: {reason}")
    err.errno = e.errno
    return err
