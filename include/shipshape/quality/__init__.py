"""The Great Expectations quality gate: a `raw` suite after ingest and a `marts` suite before the push.

    from shipshape.quality import run_gate, QualityGateFailed
    run_gate("raw", url, as_of=as_of, run_id=run_id)    # raises QualityGateFailed naming each failure

See :mod:`shipshape.quality.suites` for what each suite checks, :mod:`shipshape.quality.store` for the
`ops` tables, :mod:`shipshape.quality.settings` for the settings. Importing this package does not import
Great Expectations (slow); running a gate does.
"""

from shipshape.quality.gate import ExpectationOutcome, GateResult, QualityGateFailed, run_gate
from shipshape.quality.settings import GateSettings, data_docs_dir

__all__ = ["ExpectationOutcome", "GateResult", "GateSettings", "QualityGateFailed", "data_docs_dir", "run_gate"]
