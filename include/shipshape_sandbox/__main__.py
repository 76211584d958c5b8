"""`python -m shipshape_sandbox serve ...`: the sandbox's commands without the `shipshape` CLI."""

import sys

from shipshape_sandbox.cli import main

sys.exit(main())
