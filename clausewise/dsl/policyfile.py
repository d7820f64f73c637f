"""A policy file's tree: read through `treefiles`, parsed, and kept in the cache."""

from __future__ import annotations

from pathlib import Path

from . import ast as A
from .cache import load_tree, store_tree
from .treefiles import read_text


def parse_file(path: str | Path) -> A.PolicyFile:
    """Read and parse a policy file (a regular file of bounded size, see `treefiles`); the tree
    of an unchanged file comes from the cache (and the parser, and lark, are then not even
    imported)."""
    p = Path(path)
    text = read_text(p)
    tree = load_tree(str(p), text)
    if tree is not None:
        return tree
    from .parser import parse

    tree = parse(text, str(p))
    store_tree(str(p), text, tree)
    return tree
