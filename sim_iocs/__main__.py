"""``python -m sim_iocs areadetector --prefix P [--mount W=H] [--port N] [--list-pvs]``."""

from __future__ import annotations

import sys

from sim_iocs._cli import main

if __name__ == "__main__":
    sys.exit(main())
