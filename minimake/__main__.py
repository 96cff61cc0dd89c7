"""``python -m minimake``."""

import sys

# Ctrl-C while Python is still loading minimake ends it as Ctrl-C ends make, with no
# traceback; once main() runs, it handles every signal itself.
try:
    from minimake.cli import main

    status = main()
except KeyboardInterrupt:
    status = 130
sys.exit(status)
