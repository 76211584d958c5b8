"""The mismatch codes are defined once, in dbt_project/seeds/mismatch_codes.csv, and everything that judges,
checks or explains a code agrees with that file. Each test fails when one reader could drift from it:

* dbt: the reconciliation model's flag list is the seed's order codes, in its order, each with a rule;
  no model YAML describes a flag column (the seed's description is its comment);
  every code literal in a model is a seed row; the models that rate or correct codes read the seed
  (the committed manifest, which tests/dbt/test_history_and_plan.py keeps current, says so);
* the sandbox's truth writes a rule for exactly the seed's order codes, and its generator can inject each;
* the benchmark's hand-written statement has a flag for exactly those codes;
* docs/mismatch-codes.md has a section per code with the seed's severity and correction.

Nothing here runs dbt or a database: the files are read as they are committed.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import jinja2
import jinja2.nodes
import pytest
import yaml

from shipshape import codes, dbt
from shipshape_sandbox import generate, truth
from shipshape_sandbox.benchmarks import dbt_build

MODELS = dbt.project_dir() / "models"
RECONCILIATION = MODELS / "intermediate" / "orders" / "int_order_reconciliation.sql"
DOC = dbt.project_dir().parent / "docs" / "mismatch-codes.md"


def jinja_list(path: Path, name: str) -> list[str]:
    """The value of ``{% set name = [...] %}`` in a model, as dbt's Jinja reads it."""
    tree = jinja2.Environment(extensions=["jinja2.ext.do"]).parse(path.read_text())
    for node in tree.find_all(jinja2.nodes.Assign):
        if isinstance(node.target, jinja2.nodes.Name) and node.target.name == name:
            return list(node.node.as_const())
    raise AssertionError(f"{path.name} sets no {name}")


def test_the_seed_is_well_formed() -> None:
    rows = codes.load()
    assert [r.code for r in rows] == list(codes.names()) and len(set(codes.names())) == len(rows)
    assert {r.grain for r in rows} == set(codes.GRAINS), "every grain has a code"
    assert all(r.severity in codes.SEVERITIES for r in rows)
    # codes that share a fix share it whole: the same system, action and API call
    by_action: dict[tuple[str | None, str | None], set[str | None]] = {}
    for r in rows:
        if r.correctable:
            by_action.setdefault((r.correction_system, r.correction_action), set()).add(r.api_operation)
    assert all(len(ops) == 1 for ops in by_action.values()), by_action


def test_a_malformed_row_is_an_error_naming_it(tmp_path) -> None:
    text = codes.seed_path().read_text().replace("DELIVERY_EXCEPTION,order,medium", "DELIVERY_EXCEPTION,order,urgent")
    broken = tmp_path / "mismatch_codes.csv"
    broken.write_text(text)
    with pytest.raises(ValueError, match=r"row \d+ \(DELIVERY_EXCEPTION\): severity is 'urgent'"):
        codes.load(broken)


def test_the_reconciliation_model_flags_exactly_the_seeds_order_codes() -> None:
    listed = jinja_list(RECONCILIATION, "codes")
    assert listed == [codes.get(c).flag for c in codes.names("order")], \
        "int_order_reconciliation's codes list and the seed's order codes differ (add or remove both)"
    sql = RECONCILIATION.read_text()
    flagged = sql[sql.index("flagged as ("):sql.index("summarized as (")]
    rules = re.findall(r"\bas (\w+)\b", flagged)
    assert sorted(rules) == sorted(listed), "each listed code has exactly one rule in `flagged`"


# where a model writes a code as a literal: `'CODE' as code`, `array['CODE']`, `then 'CODE' end`
CODE_LITERAL = re.compile(r"'([A-Z][A-Z0-9_]+)'\s+as code\b|array\['([A-Z][A-Z0-9_]+)'\]|then '([A-Z][A-Z0-9_]+)' end")


def test_every_code_a_model_names_is_a_seed_row() -> None:
    defined, seen = set(codes.names()), set()
    for path in MODELS.rglob("*.sql"):
        named = {name for match in CODE_LITERAL.findall(path.read_text()) for name in match if name}
        assert named <= defined, f"{path.relative_to(MODELS)} names {named - defined}, which the seed lacks"
        seen |= named
    assert {"ORPHAN_PAYMENT", "INVENTORY_MISMATCH", "MISSING_IN_3PL"} <= seen, "the pattern finds the literals"


# a model rating a code itself: a code literal shortly before a severity literal
SEVERITY_BY_CODE = re.compile(r"'[A-Z][A-Z0-9_]{5,}'[^;]{0,300}?(then|as severity|,)\s*'(high|medium|low)'")


def test_the_models_that_rate_or_correct_codes_read_the_seed() -> None:
    nodes = json.loads(dbt.manifest_path().read_text())["nodes"]
    seed = "seed.shipshape.mismatch_codes"
    assert seed in nodes
    for model in ("int_order_reconciliation", "int_order_corrections", "correction_plan", "mismatch_history"):
        assert seed in nodes[f"model.shipshape.{model}"]["depends_on"]["nodes"], model
    # and no model rates a code itself (a code literal shortly before a severity literal)
    for path in MODELS.rglob("*.sql"):
        assert not SEVERITY_BY_CODE.search(path.read_text()), f"{path.name} writes a code's severity"



def test_the_flag_columns_are_described_by_the_seed_alone() -> None:
    """The marts' flag columns take their comments from the seed (macros/mismatch_flags.sql), so no model
    YAML describes one: a second description could say something else."""
    flags = {codes.get(code).flag for code in codes.names()}
    for path in MODELS.rglob("*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models") or []:
            described = {column["name"] for column in model.get("columns") or []} & flags
            assert not described, f"{path.relative_to(MODELS)}: {model['name']} describes {described} again"


def test_the_truth_writes_a_rule_for_exactly_the_seeds_order_codes() -> None:
    tree = ast.parse(inspect.getsource(truth.order_codes))
    appended = [call.args[0].value for call in ast.walk(tree)
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr == "append" and call.args and isinstance(call.args[0], ast.Constant)]
    assert sorted(appended) == sorted(codes.names("order")), "truth.order_codes and the seed differ"
    assert truth.ORDER_CODES == codes.names("order")


def test_the_sandbox_can_inject_every_order_code() -> None:
    assert set(generate.INJECTED_CODES) == set(codes.names("order")), \
        "give a new code a weight (and an injector) in shipshape_sandbox.generate"


def test_the_benchmarks_statement_flags_exactly_the_seeds_order_codes() -> None:
    sql = dbt_build.SINGLE_STATEMENT.read_text()
    final = sql[sql.rindex("\nselect\n"):]
    flags = [name for name in re.findall(r"\bas (\w+),?$", final, re.MULTILINE) if name != "shopify_order_id"]
    assert sorted(flags) == sorted(dbt_build.CODES) and len(flags) == len(set(flags))


def doc_sections() -> dict[str, str]:
    """The reference's sections that are codes: `## CODE` heading -> its text."""
    parts = re.split(r"^## ", DOC.read_text(), flags=re.MULTILINE)[1:]
    return {title.split("\n", 1)[0].strip("` "): title for title in parts
            if re.fullmatch(r"`?[A-Z][A-Z0-9_]+`?", title.split("\n", 1)[0].strip())}


def test_the_reference_documents_each_code_as_the_seed_defines_it() -> None:
    sections = doc_sections()
    assert list(sections) == list(codes.names()), "docs/mismatch-codes.md: one section per code, in the seed's order"
    for code, text in sections.items():
        row = codes.get(code)
        assert f"**Severity:** {row.severity}" in text, code
        if row.correctable:
            assert f"`{row.correction_action}`" in text and row.correction_system in text.lower(), code
        else:
            assert "alert only" in text.lower(), code
