"""``python -m jaxpanel``: the command line (see :mod:`jaxpanel.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
