# Google Ads: how promotional credit and the budget share this period's costs (CONTRACTS.md 3).
policy "budgets/google-ads-credit-budget"
version "1.0.0"
title "Google Ads budget with promotional credit"
source "Google Ads promotional codes, Thai terms (clauses B7, B12, B13)"
input schema "input.schema.json"
output schema "output.schema.json"
out of scope B1 "How codes are handed out; this policy starts from the credit on the account."
out of scope B2 "Who an offer is for is decided when the code is redeemed (promotions/google-ads-promo-code)."
out of scope B3 "Earning the credit is decided by promotions/google-ads-promo-code."
out of scope B4 "Which spend counts towards an offer is decided by promotions/google-ads-promo-code."
out of scope B5 "Billing details and refunds on cancellation are not part of sharing a period's costs."
out of scope B6 "Earning the credit on automatic payments is decided by promotions/google-ads-promo-code."
out of scope B8 "Earning the credit on manual payments is decided by promotions/google-ads-promo-code."
out of scope B9 "Advice to pay a little more than the requirement; it sets no condition."
out of scope B10 "VAT on manual payments counts when the credit is earned (promotions/google-ads-promo-code)."
out of scope B11 "The monthly-invoicing condition on code entry is decided by promotions/google-ads-promo-code."

# One currency per account: the budget's currency is the reference (INPUT_RULES.md).
require currency_mismatch:
  input.credit_available.currency == input.budget.currency
  at input.credit_available.currency "The promotional credit must be in the budget's currency."

require currency_mismatch:
  input.spent.currency == input.budget.currency
  at input.spent.currency "This period's costs must be in the budget's currency."

let budget = input.budget

let credit = input.credit_available

let spent = input.spent

let zero = money(0, budget.currency)

# B7: the credit pays for costs first, from the moment it is on the account; costs beyond it go
# to the payment method.
decision credit_used first cites B7 {
  rule credit_covers_all_costs cites B7
    "The promotional credit pays for costs first, and it covers all of this period's costs."
    when spent <= credit
    then spent
  else credit
}

# B12: the credit raises the budget, but the charge never exceeds the original budget.
decision charge first cites B7, B12 {
  rule charge_capped_at_budget cites B12
    "The costs beyond the promotional credit exceed your original budget: you are charged the original budget and no more."
    when spent - credit_used > budget
    then budget
  rule costs_beyond_credit_charged cites B7
    "The promotional credit is used up: the costs beyond it are charged to your payment method, and your ads keep running."
    when spent > credit_used
    then spent - credit_used
  else zero
}

# B13: credit left at the end of a budget moves to the next active budget.
decision credit_carried_over first cites B13 {
  rule credit_left_over cites B13
    "Part of the promotional credit was not needed this period: it is added to your next active budget."
    when credit_used < credit
    then credit - credit_used
  else zero
}

output {
  effective_budget: budget + credit,
  credit_used: credit_used,
  charge: charge,
  credit_carried_over: credit_carried_over,
}

invariant charge_within_budget cites B12 "The charge never exceeds the original budget":
  output.charge <= input.budget

invariant charge_within_spend cites B7 "The charge never exceeds what was spent":
  output.charge <= input.spent

invariant credit_accounted_for cites B7, B13
  "Credit used and credit carried over add up to the credit available":
  output.credit_used + output.credit_carried_over == input.credit_available

invariant effective_budget_is_sum cites B12 "The effective budget is the budget plus the credit":
  output.effective_budget == input.budget + input.credit_available
