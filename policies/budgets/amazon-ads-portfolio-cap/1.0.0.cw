# Amazon Ads portfolio budget caps: delivery of the portfolio's campaigns and billing for the
# period (CONTRACTS.md 5).
policy "budgets/amazon-ads-portfolio-cap"
version "1.0.0"
title "Amazon Ads portfolio budget cap"
source "Amazon Ads portfolio budgets, Chinese terms with the English original (clauses D1-D9)"
input schema "input.schema.json"
output schema "output.schema.json"
out of scope D7 "Advice on choosing campaign budgets; it changes no decision."
out of scope D8 "How to resume delivery; the decision follows from the cap and dates as given."
out of scope D9 "Invoice layout and the campaign-to-portfolio mapping are not decided here."

# ---- input rules JSON Schema cannot express (INPUT_RULES.md, in its order) -------------------

require cap_amount_required cites D5:
  input.portfolio.cap.type == "none" or input.portfolio.cap.amount is not null
  at input.portfolio.cap.amount "A monthly or date-range cap needs an amount."

require range_start_required cites D5:
  input.portfolio.cap.type != "date_range" or input.portfolio.cap.start_date is not null
  at input.portfolio.cap.start_date "A date-range cap needs a start date."

require range_end_required cites D5:
  input.portfolio.cap.type != "date_range" or input.portfolio.cap.end_date is not null
  at input.portfolio.cap.end_date "A date-range cap needs an end date."

require range_start_after_end cites D5:
  input.portfolio.cap.type != "date_range"
    or input.portfolio.cap.start_date is null
    or input.portfolio.cap.end_date is null
    or input.portfolio.cap.start_date <= input.portfolio.cap.end_date
  at input.portfolio.cap.start_date "The cap's date range cannot start after it ends."

# One currency per portfolio: every amount is in the currency of the period's spend.
require currency_mismatch:
  input.portfolio.cap.amount is null
    or input.portfolio.cap.amount.currency == input.portfolio.spent_in_period.currency
  at input.portfolio.cap.amount.currency "The cap must be in the currency of the portfolio's spend."

require currency_mismatch for c in input.portfolio.cap_changes for m in [
  c.from, c.to, c.spent_at_change
]:
  m.currency == input.portfolio.spent_in_period.currency
  at m.currency "Every cap change must be in the currency of the portfolio's spend."

require currency_mismatch for c in input.campaigns for m in [c.budget, c.spent]:
  m.currency == input.portfolio.spent_in_period.currency
  at m.currency "Every campaign budget and spend must be in the currency of the portfolio's spend."

# ---- the cap and its period (D1, D5) ---------------------------------------------------------

let as_of = input.as_of

let cap = input.portfolio.cap

let spent = input.portfolio.spent_in_period

let zero = money(0, spent.currency)

rule range_not_started cites D5 "The cap's date range has not started yet."
  when cap.type == "date_range" and cap.start_date is not null and as_of < cap.start_date

rule range_ended cites D5
  "The cap's date range has ended: the portfolio's campaigns are paused, even those whose own end date is later."
  when cap.type == "date_range" and cap.end_date is not null and as_of > cap.end_date

decision cap_active first cites D1, D5 {
  rule no_cap cites D5
    "The portfolio has no budget cap (the default): its campaigns spend until their own budgets are used."
    when cap.type == "none"
    then false
  rule monthly_cap cites D1, D5
    "The portfolio has a monthly cap: it resets on the first day of each month, and all of this month's spend counts against it."
    when cap.type == "monthly_recurring"
    then true
  # the type is date_range here
  rule date_range_cap_in_force cites D1, D5
    "The portfolio has a cap for a date range that includes this day."
    when not range_not_started and not range_ended
    then true
  else false
}

# The current period: the calendar month of `as_of`, or the cap's date range; none without a cap.
let period_start = if cap.type == "monthly_recurring" then start_of_month(as_of)
  else if cap.type == "date_range" then cap.start_date
  else null

let period_end = if cap.type == "monthly_recurring" then end_of_month(as_of)
  else if cap.type == "date_range" then cap.end_date
  else null

# D1: the cap is the most the portfolio's campaigns may spend in the period.
let remaining = if cap_active and cap.amount is not null then greatest(cap.amount - spent, zero)
  else null

rule cap_reached cites D1, D6
  "The portfolio has spent its whole cap: every campaign in it stops delivering, even those with budget left."
  when remaining is not null and remaining == zero

# ---- campaigns (D1, D5, D6) ------------------------------------------------------------------

decision campaign_reason(c) first cites D1, D5, D6 {
  rule paused_by_user cites D5 "You paused this campaign."
    when c.paused_by_user
  rule campaign_ended cites D5 "The campaign's end date has passed."
    when c.end_date is not null and as_of > c.end_date
  rule portfolio_date_range_ended cites D5
    "The portfolio's cap date range has ended, which pauses the campaign even if its own end date is later."
    when range_ended
  rule portfolio_cap_reached cites D1, D6
    "The portfolio has reached its cap; the portfolio cap overrides the campaign's own budget."
    when cap_reached
  rule campaign_budget_exhausted cites D5, D6 "The campaign has spent its whole budget."
    when c.spent >= c.budget
  else "delivering"
}

# D6: a delivering campaign may spend the least of its own budget left and the portfolio's.
let campaign_row(c, reason) = {
  id: c.id,
  delivering: reason == "delivering",
  reason: reason,
  spendable: if reason != "delivering" then zero
    else if remaining is not null then least(c.budget - c.spent, remaining)
    else c.budget - c.spent,
}

# ---- billing (D2, D3, D4) --------------------------------------------------------------------

# Replaying the cap changes in time order (ties: input order), each change sets the billable cap
# afresh: to what had been spent when it lowered the cap to at or below that spend (D4), to its
# new amount otherwise (D3). So the last change decides.
let last_change = last(ch for ch in input.portfolio.cap_changes order by ch.at)

decision billable_cap first cites D2, D3, D4 {
  rule no_cap_billing cites D5 "Without a cap in force for this period, all spend is charged."
    when cap.type == "none" or range_not_started
    then null
  rule cap_lowered_below_spend cites D4
    "The cap was last lowered to at or below what the portfolio had already spent: the charge is what had been spent then, with no over-delivery credit."
    when last_change is not null and last_change.to <= last_change.spent_at_change
    then last_change.spent_at_change
  rule cap_changed_above_spend cites D3
    "The cap was last changed to above what the portfolio had spent: the new cap applies."
    when last_change is not null
    then last_change.to
  rule cap_unchanged cites D2
    "The cap was not changed during the period: you are charged at most the cap."
    when last_change is null
    then cap.amount
}

rule over_delivery_credited cites D2
  "The portfolio spent more than its billable cap: you are not charged more than the cap, and the excess is credited back at the portfolio level."
  when billable_cap is not null and spent > billable_cap

let charge = if over_delivery_credited and billable_cap is not null then billable_cap else spent

output {
  portfolio: {
    cap_active: cap_active,
    period_start: period_start,
    period_end: period_end,
    remaining: remaining,
    exhausted: cap_reached,
    ended: range_ended,
  },
  campaigns: [campaign_row(c, campaign_reason(c)) for c in input.campaigns],
  billing: {spend: spent, charge: charge, over_delivery_credit: spent - charge},
}

# ---- invariants ------------------------------------------------------------------------------

invariant charge_within_spend cites D2 "The charge never exceeds the period's spend":
  output.billing.charge <= output.billing.spend

invariant credit_is_the_excess cites D2 "Charge and over-delivery credit add up to the spend":
  output.billing.charge + output.billing.over_delivery_credit == output.billing.spend

invariant spendable_only_when_delivering cites D1, D6
  "A campaign that is not delivering can spend nothing":
  all(c.delivering or c.spendable.amount == 0 for c in output.campaigns)

invariant remaining_never_negative cites D1 "The portfolio's remaining cap is never negative":
  output.portfolio.remaining is null or output.portfolio.remaining.amount >= 0

invariant spendable_within_remaining cites D6
  "No campaign may spend more than the portfolio has left":
  output.portfolio.remaining is null
    or all(c.spendable <= output.portfolio.remaining for c in output.campaigns)

invariant exhausted_stops_every_campaign cites D1, D6
  "When the cap is reached no campaign delivers":
  not output.portfolio.exhausted or not any(c.delivering for c in output.campaigns)

invariant reason_matches_delivery cites D6
  "A campaign delivers exactly when its reason is `delivering`":
  all(c.delivering == (c.reason == "delivering") for c in output.campaigns)
