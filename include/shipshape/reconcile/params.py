"""The run parameters of `shipshape_reconcile` as its trigger form offers them, and what they mean to the
package. Light on imports: the DAG file reads it at parse time."""

from __future__ import annotations

# `apply`: three explicit choices, each a value of its own. An on/off toggle could not say "leave it to
# the deployment" once touched (its off state sends false).
APPLY_CHOICES: dict[str, bool | None] = {"deployment": None, "apply": True, "dry_run": False}
APPLY_LABELS = {
    "deployment": "The deployment's rule (sandbox: apply)",
    "apply": "Apply: send the corrections",
    "dry_run": "Dry run: record the plan for review",
}


def apply_choice(value: str | bool | None) -> bool | None:
    """The `apply` parameter as push_corrections takes it: True (apply), False (dry run) or None (the
    deployment's rule). Booleans and null, as older run configs gave it, mean the same."""
    if value is None or isinstance(value, bool):
        return value
    if value in APPLY_CHOICES:
        return APPLY_CHOICES[value]
    raise ValueError(f"apply={value!r}: use one of {', '.join(APPLY_CHOICES)}")
