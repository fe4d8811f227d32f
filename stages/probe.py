"""Stage `probe`: attention entropy and layer similarity to English on parallel XNLI rows, for
the pretrained and the English fine-tuned GPT-2 (correlations with accuracy are `analyze`'s)."""

from regpt2.config.params import load_params
from regpt2.core.errors import run_stage
from regpt2.core.io import write_json, write_text
from regpt2.core.precision import use_bf16
from regpt2.core.seeding import seed_everything
from regpt2.sources.data import XnliRows, first_row_of_each_premise
from regpt2.sources.models import load_pretrained_lm
from regpt2.studies.probe import probe_parallel

MODELS = {"pretrained": None, "finetuned_en": "data/models/finetune_en"}


def main() -> None:
    params = load_params()
    settings = params.probe
    seed_everything(settings.seed)
    rows = XnliRows.of(params.sources.xnli, params.demo)
    # Distinct premises (XNLI lists each one three times), chosen on English: rows are parallel.
    chosen = first_row_of_each_premise(rows.load("en", settings.split), settings.rows)
    sentences = {}
    for lang in settings.languages:
        loaded = rows.load(lang, settings.split)
        sentences[lang] = [loaded[index].premise for index in chosen]
    results, summaries = {}, {}
    for name, source in MODELS.items():
        model, tokenizer = load_pretrained_lm(source or params.sources.gpt2, attentions=True)
        bf16 = use_bf16(settings.bf16, next(model.parameters()).device, "inference")
        result = probe_parallel(
            model,
            tokenizer,
            sentences,
            max_length=settings.max_length,
            batch_size=settings.batch_size,
            first_hidden_state=settings.first_hidden_state,
            early_layers=settings.early_layers,
            late_layers=settings.late_layers,
            depth_policy=settings.depth_policy,
            n_resamples=settings.bootstrap_resamples,
            seed=settings.seed,
            bf16=bf16,
        )
        results[name] = result.to_dict()
        summaries[name] = {
            lang: {
                "attention_entropy": round(probe.attention_entropy, 4),
                "attention_entropy_relative": round(probe.attention_entropy_relative, 4),
                "early": round(probe.early, 4),
                "late": round(probe.late, 4),
                "gain": round(probe.gain, 4),
                "excess_gain": round(probe.excess_gain, 4),
                "truncated": probe.n_truncated,
                "bf16": bf16,
            }
            for lang, probe in result.languages.items()
        }

    write_json("data/probe/results.json", results)
    write_json("metrics/probe.json", summaries)
    lines = ["model,language,layer,similarity"]
    for name, result in results.items():
        for lang, probe in result["languages"].items():
            for layer, value in enumerate(probe["similarity_per_layer"]):
                lines.append(f"{name},{lang},{layer},{value:.6f}")
    write_text("data/plots/probe_similarity.csv", "\n".join(lines) + "\n")


if __name__ == "__main__":
    run_stage(main)
