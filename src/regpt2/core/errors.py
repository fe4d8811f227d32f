"""One exception type for every problem a user can fix, and the wrapper that reports it.

Stage scripts run inside `run_stage`, which turns a `UserError` into a single line on stderr
and exit status 2, so a bad param or a missing file never ends in a traceback. An `OSError`
(a read-only output folder, a full disk, a file that vanished) is reported the same way:
`error: cannot write PATH: reason`.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input (params, files, sources): the message is one line."""


#: errno values that mean "the output could not be written", whatever the call was.
_WRITE_ERRNOS = frozenset(
    code
    for code in (
        errno.EACCES,
        errno.EPERM,
        errno.ENOSPC,
        errno.EROFS,
        getattr(errno, "EDQUOT", None),
        errno.EFBIG,
    )
    if code is not None
)


def os_error_message(error: OSError) -> str:
    """The one-line message for an OSError: `cannot write PATH: reason` (PATH when known)."""
    reason = error.strerror or " ".join(str(error).split()) or type(error).__name__
    path = error.filename if error.filename is not None else error.filename2
    where = f" {path}" if path is not None else ""
    if error.errno is None:  # raised by a library, not the OS: its message is all there is
        return " ".join(str(error).split()) or type(error).__name__
    if error.errno in _WRITE_ERRNOS:
        hint = {
            errno.ENOSPC: "free some disk space and rerun",
            getattr(errno, "EDQUOT", -1): "free some disk space and rerun",
            errno.EROFS: "write the outputs on a writable file system",
        }.get(error.errno, "make the folder writable and rerun")
        return f"cannot write{where}: {reason}; {hint}"
    return f"cannot access{where}: {reason}"


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main function; report a UserError or an OSError as one line and exit 2."""
    try:
        main()
    except UserError as error:
        message = " ".join(str(error).split())
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as error:
        message = " ".join(os_error_message(error).split())
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
