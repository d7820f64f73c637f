"""`python -m clausewise.cli ...` runs the command line."""

from .main import main

main()
