"""``python -m streams.cli``: the ``lifecycle`` command without the console script."""

import sys

from streams.cli.command import main

sys.exit(main())
