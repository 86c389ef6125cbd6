"""``python -m capgym`` runs the CLI."""

from capgym.cli import main

main()
