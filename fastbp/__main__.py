"""``python -m fastbp``: the ``fastbp`` command (:mod:`fastbp.cli`)."""
import sys

from .cli import main

sys.exit(main())
