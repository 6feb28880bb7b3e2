"""Writing a compiled output to `-o PATH`: only ever a regular file, whole or not at all.

archspec often runs as root in containers, where renaming a temporary file over `/dev/null` or
through a symlink would quietly replace a device or a file elsewhere. So the target is checked
first (`check_target`, which never writes), then written beside itself and renamed into place.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


class OutputError(Exception):
    """The output cannot be written where asked; the message says why, for the command line."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_target(path: Path, inputs: tuple[Path, ...] = ()) -> os.stat_result | None:
    """Refuse a target that is not a regular file we may replace; return its stat if it exists."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"cannot write {path}: no such directory {str(parent)!r}") from None
        return None
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise OutputError(f"refusing to write {path}: it is a symbolic link (remove it, or name the file it points to)")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"refusing to write {path}: it is {_kind(st.st_mode)}, not a regular file")
    if not st.st_mode & 0o222 or not os.access(path, os.W_OK):
        raise OutputError(f"refusing to write {path}: it is read-only")
    for source in inputs:
        try:
            if os.path.samefile(source, path):
                raise OutputError(f"refusing to write {path}: it is the spec being compiled")
        except OSError:
            continue
    return st


def write_atomically(path: Path, data: str | bytes | list[bytes], inputs: tuple[Path, ...] = ()) -> None:
    """Write `data` (text, bytes, or chunks of bytes too big to join) to a temporary file beside
    `path`, then rename it over `path`."""
    existing = check_target(path, inputs)
    chunks = [data.encode("utf-8")] if isinstance(data, str) else [data] if isinstance(data, bytes) else data
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        # keep the permissions of the file replaced; a new file gets the usual 0666 less umask
        os.chmod(tmp, stat.S_IMODE(existing.st_mode) if existing else 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        os.unlink(tmp)
        raise OutputError(f"cannot write {path}: {err.strerror}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
