"""Per-row predictions of an evaluation: what every paired comparison of two models reads.

One CSV per evaluation and language (`data/predictions/EVALUATION/LANG.csv`), one line per test
row in the split's order:

- `row`: the row's index in the split (XNLI's rows are parallel across languages, so row 7 of
  every language is the same example translated);
- `premise`: the index of its premise; XNLI lists each premise with three hypotheses, and the
  three rows of one premise are not independent, so intervals resample premises, not rows;
- `gold`, `strict`, `restricted`: label names (`strict` is `other` when the model's output
  text is none of the label strings);
- `logit_entailment`, `logit_neutral`, `logit_contradiction`: the label tokens' fp32 logits.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from regpt2.core.errors import UserError
from regpt2.core.io import write_text
from regpt2.core.languages import LABELS

OTHER = "other"  # a strict output that is none of the label strings
COLUMNS = ("row", "premise", "gold", "strict", "restricted") + tuple(f"logit_{x}" for x in LABELS)


@dataclass(frozen=True)
class RowPredictions:
    """One evaluation of one language, row by row (labels as indices into LABELS; a strict
    prediction that is no label is -1)."""

    row: np.ndarray
    premise: np.ndarray
    gold: np.ndarray
    strict: np.ndarray
    restricted: np.ndarray
    label_logits: np.ndarray  # (rows, 3)

    @property
    def strict_correct(self) -> np.ndarray:
        return self.strict == self.gold


def write_predictions(
    path: str | os.PathLike,
    *,
    gold: np.ndarray,
    strict: np.ndarray,
    restricted: np.ndarray,
    label_logits: np.ndarray,
    premises: Sequence[int],
) -> None:
    """Write one evaluation's per-row predictions (label indices; -1 = no label), atomically."""
    names = list(LABELS)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row, values in enumerate(
        zip(premises, gold, strict, restricted, label_logits, strict=True)
    ):
        premise, gold_label, strict_label, restricted_label, logits = values
        writer.writerow(
            [row, int(premise), names[gold_label], _name(strict_label), names[restricted_label]]
            + [f"{float(logit):.7g}" for logit in logits]
        )
    write_text(path, buffer.getvalue())


def _name(label: int) -> str:
    return LABELS[label] if label >= 0 else OTHER


def read_predictions(path: str | os.PathLike) -> RowPredictions:
    """Read a file `write_predictions` wrote; a damaged one is a one-line error."""
    path = Path(path)
    index = {name: i for i, name in enumerate(LABELS)} | {OTHER: -1}
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = tuple(next(reader, ()))
            if header != COLUMNS:
                raise ValueError(f"header {list(header)}")
            lines = list(reader)
        table = [
            (int(r), int(p), index[g], index[s], index[x], *map(float, logits))
            for r, p, g, s, x, *logits in lines
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not a predictions file ({error}); rerun its stage") from None
    columns = np.array(table, dtype=np.float64).reshape(-1, len(COLUMNS))
    as_int = columns[:, :5].astype(np.int64)
    return RowPredictions(
        row=as_int[:, 0],
        premise=as_int[:, 1],
        gold=as_int[:, 2],
        strict=as_int[:, 3],
        restricted=as_int[:, 4],
        label_logits=columns[:, 5:].astype(np.float32),
    )
