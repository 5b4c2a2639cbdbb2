"""``python -m coherence``: the ``coherence`` command."""

from __future__ import annotations

import sys

from coherence.cli import main

if __name__ == "__main__":
    sys.exit(main())
