"""One exception type for every problem a user can fix, and the wrapper that reports it.

Stage scripts run inside `run_stage`, which turns a `UserError` into a single line on stderr
and exit status 2, so a bad param or a missing file never ends in a traceback. An `OSError`
(a read-only output folder, a full disk, a file that vanished) is reported the same way:
`error: cannot write PATH: reason`.

Ctrl-C (SIGINT) and SIGTERM (`kill`, a job scheduler, torchrun stopping its workers) end a stage
the same way: the signal raises `Interrupted` where the stage is, every `finally` on the way out
runs (atomic writes remove their temporaries, so nothing half-written is left), and `run_stage`
prints one line and exits with 128 + the signal's number (130, 143), as a shell reports it.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class UserError(Exception):
    """A problem with the user's input (params, files, sources): the message is one line."""


#: The signals that stop a stage.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived. A KeyboardInterrupt, so that whatever cleans up after Ctrl-C (a
    progress bar, a library) does the same for SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Stage:
    """This process's stage state: the callbacks to run once its main has returned (None while
    no main runs: a stop signal then exits at once), whether a stop signal arrived, and the
    signals held back by `signals_deferred`."""

    after_success: list[Callable[[], None]] | None = None
    stopped = False
    deferring = 0
    held: list[int] = []


def stop_on_signals() -> None:
    """Make SIGINT and SIGTERM stop this process cleanly (see the module's docstring).

    Installed even where SIGINT was ignored: a shell script's background job inherits an ignored
    SIGINT, and a stage must still stop when asked. Only the main thread can install handlers.
    """
    if threading.current_thread() is threading.main_thread():
        for each in STOP_SIGNALS:
            signal.signal(each, _on_stop_signal)


def _on_stop_signal(signum: int, frame: object) -> None:
    if _Stage.deferring:
        _Stage.held.append(signum)
    else:
        _stop(signum)


def _stop(signum: int) -> None:
    # Later signals are ignored while the stage unwinds: torchrun forwards the Ctrl-C its
    # workers already got, and a second one must not cut the cleanup short.
    _Stage.stopped = True
    for each in STOP_SIGNALS:
        signal.signal(each, signal.SIG_IGN)
    if _Stage.after_success is not None:
        raise Interrupted(signum)
    # No stage's main is running (it is still importing torch, say): nothing is being written.
    _report_interruption(signum)
    raise SystemExit(128 + signum)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT / SIGTERM back until the block ends: for the renames that put an output in
    place, which must all happen or none (`regpt2.core.io.atomic_path`)."""
    _Stage.deferring += 1
    try:
        yield
    finally:  # however the block ends, a signal that came meanwhile stops the stage now
        _Stage.deferring -= 1
        if not _Stage.deferring and _Stage.held:
            signum = _Stage.held[0]
            _Stage.held.clear()
            _stop(signum)


def when_stage_succeeds(callback: Callable[[], None]) -> None:
    """Run `callback` once the stage's main has returned (at once outside `run_stage`).

    A training removes its resumable checkpoint this way, only after the stage has written its
    outputs: a stage interrupted while it saves the model still resumes from the checkpoint.
    """
    if _Stage.after_success is None:
        callback()
    else:
        _Stage.after_success.append(callback)


def _report_interruption(signum: int) -> None:
    """One line: what was running, and how to go on. Under torchrun every worker gets the
    signal, so rank 0 speaks for all of them."""
    if int(os.environ.get("RANK", "0")):
        return
    main = sys.modules.get("__main__")
    module = getattr(getattr(main, "__spec__", None), "name", None)
    program = os.path.basename(sys.argv[0]) or "python"  # the `regpt2` command, a script
    if module:
        program = f"python -m {module}"
    elif program == "-c":
        program = "python -c"
    command = " ".join([program, *sys.argv[1:]])
    stage = os.environ.get("DVC_STAGE")  # set by `dvc repro` for the command it runs
    what = f"stage {stage} ({command})" if stage else command
    _report(
        f"{what} interrupted by {signal.Signals(signum).name}; nothing half-written is left; "
        "rerun it (`dvc repro` resumes a training from its last checkpoint, where one was saved)"
    )


def _report(message: str) -> None:
    print(f"error: {' '.join(message.split())}", file=sys.stderr, flush=True)


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
    """Run a stage's main function; report a UserError or an OSError as one line and exit 2,
    an interruption (SIGINT, SIGTERM) as one line and exit 128 + the signal's number."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {each: signal.getsignal(each) for each in STOP_SIGNALS} if in_main_thread else {}
    stop_on_signals()
    _Stage.after_success = []
    try:
        main()
        for callback in _Stage.after_success:
            callback()
    except UserError as error:
        _report(str(error))
        raise SystemExit(2) from None
    except OSError as error:
        _report(os_error_message(error))
        raise SystemExit(2) from None
    except KeyboardInterrupt as interrupt:
        signum = getattr(interrupt, "signum", signal.SIGINT)
        _report_interruption(signum)
        raise SystemExit(128 + signum) from None
    finally:
        _Stage.after_success = None
        if not _Stage.stopped:  # after a stop, later signals stay ignored until the exit
            for each, handler in previous.items():
                if handler is not None:
                    signal.signal(each, handler)
