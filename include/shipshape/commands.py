"""Commands other packages add to the `shipshape` CLI, through the `shipshape.commands` entry point group.

Each entry point is named after its command and is a function `(subparsers, name)` that adds it to the
CLI's argparse subparsers. The sandbox (`shipshape_sandbox`, the project's `sandbox` extra) brings
`sandbox` and `demo` this way, so the product names it nowhere in its imports. Entry points are read from
the installed package metadata: `pip install -e '.[sandbox]'` (or `make install`) registers them.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from importlib.util import find_spec

GROUP = "shipshape.commands"

SANDBOX_INSTALL = ("the sandbox is a package of its own (shipshape_sandbox): install it with "
                   "`pip install -c constraints.txt -e '.[sandbox]'` in a checkout (`make install` does)")
# Commands another package of the project brings, with their help and how to get them: the CLI lists
# them (and says how to install them) even where that package is missing.
OPTIONAL = {
    "sandbox": ("the local stand-in for all five APIs", SANDBOX_INSTALL),
    "demo": ("run the sandboxed pipeline end to end", SANDBOX_INSTALL),
}


def installed() -> dict[str, EntryPoint]:
    """The `shipshape.commands` entry points by command name whose package is there (nothing is imported
    yet). A built distribution carries the product alone but still declares the sandbox's commands (one
    pyproject.toml), so an entry point counts only when its top-level package can be found."""
    return {ep.name: ep for ep in entry_points(group=GROUP) if find_spec(ep.module.partition(".")[0]) is not None}


def available(name: str) -> bool:
    """Whether an installed package provides the command `name`."""
    return name in installed()
