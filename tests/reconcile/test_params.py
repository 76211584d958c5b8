"""The reconcile DAG's `apply` parameter: three explicit choices, each mapped to what push_corrections takes."""

from __future__ import annotations

import pytest

from shipshape.reconcile.params import APPLY_CHOICES, APPLY_LABELS, apply_choice


def test_each_choice_means_one_thing_and_older_configs_still_work():
    assert [apply_choice(c) for c in APPLY_CHOICES] == [None, True, False]
    assert (apply_choice(True), apply_choice(False), apply_choice(None)) == (True, False, None)
    assert set(APPLY_LABELS) == set(APPLY_CHOICES)


def test_an_unknown_choice_is_refused_by_name():
    with pytest.raises(ValueError, match="apply='yes please': use one of deployment, apply, dry_run"):
        apply_choice("yes please")
