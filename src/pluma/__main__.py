"""``python -m pluma`` is the ``pluma`` command."""

from pluma.cli import main

main()
