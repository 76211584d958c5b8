"""sqlfluff on the dbt project's macros: each macro's body linted as the SQL it is, with the project's rules.

sqlfluff does not lint macro bodies by itself: neither templater renders a file of `{% macro %}` blocks to
anything (the dbt templater lints nodes, and a macro file is no node; the jinja templater renders the
definitions to nothing). So each `{% macro %}` (and generic `{% test %}`) body is taken out and linted on its own
with the jinja templater (dbt's builtins, the project's macros loadable, undefined names such as `this`
or `target` rendered as their names) and dbt_project/.sqlfluff's rules and layout. A body that is a
fragment (an expression, a relation name) is linted as the target of a `select`. Violations are reported
at their line and column in the macro file; layout rules that only concern whole files (LT12, LT13) are
left out. What a macro renders to inside a model is not linted again (sqlfluff skips templated output);
`{% if %}` branches are linted as far as sqlfluff's variant rendering reaches them.

    python tests/dbt/lint_macros.py [dbt_project/macros/<file>.sql ...]    # exit status 1 on violations
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

from sqlfluff.core import FluffConfig, Linter

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
MACRO = re.compile(r"\{%-?\s*(?:macro|test)\s+(\w+)\s*\((.*?)\)\s*-?%\}(.*?)\{%-?\s*end(?:macro|test)\s*-?%\}", re.S)
FRAGMENT_INDENT = "    "
# arguments a macro uses where a bare name would not parse: what its callers pass instead
ARGUMENTS = {"changed": "(select null)", "column": "as_of"}
# what a fragment is linted after (the comment keeps `select` apart from a body that starts with `{%-`)
FRAGMENT_PREFIX = "select /* a fragment */\n"


def _linter(exclude: str = "") -> Linter:
    config = FluffConfig.from_path(str(PROJECT), overrides={
        "templater": "jinja", "dialect": "postgres", "ignore": "templating",
        "exclude_rules": ",".join(filter(None, ["ST06,LT12,LT13", exclude]))})
    # dbt's return() ends the macro; in a body rendered on its own it has nothing to end
    config.set_value(["templater", "jinja", "macros", "return"], "{% macro return(value) %}{% endmacro %}")
    config.set_value(["templater", "jinja", "load_macros_from_path"], str(PROJECT / "macros"))
    return Linter(config=config)


def lint_file(path: Path, linters: tuple[Linter, Linter] | None = None) -> list[str]:
    """The violations in the macros of `path`, as 'file:line:column [macro] CODE description'."""
    # a fragment's `select` is ours: where its target goes (LT09) is not the macro's to answer for
    linter, fragment_linter = linters or (_linter(), _linter(exclude="LT09"))
    source = path.read_text()
    problems = []
    for macro in MACRO.finditer(source):
        name, params, raw = macro.group(1), macro.group(2), macro.group(3)
        first_line = source.count("\n", 0, macro.start(3)) + 1 + (1 if raw.startswith("\n") else 0)
        body = textwrap.dedent(raw.strip("\n"))
        indent = next((len(a) - len(b) for a, b in zip(raw.strip("\n").splitlines(), body.splitlines(),
                                                        strict=True) if b.strip()), 0)
        arguments = "".join(
            f"{{% set {arg} = {ARGUMENTS[arg]!r} %}}" for arg in re.findall(r"\w+", params) if arg in ARGUMENTS)
        violations = linter.lint_string(arguments + body, fname=str(path)).get_violations()
        line_offset, column_offset = first_line - 1, -indent
        if any(v.rule_code() == "PRS" for v in violations):
            fragment = fragment_linter.lint_string(
                arguments + FRAGMENT_PREFIX + textwrap.indent(body, FRAGMENT_INDENT), fname=str(path)).get_violations()
            if not any(v.rule_code() == "PRS" for v in fragment):
                violations, line_offset, column_offset = fragment, first_line - 2, len(FRAGMENT_INDENT) - indent
        for v in violations:
            shown = path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path
            problems.append(f"{shown}:{v.line_no + line_offset}:"
                            f"{max(v.line_pos - column_offset, 1)} [{name}] {v.rule_code()} {v.desc()}")
    return problems


def lint(paths: list[Path] | None = None) -> list[str]:
    """The violations in every macro file (or in `paths`)."""
    linters = (_linter(), _linter(exclude="LT09"))
    return [p for path in sorted(paths or (PROJECT / "macros").glob("*.sql")) for p in lint_file(path, linters)]


if __name__ == "__main__":
    found = lint([Path(arg).resolve() for arg in sys.argv[1:]] or None)
    print("\n".join(found) or "macros: no violations")
    sys.exit(1 if found else 0)
