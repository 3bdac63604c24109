"""Alias of ``python -m model.evaluation`` (the command the issues and older notes quote)."""

import sys

from model.evaluation.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
