"""Fine-tune a tiny GPT-2 on demo NLI rows, under `python` or `torchrun` (test_distributed.py).

Writes OUT/result.json (losses, dev score, a weight checksum) and OUT/model/ through the
project's atomic writer, so a data-parallel run must produce each file once, from rank 0.
"""

import json
import sys
from pathlib import Path

import torch

from regpt2.config.params import Training
from regpt2.core.io import atomic_path, write_json
from regpt2.demo.corpus import demo_nli_rows
from regpt2.gpt2.config import GPT2Config
from regpt2.gpt2.model import GPT2LMHead
from regpt2.nli.finetune import finetune
from regpt2.nli.prompts import NliPrompt
from regpt2.sources.data import NliExample
from regpt2.sources.tokenizers import train_demo_bpe

out = Path(sys.argv[1])
batch_size, grad_accum = int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(1)
rows = [NliExample(**row, lang="en") for row in demo_nli_rows("en", "train", 70)]
dev = [NliExample(**row, lang="en") for row in demo_nli_rows("en", "dev", 21)]
tokenizer = train_demo_bpe([row.premise + " " + row.hypothesis for row in rows], 400)
prompt = NliPrompt(
    tokenizer,
    "Premise: {premise}\nHypothesis: {hypothesis}\nLabel:",
    {"entailment": "0", "contradiction": "1", "neutral": "2"},
    128,
)
torch.manual_seed(0)
model = GPT2LMHead(
    GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2)
)
training = Training(
    seed=0, epochs=2, batch_size=batch_size, grad_accum=grad_accum, lr=3e-3, weight_decay=0.01,
    optimizer="regpt2", bf16=False, train_split="train", dev_split="dev", eval_every=3,
    dev_batch_size=4,
)  # fmt: skip
result, _ = finetune(model, prompt, rows, dev, training, checkpoint_dir=None, description="ddp")
checksum = sum(float(p.double().sum()) for p in model.parameters())
write_json(
    out / "result.json",
    {"losses": result.losses, "best": result.best_score, "steps": result.steps, "sum": checksum},
)
with atomic_path(out / "model") as folder:
    model.save_pretrained(folder)
print(json.dumps({"steps": result.steps}))
