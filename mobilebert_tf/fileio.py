"""Atomic file writes, output-folder checks, leftovers clean-up and the exclusive lock of a run or model
directory: the one place for each (every writer in the package goes through here).

A file is written to ``NAME.tmp-PID`` beside its target, flushed and fsync'ed, given mode 0644 (like any
file created under the usual umask) and renamed over the target with ``os.replace``: a reader sees the old
file or the new one, never half of one. OSErrors become :class:`~mobilebert_tf.errors.PathError` naming the
target. A crash can leave ``*.tmp-PID`` files, ``.staging-PID/`` folders, ``.part-*.tmpPID`` files and
TensorFlow's ``ckpt-N_temp/`` folders behind; :func:`clean_leftovers` removes those whose process is gone.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from mobilebert_tf.errors import USER_OS_ERRNOS, DirectoryInUseError, PathError, path_error

__all__ = ["FILE_MODE", "atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_copy",
           "check_output_dir", "check_output_file", "clean_leftovers", "lock_dir", "LOCK_FILE", "path_errors"]

FILE_MODE = 0o644
LOCK_FILE = ".lock"
# leftovers of a writer that died: NAME.tmp-PID, NAME.tmpPID (.part-*), .staging-PID/, ckpt-N_temp/
_LEFTOVER = re.compile(r"(?:.*\.tmp-?(?P<pid>\d+)|\.staging-(?P<spid>\d+)|\.part-.*\.tmp(?P<ppid>\d+)"
                       r"|ckpt-\d+_temp)$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, mode: int = FILE_MODE) -> Iterator[str]:
    """Yield a temp path beside ``path`` for a writer that wants a file name (safetensors, TFLite, ...);
    on success it is fsync'ed, chmod'ed to ``mode`` and renamed over ``path``; on any error it is removed.

    Args:
        path: the final file.
        mode: permission bits of the final file (default 0644).

    Returns:
        A context manager yielding the temporary file name.

    Example:
        >>> with atomic_path("out/weights.safetensors") as tmp:
        ...     save_file(arrays, tmp)
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise PathError(f"cannot write {path}: is a directory (expected a file)")
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with path_errors(path):
            yield tmp
        try:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except OSError as e:
            raise path_error(e, path, "write") from e
        _fsync_dir(os.path.dirname(path) or ".")
    except OSError as e:
        if isinstance(e, PathError):
            raise
        raise path_error(e, path, "write") from e
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename), mode 0644.

    Args:
        path: the final file.
        data: its content.
        mode: permission bits (default 0644).

    Example:
        >>> atomic_write_bytes("model.tflite", flatbuffer)
    """
    with atomic_path(path, mode=mode) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, *, mode: int = FILE_MODE) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write_bytes`.

    Example:
        >>> atomic_write_text("vocab.txt", "[PAD]\\n[UNK]\\n")
    """
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def atomic_write_json(path: str | os.PathLike, payload: Any, *, indent: int | None = 2, sort_keys: bool = False,
                      ensure_ascii: bool = False) -> None:
    """Write ``payload`` as JSON (plus a final newline) to ``path`` atomically.

    Example:
        >>> atomic_write_json("model.json", {"task": "sst2"})
    """
    atomic_write_text(path, json.dumps(payload, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii) + "\n")


def check_output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Create ``path`` if needed and prove it writable (a probe file) before any slow work.

    Args:
        path: the output folder.
        flag: the flag that named it, for the message.

    Returns:
        ``Path(path)``.

    Raises:
        PathError: ``path`` is an existing file, cannot be created or cannot be written.

    Example:
        >>> check_output_dir("runs/sst2")
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PathError(f"{flag} {path} is an existing file; it must be a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise path_error(e, path, f"create the {flag} folder") from e
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise path_error(e, path, f"write into the {flag} folder") from e
    return path


def check_output_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Check that ``path`` names a file, not an existing folder; its folder is checked (and created) by
    :func:`lock_dir` on ``path.parent``, which the writer holds while it works.

    Returns:
        ``Path(path)``.

    Example:
        >>> with lock_dir(check_output_file("out/m.tflite").parent, lock_name=".m.tflite.lock"):
        ...     export(...)
    """
    path = Path(path)
    if path.is_dir():
        raise PathError(f"{flag} {path} is a directory; give a file name")
    if path.parent.exists() and not path.parent.is_dir():
        raise PathError(f"{flag} {path}: {path.parent} is a file, not a folder")
    return path


def clean_leftovers(directory: str | os.PathLike, *, recursive: bool = True) -> list[str]:
    """Remove what crashed writers left in ``directory``: ``*.tmp-PID`` / ``.part-*.tmpPID`` files and
    ``.staging-PID/`` folders of processes that are gone, and TensorFlow's ``ckpt-N_temp/`` folders.

    Call it with the directory's lock held (:func:`lock_dir`): then no live writer owns a ``ckpt-N_temp``.

    Returns:
        The removed paths.

    Example:
        >>> clean_leftovers("runs/teacher")
    """
    removed: list[str] = []
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return removed
    for root, dirs, files in os.walk(directory):
        for name in list(dirs) + files:
            m = _LEFTOVER.fullmatch(name)
            if not m:
                continue
            pid = next((int(g) for g in m.groups() if g), None)
            if pid is not None and _alive(pid):
                continue
            full = os.path.join(root, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full, ignore_errors=True)
                if name in dirs:
                    dirs.remove(name)
            else:
                with contextlib.suppress(OSError):
                    os.remove(full)
            removed.append(full)
        if not recursive:
            break
    return removed


@contextlib.contextmanager
def lock_dir(directory: str | os.PathLike, *, flag: str = "--out", clean: bool = True,
             lock_name: str = LOCK_FILE) -> Iterator[Path]:
    """Hold an exclusive lock on ``directory`` (``fcntl.flock`` on ``DIR/.lock``) while writing into it.

    A second writer gets ``DirectoryInUseError("DIR is in use by PID n")`` at once. The lock goes with the
    process (a killed run never leaves a stale lock; its ``.lock`` file is reused); a normal exit removes the
    lock file, and the folder too when this call created it and nothing was written. With ``clean``,
    leftovers of crashed writers are removed once the lock is held.

    Args:
        directory: the run / model folder (created if missing, after checking it is writable).
        flag: the flag that named it, for messages.
        clean: run :func:`clean_leftovers` once locked.
        lock_name: the lock file's name (``.NAME.lock`` locks one output file of a shared folder).

    Returns:
        A context manager yielding ``Path(directory)``.

    Example:
        >>> with lock_dir(args.out):
        ...     train(...)
    """
    import fcntl

    top_created = Path(directory).absolute()  # the outermost folder this call creates (None: all exist)
    if top_created.exists():
        top_created = None
    else:
        while not top_created.parent.exists():
            top_created = top_created.parent
    path = check_output_dir(directory, flag)
    lock_path = path / lock_name
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as e:
            raise path_error(e, lock_path, "create the lock file") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            except OSError:
                holder = "?"
            os.close(fd)
            what = path if lock_name == LOCK_FILE else path / lock_name[1:-len(".lock")]
            raise DirectoryInUseError(f"{what} is in use by PID {holder} (another mobilebert run writes there); "
                                      f"wait for it or choose another {flag}") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed the file between our open and our lock: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        if clean:
            clean_leftovers(path)
        yield path
    finally:
        # unlink while holding the lock (a waiting opener re-checks the inode), so nothing stays behind
        with contextlib.suppress(OSError):
            os.remove(lock_path)
        os.close(fd)
        if top_created is not None:  # a run refused before writing anything leaves no empty folders
            folder = path.absolute()
            with contextlib.suppress(OSError):
                while True:
                    folder.rmdir()  # fails (and stops) at the first folder that holds something
                    if folder == top_created:
                        break
                    folder = folder.parent


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike, *, mode: int = FILE_MODE) -> None:
    """Copy ``src`` to ``dst`` atomically (nothing when they are the same file).

    Example:
        >>> atomic_copy("data/vocab.txt", "runs/sst2/vocab.txt")
    """
    if os.path.exists(dst) and os.path.samefile(src, dst):
        return
    with atomic_path(dst, mode=mode) as tmp:
        try:
            shutil.copyfile(src, tmp)
        except OSError as e:
            if not os.access(src, os.R_OK) or isinstance(e, (FileNotFoundError, IsADirectoryError)) and \
                    not os.path.isfile(src):
                raise path_error(e, src, "read") from e
            raise


# TensorFlow's C++ writers raise tf.errors.OpError and safetensors raises SafetensorError (not OSError), with
# the strerror text in the message.
_TF_MESSAGES = (("No space left on device", errno.ENOSPC), ("Disk quota exceeded", errno.EDQUOT),
                ("Permission denied", errno.EACCES), ("Read-only file system", errno.EROFS),
                ("Is a directory", errno.EISDIR), ("Not a directory", errno.ENOTDIR))


@contextlib.contextmanager
def path_errors(path: str | os.PathLike, doing: str = "write") -> Iterator[None]:
    """Turn filesystem faults inside the block (OSError of the user's kinds, or TensorFlow's write errors
    carrying "No space left on device" / "Permission denied" ...) into a PathError naming ``path``.
    Anything else passes unchanged (our bugs keep their traceback).

    Args:
        path: the file or folder being written or read.
        doing: the verb for the message.

    Example:
        >>> with path_errors(out_dir):
        ...     manager.save()
    """
    try:
        yield
    except PathError:
        raise
    except OSError as e:
        if e.errno not in USER_OS_ERRNOS:
            raise
        raise path_error(e, path, doing) from e
    except Exception as e:
        if not type(e).__module__.startswith(("tensorflow", "safetensors")):
            raise
        code = next((c for text, c in _TF_MESSAGES if text in str(e)), None)
        if code is None:
            raise
        raise path_error(OSError(code, os.strerror(code)), path, doing) from e
