"""Opening files a stranger may have put in place: never blocking, regular files only.

A FIFO's open waits for a writer forever, and ``/dev/zero`` reads without end: a path
that is checked first and opened after can be swapped for either in between. So files
are opened without blocking and checked on the opened descriptor.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO


class RefusedFile(Exception):
    """A file that is not read; the message says why."""


@contextmanager
def open_regular(
    path: str | Path, within: str | Path | None = None
) -> Iterator[tuple[BinaryIO, int]]:
    """The open file and its size, if it is a regular file (and, with ``within``, one
    that lies inside that folder once every link is followed). Raises
    FileNotFoundError when it is not there, RefusedFile for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise RefusedFile(f"{path} cannot be opened: {error.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        outside = within is not None and _opened_outside(fd, Path(within))
        if outside:
            raise RefusedFile(f"{path} lies out of {within} (at {outside}), not read")
        stat = os.fstat(fd)
        if not S_ISREG(stat.st_mode):
            raise RefusedFile(f"{path} is not a regular file")
        yield f, stat.st_size


def _opened_outside(fd: int, folder: Path) -> str | None:
    """Where an opened file really is, when that is out of ``folder`` (on Linux, the
    descriptor's own path: a link swapped in after any check cannot fool it)."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc: the callers' checks of the path stand alone
        return None
    return None if Path(real).is_relative_to(os.path.realpath(folder)) else real
