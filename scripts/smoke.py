#!/usr/bin/env python3
"""CI smoke run: every dataset x model recipe for a few batches; non-zero exit on any failure.

Usage: python scripts/smoke.py [--data-dir DIR] [--keep DIR] [--only NAME ...]
(the same as the installed `nnrun-smoke` command).
"""

import sys

from nnrecipes.smoke import main

if __name__ == "__main__":
    sys.exit(main())
