"""The study's language selection: tiers from fertility and zero-shot accuracy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from regpt2.config.params import Selection


def assign_tier(fertility: float, accuracy: float, rule: Selection) -> tuple[int, str]:
    """Tier 1: low fertility and good transfer; tier 3: high fertility and poor transfer
    (excluded by the study); everything between is tier 2. Returns (tier, reason)."""
    tier = rule.tier(fertility, accuracy)
    facts = f"fertility {fertility:.2f}, zero-shot {accuracy:.2f}%"
    if tier == 1:
        return 1, (
            f"{facts}: fertility < {rule.tier1_max_fertility} and "
            f"zero-shot > {rule.tier1_min_accuracy}%"
        )
    if tier == 3:
        return 3, (
            f"{facts}: fertility > {rule.tier3_min_fertility} and "
            f"zero-shot < {rule.tier3_max_accuracy}%"
        )
    return 2, f"{facts}: neither both tier-1 conditions nor both tier-3 conditions hold"


def select_languages(
    fertility: Mapping[str, float],
    accuracy: Mapping[str, float],
    rule: Selection,
    trained: Sequence[str],
) -> dict:
    """Tier of every language with both numbers, and where the rule and the trained list differ.

    The rule proposes tiers 1 and 2 (the study dropped tier 3); English is the source language
    and is never proposed.
    """
    languages: dict[str, dict] = {}
    for lang in fertility:
        if lang not in accuracy:
            continue
        tier, reason = assign_tier(fertility[lang], accuracy[lang], rule)
        languages[lang] = {"tier": tier, "reason": reason, "in_finetune_list": lang in trained}
    proposed = [lang for lang, row in languages.items() if row["tier"] < 3 and lang != "en"]
    return {
        "languages": languages,
        "proposed_by_rule": proposed,
        "finetune_list": list(trained),
        "in_list_but_tier_3": [
            lang for lang in trained if languages.get(lang, {}).get("tier") == 3
        ],
        "proposed_but_not_in_list": [lang for lang in proposed if lang not in trained],
        "in_list_without_numbers": [lang for lang in trained if lang not in languages],
    }
