"""The quality gate's settings: where Data Docs go and the thresholds the suites use.

Every setting has a default and an environment variable (a deployment sets them like any other
shipshape setting); :func:`GateSettings.from_env` reads them, and a caller may override any field with
``dataclasses.replace``.

| variable | default | meaning |
|---|---|---|
| ``SHIPSHAPE_DATA_DOCS_DIR`` | ``$SHIPSHAPE_DATA_DIR/data_docs`` or ``<project>/.data/data_docs`` | Data Docs site folder |
| ``SHIPSHAPE_DATA_DOCS_KEEP`` | ``1000`` | validation results the site keeps and lists (about 40 reconcile runs: a run validates 24 assets) |
| ``SHIPSHAPE_GATE_TIMESTAMP_FLOOR`` | ``2000-01-01T00:00:00Z`` | no timestamp before this |
| ``SHIPSHAPE_GATE_CLOCK_SKEW_MINUTES`` | ``15`` | no timestamp after as-of plus this |
| ``SHIPSHAPE_GATE_MISMATCH_FACTOR`` | ``3`` | the mismatch rate may not exceed factor × recent median |
| ``SHIPSHAPE_GATE_MISMATCH_FLOOR`` | ``0.01`` | the median used is at least this (a quiet store may still get a few) |
| ``SHIPSHAPE_GATE_MISMATCH_MIN_HISTORY`` | ``5`` | earlier runs needed before the spike check applies |
| ``SHIPSHAPE_GATE_MISMATCH_WINDOW`` | ``24`` | how many earlier runs the median is taken over |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shipshape import warehouse

DATA_DOCS_ENV = "SHIPSHAPE_DATA_DOCS_DIR"


def data_docs_dir(env: Mapping[str, str] | None = None) -> Path:
    """The Data Docs folder: ``$SHIPSHAPE_DATA_DOCS_DIR``, else ``data_docs`` beside the embedded warehouse's data."""
    env = os.environ if env is None else env
    if env.get(DATA_DOCS_ENV):
        return Path(env[DATA_DOCS_ENV]).expanduser().resolve()
    base = env.get(warehouse.DATA_DIR_ENV)
    root = Path(base).expanduser() if base else warehouse.project_root() / ".data"
    return (root / "data_docs").resolve()


@dataclass(frozen=True)
class GateSettings:
    data_docs_dir: Path
    data_docs_keep: int = 1000
    timestamp_floor: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    clock_skew: timedelta = timedelta(minutes=15)
    mismatch_factor: float = 3.0
    mismatch_floor: float = 0.01
    mismatch_min_history: int = 5
    mismatch_window: int = 24

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GateSettings:
        env = os.environ if env is None else env
        kwargs: dict[str, object] = {"data_docs_dir": data_docs_dir(env)}
        if env.get("SHIPSHAPE_GATE_TIMESTAMP_FLOOR"):
            floor = datetime.fromisoformat(env["SHIPSHAPE_GATE_TIMESTAMP_FLOOR"].replace("Z", "+00:00"))
            kwargs["timestamp_floor"] = floor if floor.tzinfo else floor.replace(tzinfo=UTC)
        if env.get("SHIPSHAPE_GATE_CLOCK_SKEW_MINUTES"):
            kwargs["clock_skew"] = timedelta(minutes=float(env["SHIPSHAPE_GATE_CLOCK_SKEW_MINUTES"]))
        if env.get("SHIPSHAPE_DATA_DOCS_KEEP"):
            kwargs["data_docs_keep"] = max(1, int(env["SHIPSHAPE_DATA_DOCS_KEEP"]))
        for name, cast in (("mismatch_factor", float), ("mismatch_floor", float),
                           ("mismatch_min_history", int), ("mismatch_window", int)):
            value = env.get(f"SHIPSHAPE_GATE_{name.upper()}")
            if value:
                kwargs[name] = cast(value)
        return cls(**kwargs)  # type: ignore[arg-type]

    @property
    def validation_results_dir(self) -> Path:
        """Where the gates keep their validation results for the site to list: beside the site, not in it
        (the site is served; the results are its source)."""
        return self.data_docs_dir.with_name(self.data_docs_dir.name + "_validations")
