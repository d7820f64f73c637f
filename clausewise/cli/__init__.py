"""The `clausewise` command line: `main` is the click group (see `clausewise --help`)."""

from .main import main

__all__ = ["main"]
