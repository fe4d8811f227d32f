"""One exception type for every problem a user can fix, and the wrapper that reports it.

Stage scripts run inside `run_stage`, which turns a `UserError` into a single line on stderr
and exit status 2, so a bad param or a missing file never ends in a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input (params, files, sources): the message is one line."""


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main function; report a UserError as one line and exit non-zero."""
    try:
        main()
    except UserError as error:
        message = " ".join(str(error).split())
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
