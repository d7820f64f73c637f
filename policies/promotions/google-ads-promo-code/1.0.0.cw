# Google Ads promotional code offers ("spend X, get Y").
# Contract: CONTRACTS.md section 2; clauses B1-B11 of TERMS.md.
policy "promotions/google-ads-promo-code"
version "1.0.0"
title "Google Ads promotional code offer"
source "Google Ads: promotional codes (001_6bcb42b3effa4c0d.txt, Thai), terms B1-B11"
input schema "input.schema.json"
output schema "output.schema.json"
out of scope B1 "How codes are handed out is Google's and its partners' matter; the decision starts from the code on the account."
out of scope B7 "What the credit pays for once it is on the account is billing (budgets/google-ads-credit-budget)."
out of scope B9 "Advice to pay a little more than the requirement; it sets no condition."
out of scope B12 "How the credit raises the budget and what is charged is billing (budgets/google-ads-credit-budget)."
out of scope B13 "Credit left at the end of a budget moving to the next one is billing (budgets/google-ads-credit-budget)."

# ---- Input rules beyond the schema (INPUT_RULES.md), in the order of their paths -------------

require code_entered_before_account_created cites B3:
  input.code_entered_at is null or input.code_entered_at >= input.account.created_at
  at input.code_entered_at "The code cannot have been entered before the account was created."

require currency_mismatch for c in input.costs:
  c.amount.currency == input.offer.spend_threshold.currency
  at c.amount.currency "Every cost must be in the offer's currency (the currency of its spend threshold)."

require currency_mismatch:
  input.offer.credit.currency == input.offer.spend_threshold.currency
  at input.offer.credit.currency "The offer's credit must be in the currency of its spend threshold."

require currency_mismatch for p in input.payments:
  p.amount.currency == input.offer.spend_threshold.currency
  at p.amount.currency "Every payment must be in the offer's currency (the currency of its spend threshold)."

# ---- Entering the code (B2, B3, B6, B8, B11) ------------------------------------------------

let entry_window_end = input.account.created_at + days(input.offer.entry_window_days)

# Every entry check that fails, in the contract's order; without an entry time only the
# checks that need none are made.
decision entry_codes collect cites B2, B3, B6, B8, B11 {
  rule code_not_entered cites B3, B6 "No promotional code has been entered on the account."
    when input.code_entered_at is null
  rule code_entered_after_expiry cites B6, B8 "The code was entered after it expired."
    when input.code_entered_at is not null and input.code_entered_at > input.offer.code_expires_at
  rule code_entered_after_entry_window cites B3
    "The code was entered too late: it must be entered within the offer's number of days after the account was created."
    when input.code_entered_at is not null and input.code_entered_at >= entry_window_end
  rule not_new_advertiser cites B2
    "The offer is for new advertisers only, and this account's advertiser is not new."
    when input.offer.new_advertisers_only and not input.account.is_new_advertiser
  rule code_entered_before_monthly_invoicing cites B11
    "On monthly invoicing the code must be entered after the account was set up for monthly invoicing, and it was not."
    when input.code_entered_at is not null
      and input.account.payment_setting == "monthly_invoicing"
      and (input.account.monthly_invoicing_since is null
        or input.code_entered_at < input.account.monthly_invoicing_since)
}

rule code_valid cites B2, B3, B6, B8, B11
  "The code was entered in time, before it expired, on an account the offer is for."
  when count(entry_codes) == 0

# ---- Spending and paying within the window (B3, B4, B6, B8, B10) ----------------------------

# Only what happens from the moment the code is entered, for the offer's number of days, counts.
let spend_window = if input.code_entered_at is null then null
  else input.code_entered_at ..< input.code_entered_at + days(input.offer.spend_window_days)

let counted_costs = if spend_window is null then []
  else [c for c in input.costs where c.at in spend_window]

# Payments count only for manual payments (B8).
let manual = input.account.payment_setting == "manual"

let counted_payments = if spend_window is null or not manual then []
  else [p for p in input.payments where p.at in spend_window]

let threshold = input.offer.spend_threshold

let counted_spend = sum(c.amount for c in counted_costs) ?? money(0, threshold.currency)

# B10: payments are gross of VAT, so net payments reach the threshold when the gross ones reach
# threshold x (1 + VAT rate), exactly.
let gross_payment_target = threshold * (1 + input.account.vat_rate)

# When the running total of `items`, in time order (ties in input order), first reaches
# `target`. A target of zero is reached as soon as the code is entered.
let reached_at(items, target) = if target.amount == 0 then input.code_entered_at
  else first(
    r.item.at
    for r in running_sum(x.amount for x in items order by x.at) where r.total >= target
  )

let spend_reached_at = if spend_window is null then null else reached_at(counted_costs, threshold)

let payments_reached_at = if spend_window is null or not manual then null
  else reached_at(counted_payments, gross_payment_target)

# The moment every requirement was first met: for manual payments, the later of the spend and
# the payments reaching the threshold.
let requirement_met_at = if spend_reached_at is null then null
  else if not manual then spend_reached_at
  else if payments_reached_at is null then null
  else greatest(spend_reached_at, payments_reached_at)

# Why the credit is not (yet) due once the code is valid, in the contract's order.
decision requirement_codes(period) collect cites B3, B4, B5, B6, B8, B10 {
  rule spend_below_threshold cites B3, B4, B6
    "Clicks counted since the code was entered, within the spend window, have not reached the spend threshold."
    when spend_reached_at is null
  rule prepayment_below_threshold cites B8, B10
    "Manual payments made within the spend window, net of VAT, do not add up to the spend threshold."
    when manual and payments_reached_at is null
  rule spend_window_elapsed cites B6 "The spend window has ended without the requirement being met."
    when requirement_met_at is null and input.as_of >= period.end
  rule billing_details_missing cites B5
    "Billing details have not been entered; the credit can only be used once they are."
    when not input.account.billing_details_entered
}

let reasons = if code_valid and spend_window is not null then requirement_codes(spend_window)
  else entry_codes

decision status first cites B2, B3, B5, B6, B8, B11 {
  rule code_can_still_be_entered cites B3, B6
    "No code has been entered yet, but the entry window and the code are both still open."
    when entry_codes == ["code_not_entered"]
      and input.as_of < entry_window_end
      and input.as_of < input.offer.code_expires_at
    then "pending"
  rule code_cannot_count cites B2, B3, B6, B8, B11
    "The code was not entered validly, so this account cannot earn the offer's credit."
    when not code_valid
    then "ineligible"
  rule window_elapsed cites B6 "The spend window ended before the requirement was met."
    when "spend_window_elapsed" in reasons
    then "ineligible"
  rule credit_due cites B3, B5, B6, B8
    "The requirement was met within the spend window and billing details are entered: the credit is due."
    when requirement_met_at is not null and input.account.billing_details_entered
    then "qualified"
  else "pending"
}

let qualified_at = if status == "qualified" then requirement_met_at else null

invariant qualified_without_reasons cites B3
  "A decision is qualified exactly when no reason holds it back":
  (output.status == "qualified") == (count(output.reasons) == 0)

invariant credit_only_when_qualified cites B3, B6
  "The credit, its moment and its due date are given only to a qualified account":
  (output.qualified_at is not null) == (output.status == "qualified")
    and (output.credit is not null) == (output.status == "qualified")
    and (output.credit_due_by is not null) == (output.status == "qualified")

invariant qualified_within_window cites B4, B6
  "An account qualifies no earlier than the code entry and within the spend window":
  output.qualified_at is null
    or (input.code_entered_at is not null
        and output.qualified_at >= input.code_entered_at
        and output.qualified_at < input.code_entered_at + days(input.offer.spend_window_days)
      or output.qualified_at == input.code_entered_at)

output {
  status: status,
  reasons: reasons,
  counted_spend: counted_spend,
  qualified_at: qualified_at,
  credit: if qualified_at is not null then input.offer.credit else null,
  # B3, B6, B8: the credit appears within 31 days, counted in the account's own calendar.
  credit_due_by: if qualified_at is not null then local_date(qualified_at, input.account.time_zone)
    + 31 days
    else null,
}
