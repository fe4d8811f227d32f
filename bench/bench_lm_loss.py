"""Time a toy pretraining step: chunked LM-head loss (regpt2.gpt2.lm_loss) against full logits.

The step is the `pretrain` stage's (the study's toy config,
its section 1: hidden 128, 2 layers, 4 heads, MLP 384, context 128, batch 4, GPT-2's 50,257-token
vocabulary, the hand-written AdamW). The peer is the path pretraining used before:
`model(...).logits` for every position, then `F.cross_entropy` with per-position losses. Both get
the same weights and batch (right-padded to the real data's share of padding, ~57%); steps of all
variants are interleaved after warmup so machine noise hits them alike. Printed: median seconds per
step and the ratio to the peer (< 1 = faster), for each chunk size and for both losses (padding
included, real tokens only), and the largest loss difference between the two paths.

    python bench/bench_lm_loss.py                 # ~1-2 min on 2 cores
    python bench/bench_lm_loss.py --steps 20 --chunks 32 64 128
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

bench_env.prepare()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from regpt2.gpt2 import lm_loss  # noqa: E402
from regpt2.gpt2.config import GPT2Config  # noqa: E402
from regpt2.gpt2.model import GPT2LMHead  # noqa: E402
from regpt2.gpt2.optim import AdamW  # noqa: E402
from regpt2.gpt2.pretraining import lm_losses  # noqa: E402


def full_logits_loss(model, ids, lengths, loss_on_padding):
    logits = model(input_ids=ids).logits[:, :-1]
    per_token = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1), reduction="none"
    ).view(ids.size(0), -1)
    real = torch.arange(1, ids.size(1))[None, :] < lengths[:, None]
    return per_token.mean() if loss_on_padding else (per_token * real).sum() / real.sum()


def chunked_loss(chunk_rows):
    def loss(model, ids, lengths, loss_on_padding):
        lm_loss.CHUNK_ROWS = chunk_rows  # head_cross_entropy reads it at call time
        return lm_losses(model, ids, lengths, loss_on_padding).optimised

    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--chunks", type=int, nargs="+", default=[32, 64, 128, 256])
    args = parser.parse_args()

    torch.manual_seed(0)
    base = GPT2LMHead(
        GPT2Config(vocab_size=50257, n_positions=128, n_embd=128, n_layer=2, n_head=4, n_inner=384)
    )
    ids = torch.randint(0, 50257, (4, 128))
    lengths = torch.tensor([128, 40, 60, 10])  # 238 of 512 real: 54% padding

    variants = {"full logits": full_logits_loss}
    variants |= {f"chunk {rows}": chunked_loss(rows) for rows in args.chunks}
    for loss_on_padding in (True, False):
        runners, values = {}, {}
        for name, loss_fn in variants.items():
            model = copy.deepcopy(base)
            optimizer = AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)

            def step(model=model, optimizer=optimizer, loss_fn=loss_fn, on_padding=loss_on_padding):
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model, ids, lengths, on_padding)
                loss.backward()
                optimizer.step()
                return loss.item()

            values[name] = step()  # first step from the same weights: the losses must agree
            runners[name] = step
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.steps):
            for name, step in runners.items():
                started = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - started)
        peer = statistics.median(times["full logits"])
        label = "padding included" if loss_on_padding else "real tokens only"
        gap = max(abs(v - values["full logits"]) for v in values.values())
        print(f"loss {label}: first-step losses agree within {gap:.2e}")
        for name, measured in times.items():
            median = statistics.median(measured)
            print(f"  {name:12s} {median:.3f} s/step   ratio to full logits {median / peer:.2f}")


if __name__ == "__main__":
    main()
