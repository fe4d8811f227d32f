"""The study's NLI prompt, its label tokens, and encoding with premise-side truncation.

An example is encoded as the prompt's token ids only; the label is the ONE token that must come
next. Training puts the loss on that token, evaluation reads the model's prediction there: the
same thing the study did by appending the digit and masking every other position.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from regpt2.core.errors import UserError
from regpt2.core.languages import LABELS
from regpt2.sources.data import NliExample

#: The transformers logger that warns when a text is longer than the model's context.
_TOKENIZER_LOGGER = "transformers.tokenization_utils_base"


class _DropTooLongWarning(logging.Filter):
    """Drop transformers' "Token indices sequence length is longer than the specified maximum
    sequence length" warning: `NliPrompt` truncates over-long prompts itself, so the warning's
    "will result in indexing errors" is wrong there. Every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Token indices sequence length is longer")


_DROP_TOO_LONG = _DropTooLongWarning()


#: The key under which a transformers tokenizer remembers that it gave that warning once.
_WARNED_KEY = "sequence-length-is-longer-than-the-specified-maximum"


@contextmanager
def _no_too_long_warning(tokenizer) -> Iterator[None]:
    """Silence the too-long warning for this block only (the tokenizer's warn-once memory is
    restored too, so other code encoding with it still gets its own warning)."""
    logger = logging.getLogger(_TOKENIZER_LOGGER)
    warned = getattr(tokenizer, "deprecation_warnings", None)
    before = warned.get(_WARNED_KEY) if isinstance(warned, dict) else None
    logger.addFilter(_DROP_TOO_LONG)
    try:
        yield
    finally:
        logger.removeFilter(_DROP_TOO_LONG)
        if isinstance(warned, dict):
            if before is None:
                warned.pop(_WARNED_KEY, None)
            else:
                warned[_WARNED_KEY] = before


@dataclass(frozen=True)
class EncodedExample:
    input_ids: list[int]
    label: int  # index into LABELS
    truncated: bool


class NliPrompt:
    """Renders and tokenizes NLI examples for one tokenizer."""

    def __init__(self, tokenizer, template: str, label_digits: dict[str, str], max_length: int):
        self.tokenizer = tokenizer
        self.template = template
        self.max_length = max_length
        self.label_strings = [label_digits[label] for label in LABELS]
        self.label_token_ids = [self._label_token(text) for text in self.label_strings]

    def render(self, premise: str, hypothesis: str) -> str:
        return self.template.format(premise=premise, hypothesis=hypothesis)

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        # Over-long prompts are expected here: `encode` truncates them before any model sees them.
        with _no_too_long_warning(self.tokenizer):
            return self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]

    def _label_token(self, label_text: str) -> int:
        """The token id of `label_text` as it follows the prompt (must be a single token)."""
        prompt = self.render("p", "h")
        (with_label, without) = self._ids([prompt + label_text, prompt])
        extra = with_label[len(without) :]
        if with_label[: len(without)] != without or len(extra) != 1:
            raise UserError(
                f"label string {label_text!r} is not one token after the prompt for this "
                f"tokenizer (got {len(extra)} tokens); choose other nli.label_digits"
            )
        return extra[0]

    def encode(self, examples: Sequence[NliExample]) -> list[EncodedExample]:
        """Tokenize in one batch; an over-long prompt loses the end of its premise (then, if
        need be, of its hypothesis), never the label cue."""
        # The label token must fit in the context after the prompt, as in the study.
        budget = self.max_length - 1
        prompts = [self.render(example.premise, example.hypothesis) for example in examples]
        encoded = []
        for example, ids in zip(examples, self._ids(prompts), strict=True):
            truncated = len(ids) > budget
            if truncated:
                ids = self._truncate_premise(example, budget)
            encoded.append(EncodedExample(ids, LABELS.index(example.label), truncated))
        return encoded

    def _truncate_premise(self, example: NliExample, budget: int) -> list[int]:
        """Longest premise prefix whose prompt fits `budget` tokens; if even an empty premise
        does not fit, the hypothesis is cut too. The label cue at the end is always kept."""
        ids = self._longest_fitting(
            lambda n: self.render(example.premise[:n], example.hypothesis),
            len(example.premise),
            budget,
        )
        if ids is None:
            ids = self._longest_fitting(
                lambda n: self.render("", example.hypothesis[:n]), len(example.hypothesis), budget
            )
        if ids is None:
            raise UserError(
                f"nli.max_length {self.max_length} is too short for the prompt template itself"
            )
        return ids

    def _longest_fitting(self, render, length: int, budget: int) -> list[int] | None:
        """Token ids of render(n) for the largest n in [0, length] that fits, by bisection."""
        low, high, best = 0, length, None
        while low <= high:
            middle = (low + high) // 2
            ids = self._ids([render(middle)])[0]
            if len(ids) <= budget:
                best, low = ids, middle + 1
            else:
                high = middle - 1
        return best
