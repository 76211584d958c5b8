"""The mismatch codes, as Python reads them: one :class:`MismatchCode` per row of the dbt seed
``dbt_project/seeds/mismatch_codes.csv``, the one place a code, its grain, severity and correction are
written (dbt reads the same file as ``ref('mismatch_codes')``; docs/mismatch-codes.md explains each).

    from shipshape import codes
    codes.names("order")           # ('MISSING_IN_3PL', ..., 'DELIVERY_EXCEPTION'), in the seed's order
    codes.get("DELIVERY_EXCEPTION").severity   # 'medium'
    codes.correctable()            # frozenset of the codes a correction answers

The file is found the way dbt's project is (:func:`shipshape.dbt.project_dir`) and read once per process.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from shipshape import dbt

# highest first: an order's severity is the first of these among its codes
SEVERITIES = ("high", "medium", "low")
GRAINS = ("order", "payment", "sku")
SYSTEMS = ("shopify", "shiphero", "stripe", "paypal", "carrier")
COLUMNS = ("code", "grain", "severity", "systems", "truth", "correctable", "correction_system",
           "correction_action", "api_operation", "description")


@dataclass(frozen=True)
class MismatchCode:
    """One row of the seed: a way the systems can disagree."""

    code: str  # upper case, e.g. MISSING_IN_3PL; the flag column is its lower case
    grain: str  # what it is judged on: order, payment or sku
    severity: str  # high, medium or low
    systems: tuple[str, ...]  # the systems whose records disagree (the console's system filter)
    truth: str | None  # the system that is right, when one is
    correctable: bool  # a correction answers it; else it is alert only
    correction_system: str | None  # the system the correction writes to
    correction_action: str | None  # correction_plan.action
    api_operation: str | None  # correction_plan.api_operation
    description: str  # when it holds, in one line

    @property
    def flag(self) -> str:
        """The boolean column that carries it (fct_order_reconciliation, the benchmark's statement)."""
        return self.code.lower()


def seed_path() -> Path:
    return dbt.project_dir() / "seeds" / "mismatch_codes.csv"


def _optional(value: str) -> str | None:
    return value.strip() or None


def _row(number: int, row: dict[str, str], path: Path) -> MismatchCode:
    where = f"{path}, row {number} ({row.get('code') or 'no code'})"

    def check(field: str, ok: bool, expected: str) -> None:
        if not ok:
            raise ValueError(f"{where}: {field} is {row.get(field)!r}, expected {expected}")

    check("code", bool(row["code"]) and row["code"] == row["code"].upper(), "an upper-case code")
    check("grain", row["grain"] in GRAINS, " or ".join(GRAINS))
    check("severity", row["severity"] in SEVERITIES, " or ".join(SEVERITIES))
    systems = tuple(row["systems"].split())
    check("systems", bool(systems) and set(systems) <= set(SYSTEMS), f"space-separated names of {SYSTEMS}")
    check("correctable", row["correctable"] in ("true", "false"), "true or false")
    correctable = row["correctable"] == "true"
    for field in ("correction_system", "correction_action", "api_operation"):
        check(field, bool(row[field].strip()) == correctable,
              "set exactly when correctable is true" if correctable else "empty for an alert-only code")
    check("correction_system", not correctable or row["correction_system"] in SYSTEMS, " or ".join(SYSTEMS))
    check("description", bool(row["description"].strip()), "a line saying when the code holds")
    return MismatchCode(
        code=row["code"], grain=row["grain"], severity=row["severity"], systems=systems,
        truth=_optional(row["truth"]), correctable=correctable,
        correction_system=_optional(row["correction_system"]), correction_action=_optional(row["correction_action"]),
        api_operation=_optional(row["api_operation"]), description=row["description"].strip(),
    )


@functools.cache
def load(path: Path | None = None) -> tuple[MismatchCode, ...]:
    """Every code of the seed, in its order (an error names the row and field that is wrong)."""
    path = path or seed_path()
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: the header is {reader.fieldnames}, expected {list(COLUMNS)}")
        rows = [_row(number, row, path) for number, row in enumerate(reader, start=2)]
    seen: set[str] = set()
    for row in rows:
        if row.code in seen:
            raise ValueError(f"{path}: {row.code} is defined twice")
        seen.add(row.code)
    return tuple(rows)


def get(code: str) -> MismatchCode:
    for row in load():
        if row.code == code:
            return row
    raise KeyError(f"{code} is not a mismatch code (see {seed_path()})")


def names(grain: str | None = None) -> tuple[str, ...]:
    """The codes (of one grain), in the seed's order."""
    return tuple(row.code for row in load() if grain is None or row.grain == grain)


def severity(code: str) -> str:
    return get(code).severity


def correctable(system: str | None = None) -> frozenset[str]:
    """The codes a correction answers (that writes to ``system``, when given)."""
    return frozenset(row.code for row in load()
                     if row.correctable and (system is None or row.correction_system == system))
