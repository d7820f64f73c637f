"""What the commands share: exit codes and loading the policies under a path."""

from __future__ import annotations

import sys

import click

from .. import Engine
from ..engine.store import PolicyStore

EXIT_FAILED = 1  # check errors, failing tests
EXIT_POLICY = 2  # the policies cannot be loaded, or the command is used wrongly
EXIT_INPUT = 3  # bad decision input
EXIT_EVALUATION = 4  # the policy failed on the input (an `EvaluationError`)


def load_engine(policies: str, policy_id: str | None = None) -> Engine:
    """The policies under `policies`, loaded leniently: a policy that does not check is left
    out and keeps no other from being used. With `policy_id`, exit 2 when that one does not
    check (its errors printed); the others' problems are only counted."""
    try:
        store = PolicyStore.load(policies, strict=False)
    except FileNotFoundError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_POLICY)
    if policy_id is not None:
        own = store.errors_of(policy_id)
        if own:
            click.echo("\n\n".join(d.render() for d in own), err=True)
            click.echo(
                f"error: {policy_id} does not check; run `clausewise check {policies}`", err=True
            )
            sys.exit(EXIT_POLICY)
    broken = len(store.failed)
    if broken and policy_id is not None:
        click.echo(
            f"warning: {broken} other policy file(s) under {policies} do not check and were "
            f"left out; run `clausewise check {policies}`",
            err=True,
        )
    return Engine(store)
