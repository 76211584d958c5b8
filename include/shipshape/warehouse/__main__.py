"""``python -m shipshape.warehouse up|down|status`` (the CLI offers the same as ``shipshape warehouse``)."""

from __future__ import annotations

import json
import sys

from shipshape import warehouse


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "status"
    if command == "up":
        print(f"warehouse ready: {warehouse.mask_url(warehouse.up())}")
    elif command == "down":
        print(warehouse.down())
    elif command == "status":
        print(json.dumps(warehouse.status(), indent=2))
    else:
        print("usage: python -m shipshape.warehouse up|down|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
