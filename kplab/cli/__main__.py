"""`python -m kplab.cli ...`: the `kplab` command."""
import sys

from kplab.cli import main

sys.exit(main())
