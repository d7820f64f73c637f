"""What the shipped policies' test files share: reading their YAML cases as JSON would, and the
helpers of the policy test runner (`clausewise.testing`)."""

from __future__ import annotations

from typing import Any

import yaml

from clausewise.testing import fired_rules, subset_diff

__all__ = ["JsonishLoader", "fired_rules", "subset_problems"]


class JsonishLoader(yaml.SafeLoader):
    """YAML without implicit dates or other guesses beyond JSON's."""


JsonishLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def subset_problems(expected: Any, actual: Any) -> list[str]:
    """Where `actual` differs from `expected`, comparing only what `expected` gives."""
    return subset_diff(expected, actual)
