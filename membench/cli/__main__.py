"""`python -m membench.cli`, as the `membench` script."""

import sys

from membench.cli import main

sys.exit(main())
