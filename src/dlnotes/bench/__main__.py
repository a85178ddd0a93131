"""``python -m dlnotes.bench`` = ``dlnotes-bench``."""

import sys

from dlnotes.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
