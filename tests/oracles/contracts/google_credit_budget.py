"""Reference implementation of ``budgets/google-ads-credit-budget`` (CONTRACTS.md section 3).

Clauses B7 (credit pays for costs first), B12 (the credit raises the budget, the charge stays
within the original budget) and B13 (unused credit carries over). Exact decimal arithmetic;
each output amount is rounded half-even on its own, from the exact values.
"""

from __future__ import annotations

from decimal import localcontext
from typing import Any

from tests.oracles.contracts.values import (
    EXACT,
    CodedInputError,
    amount,
    first_error,
    format_money,
    validate,
)

POLICY_ID = "budgets/google-ads-credit-budget"


def decide(data: dict[str, Any]) -> dict[str, Any]:
    """Split this period's spend between promotional credit and charge; the contract's output.

    Raises ``ReferenceInputError`` (a ``CodedInputError``) on bad input; the three amounts
    must share the budget's currency (``currency_mismatch``, INPUT_RULES.md).
    """
    validate(data, POLICY_ID)
    currency = data["budget"]["currency"]
    mismatched = [
        CodedInputError(
            f"/{field}/currency",
            f"currency {data[field]['currency']!r} is not the budget's {currency!r}",
            "currency_mismatch",
        )
        for field in ("credit_available", "spent")
        if data[field]["currency"] != currency
    ]
    if mismatched:
        raise first_error(mismatched)

    with localcontext(EXACT):
        budget = amount(data["budget"]["amount"])
        credit = amount(data["credit_available"]["amount"])
        spent = amount(data["spent"]["amount"])
        credit_used = min(spent, credit)  # B7
        charge = min(spent - credit_used, budget)  # B12
        return {
            "effective_budget": format_money(budget + credit, currency),  # B12
            "credit_used": format_money(credit_used, currency),
            "charge": format_money(charge, currency),
            "credit_carried_over": format_money(credit - credit_used, currency),  # B13
        }
