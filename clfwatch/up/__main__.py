"""``python -m clfwatch.up`` (what ``make up`` runs)."""

import sys

from clfwatch.up.main import main

sys.exit(main())
