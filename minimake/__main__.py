"""``python -m minimake``."""

import sys

from minimake.cli import main

sys.exit(main())
