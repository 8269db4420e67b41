"""``python -m jaxpanel``: the command line (see :mod:`jaxpanel.cli`)."""

import sys

from .cli import main

sys.exit(main())
