"""``python -m clickstream``: the same as the ``clickstream`` command."""

from __future__ import annotations

import sys

from clickstream.cli import main

if __name__ == "__main__":
    sys.exit(main())
