"""Stage `translate`: zero-shot translation into English with the pretrained GPT-2, scored by the
study's heuristics and by sacrebleu chrF / BLEU (correlations with NLI accuracy and fertility are
`analyze`'s)."""

from regpt2.analysis.results import numbers_only
from regpt2.config.params import load_params
from regpt2.core.errors import run_stage
from regpt2.core.io import write_json
from regpt2.core.precision import use_bf16
from regpt2.core.seeding import seed_everything
from regpt2.gpt2.model import GPT2LMHead
from regpt2.sources.data import XnliRows
from regpt2.sources.models import load_pretrained_lm
from regpt2.studies.translate import TranslationSettings, translate_language


def main() -> None:
    params = load_params()
    settings = params.translate
    seed_everything(settings.seed)
    model, tokenizer = load_pretrained_lm(params.sources.gpt2)
    if isinstance(model, GPT2LMHead):
        model = model.to_hf_model()  # for Hugging Face generate(): batched, with a KV cache
    options = TranslationSettings(
        templates=tuple(settings.templates),
        n_examples=settings.samples,
        min_words=settings.min_words,
        max_words=settings.max_words,
        selection_samples=settings.selection_samples,
        tokens_per_word=settings.tokens_per_word,
        do_sample=settings.do_sample,
        temperature=settings.temperature,
        top_k=settings.top_k,
        no_repeat_ngram_size=settings.no_repeat_ngram_size,
        batch_size=settings.batch_size,
        seed=settings.seed,
        bf16=use_bf16(settings.bf16, next(model.parameters()).device, "inference"),
    )
    rows = XnliRows.of(params.sources.xnli, params.demo)
    english = [row.premise for row in rows.load("en", settings.split)]
    results = {}
    for lang in settings.languages:
        sources = [row.premise for row in rows.load(lang, settings.split)]
        results[lang] = translate_language(model, tokenizer, lang, sources, english, options)

    write_json("data/translate/examples.json", {k: v.to_dict() for k, v in results.items()})
    # The sacrebleu signatures (strings) say how the scores were computed: beside the examples.
    write_json(
        "data/translate/signatures.json",
        {
            "bleu": next(iter(results.values())).bleu_signature,
            "chrf": next(iter(results.values())).chrf_signature,
        },
    )
    languages = {lang: result.metrics() for lang, result in results.items()}
    write_json(
        "metrics/translate.json", {"bf16": options.bf16, "languages": numbers_only(languages)}
    )


if __name__ == "__main__":
    run_stage(main)
