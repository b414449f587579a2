"""``python -m ebr`` runs the ``ebr`` command."""

from ebr.cli import main

main()
