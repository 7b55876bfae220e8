"""`python -m ctxembed.cli ...` runs the command line."""

import sys

from ctxembed.cli import main

sys.exit(main())
