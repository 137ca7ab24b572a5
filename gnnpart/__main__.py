"""``python -m gnnpart`` runs the command line."""
import sys

from gnnpart.cli.main import main

sys.exit(main())
