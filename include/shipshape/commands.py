"""Commands other packages add to the `shipshape` CLI, through the `shipshape.commands` entry point group.

Each entry point is named after its command and is a function `(subparsers, name)` that adds it to the
CLI's argparse subparsers. The sandbox (`shipshape_sandbox`, the project's `sandbox` extra) brings
`sandbox` and `demo` this way, so the product names it nowhere in its imports. Entry points are read from
the installed package metadata: `pip install -e '.[sandbox]'` (or `make install`) registers them.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

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
    """The installed `shipshape.commands` entry points by command name (nothing is imported yet)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available(name: str) -> bool:
    """Whether an installed package provides the command `name`."""
    return name in installed()
