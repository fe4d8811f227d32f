"""Pipeline stage scripts. Run as modules (`python -m stages.tokenize`) so that a stage named
like a standard-library module (`tokenize`) never shadows it.

A fine-tuning script has two commands, two DVC stages: `train` writes the model and its training
metrics, `evaluate` scores the saved model. So a knob that only changes the scoring (a test
limit, the evaluation batch size, bootstrap resamples) never retrains."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable

from regpt2.config.params import load_params
from regpt2.core.errors import UserError, run_stage, stop_on_signals
from regpt2.core.memory import reuse_freed_memory

# `python -m stages.NAME` imports this package first, while sys.argv[0] is still "-m": check
# params.yaml now, before the stage module imports torch and transformers (seconds), so a
# params error is reported at once; make Ctrl-C and SIGTERM during those imports end in one
# line too; and set the allocator policy before the first tensor (regpt2.core.memory: large
# blocks are reused, not page-faulted in again every step). Imports from tests or other code
# skip this.
if sys.argv[:1] == ["-m"]:
    stop_on_signals()
    reuse_freed_memory()
    run_stage(load_params)


def command(commands: dict[str, Callable[..., None]], usage: str) -> Callable[[], None]:
    """The stage function named by the first command-line argument, called with the rest."""

    def run() -> None:
        arguments = sys.argv[1:]
        if not arguments or arguments[0] not in commands:
            raise UserError(f"usage: {usage}")
        chosen = commands[arguments[0]]
        if len(inspect.signature(chosen).parameters) != len(arguments) - 1:
            raise UserError(f"usage: {usage}")
        chosen(*arguments[1:])

    return run
