"""Report section 2: English NLI fine-tuning, its dev/test accuracy, the study's variants and
the loss curve."""

from __future__ import annotations

from regpt2.analysis import published as study
from regpt2.report.document import DASH, Paragraph, Plot, Section, Table
from regpt2.report.figures import PALETTE, new_figure, png_bytes
from regpt2.report.formatting import accuracy_ci, fmt, fmt_signed, make_table, not_run
from regpt2.report.inputs import Context, Inputs
from regpt2.report.sections.pretraining import _smooth


def finetune_en_section(ctx: Context, section: Section) -> None:
    metrics = ctx.inputs.finetune_en()
    if metrics is None:
        section.blocks.append(not_run("finetune_en_test", "metrics/finetune_en.json"))
        section.status = "not run"
    else:
        baseline = study.FINETUNE_EN_BASELINE
        rows = [
            (
                split,
                accuracy_ci(metrics.get(split)),
                accuracy_ci(metrics.get(split), "restricted"),
                fmt((metrics.get(split) or {}).get("non_label_outputs")),
                fmt(baseline[split]),
            )
            for split in ("dev", "test")
        ]
        rows.append(
            (
                "train loss",
                fmt(metrics.get("train_loss"), 4),
                DASH,
                DASH,
                fmt(baseline["train_loss"], 4),
            )
        )
        section.blocks.append(
            make_table(
                ("Split", "Strict [95% CI]", "Restricted [95% CI]", "Non-label outputs", "Study"),
                rows,
                caption="English fine-tuning, this workspace (best dev checkpoint)",
                note="Strict = the study's metric (argmax over the whole vocabulary must be the "
                "gold digit); restricted = argmax over the three label digits only.",
            )
        )
    section.blocks.append(
        Paragraph(
            "Variants: run e.g. `dvc exp run -S finetune_en.training.lr=1e-4`, then "
            "`regpt2 experiments` for the table of every English fine-tuning run `dvc exp show` "
            "knows (the report reads only the pipeline's tracked outputs)."
        )
    )
    section.blocks.append(study_variants_table())
    plot = finetune_loss_plot(ctx.inputs)
    if plot:
        section.blocks.append(plot)


def study_variants_table() -> Table:
    base = study.FINETUNE_EN_BASELINE["test"]
    rows = [
        (name, fmt(v["dev"]), fmt(v["test"]), fmt(v["train_loss"], 4), fmt_signed(v["test"] - base))
        for name, v in study.FINETUNE_EN_VARIANTS.items()
    ]
    return make_table(
        ("Study run", "Dev", "Test", "Train loss", "Test vs baseline"),
        rows,
        caption="The study's baseline and hyperparameter variants (published)",
    )


LOSS_CURVES = (
    ("data/plots/finetune_en_loss.csv", "English (finetune_en)"),
    ("data/plots/finetune_all_loss.csv", "all languages (finetune_all)"),
    ("data/plots/qwen_lora_loss.csv", "LoRA model (qwen_lora)"),
)


def finetune_loss_plot(inputs: Inputs) -> Plot | None:
    curves = [(label, inputs.csv(path)) for path, label in LOSS_CURVES]
    curves = [(label, c) for label, c in curves if c is not None and {"step", "loss"} <= set(c)]
    if not curves:
        return None
    fig, (ax,) = new_figure(10, 3.8)
    for (label, curve), color in zip(curves, PALETTE, strict=False):
        ax.plot(curve["step"], curve["loss"], color=color, alpha=0.2, linewidth=0.8)
        ax.plot(curve["step"], _smooth(curve["loss"]), color=color, label=f"{label} (smoothed)")
    ax.set(
        xlabel="optimizer step",
        ylabel="cross-entropy on the label digit",
        title="NLI fine-tuning loss per step",
    )
    ax.legend(fontsize=8)
    caption = "NLI fine-tuning loss per step (label token only)."
    return Plot("finetune_loss", png_bytes(fig), caption)
