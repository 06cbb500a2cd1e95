"""``python -m atomdata`` runs the command line."""
import sys

from atomdata.cli import main

sys.exit(main())
