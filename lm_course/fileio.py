"""Writing the course's files so that nothing is lost or torn.

Every file the course writes (the scoreboard, the corpus cache, a training
state, a shipped checkpoint) goes through :func:`atomic_write`: the bytes go
to a private temporary file in the same folder (a unique name, so two
processes never share one), are flushed to disk (``fsync``), and only then
replace the old file with ``os.replace``, which is atomic on one file system.
A reader therefore sees the old file or the new one, never half of one; a
Ctrl-C, a full disk or a crash leaves the old file as it was.

A read-modify-write of a shared file (the scoreboard's ``record``) holds
:func:`locked` (a ``filelock`` lock file beside it), so two processes adding
entries at once keep both. A file that cannot be read back is set aside by
:func:`set_aside` as ``<name>.corrupt`` (with a message naming it) rather than
breaking every chapter that reads it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_bytes", "locked", "set_aside", "check_writable_dir"]

LOCK_TIMEOUT = 120  # seconds to wait for another process's lock before giving up with a message


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a private temporary path beside ``path``; when the block ends
    without an error, the temporary file is fsynced and moved over ``path``.
    On an error (or Ctrl-C) the temporary file is removed and ``path`` is
    untouched. Write to the yielded path with any library (``torch.save``,
    ``safetensors``, ``open``)."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # the rename itself reaches the disk with the folder's entry
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def locked(path: str | Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an inter-process lock for ``path`` (the lock file ``<path>.lock``
    beside it) for the block: the read-modify-write inside is not interleaved
    with another process's."""
    path = Path(path)
    lock = FileLock(str(path) + ".lock", timeout=timeout)
    try:
        lock.acquire()
    except TimeoutError as err:  # filelock.Timeout is a TimeoutError
        raise TimeoutError(f"another process has held the lock {path}.lock for {timeout:.0f} s; if no other "
                           f"lm_course process is running, delete that file") from err
    try:
        yield
    finally:
        lock.release()


def set_aside(path: str | Path, reason: str, what: str = "file") -> Path:
    """Move a damaged ``path`` to ``<path>.corrupt`` (replacing an older one)
    and warn with both names; returns the new path."""
    path = Path(path)
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another process set it aside first
        return aside
    warnings.warn(f"the {what} {path} was damaged ({reason}); it was moved to {aside} and a fresh one is used",
                  RuntimeWarning, stacklevel=3)
    return aside


def check_writable_dir(folder: str | Path, what: str = "folder", hint: str = "") -> Path:
    """``folder`` (created if missing) if a file can be written in it, else an
    ``OSError`` naming it and the reason: checked *before* a long job writes."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"the {what} {folder} is a file, not a folder{hint}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".lm_course_write_test.")
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        raise OSError(err.errno, f"cannot write in the {what} {folder}: {err.strerror or err}{hint}") from err
    return folder


def read_or_set_aside(path: Path, parse: Callable[[bytes], object], what: str) -> object | None:
    """``parse(path's bytes)``; ``None`` if the file is missing; if parsing
    fails, the file is set aside (:func:`set_aside`) and ``None`` returned."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return parse(data)
    except Exception as err:  # any parse error means a damaged file
        set_aside(path, f"{type(err).__name__}: {err}", what)
        return None
