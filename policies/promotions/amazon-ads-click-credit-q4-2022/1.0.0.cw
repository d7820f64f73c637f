# Amazon Ads click credit for first-time campaign launches, holiday season Q4 2022.
# Contract: CONTRACTS.md section 1; clauses A1-A18 of TERMS.md.
policy "promotions/amazon-ads-click-credit-q4-2022"
version "1.0.0"
title "Amazon Ads click credit, holiday season Q4 2022"
source "Klickkreditkampanj inför högtidssäsongen i Q4 2022 (000_cf24980867f35ccf.txt), terms A1-A18"
input schema "input.schema.json"
output schema "output.schema.json"
out of scope A9 "Charging clicks before the credit arrives or beyond it happens in billing, after this decision."
out of scope A12 "Transfer, resale and cash redemption of a granted credit are not decided here."
out of scope A13 "Legal bans, fraud and errors are judged by Amazon case by case; the input does not describe them."
out of scope A15 "Ending or changing the offer is a new version of this policy, not a rule in it."
out of scope A16 "Credits are decided in USD; conversion to the account's currency happens when they are applied."
out of scope A17 "Taxes on the credit are the advertiser's own matter."
out of scope A18 "Asking the partner about a credit that has not appeared is a support step, not a decision."

# ---- Store and advertiser (A4, A5, A11, A14) ------------------------------------------------

let stores = ["AU", "CA", "EG", "FR", "DE", "IN", "IT", "JP", "NL", "ES", "AE", "UK", "US"]

# Every failing check, in the contract's code order.
decision advertiser_codes collect cites A4, A5, A11, A14 {
  rule store_not_eligible cites A4
    "The store is not one of the thirteen stores in the promotion (AU, CA, EG, FR, DE, IN, IT, JP, NL, ES, AE, UK, US)."
    when input.store not in stores
  rule not_invited cites A5
    "The advertiser was not invited by Amazon through a selected Amazon Ads partner."
    when not input.advertiser.invited
  rule not_in_good_standing cites A11
    "The advertising account is not in good standing under the Amazon Advertising agreement."
    when not input.advertiser.good_standing
  rule no_valid_payment_method cites A14
    "No valid payment method for advertising charges is registered on the account."
    when not input.advertiser.valid_payment_method
}

rule advertiser_eligible cites A4, A5, A11, A14
  "The store takes part in the promotion and the advertiser is invited, in good standing and has a valid payment method."
  when count(advertiser_codes) == 0

# No launch is looked at unless the advertiser and the store pass. Each launch keeps its
# position in the input, which breaks ties between launches at the same instant (A10).
let launches = if advertiser_eligible then indexed(input.launches) else []

# ---- Launches (A1, A6, A10) -----------------------------------------------------------------

# A1: the whole Pacific days 2022-09-26 to 2022-12-31 (07:00Z 2022-09-26 up to 08:00Z 2023-01-01).
let period = in_zone(2022-09-26T00:00, "America/Los_Angeles")
  ..< in_zone(2023-01-01T00:00, "America/Los_Angeles")

let launch_date(l) = local_date(l.launched_at, "America/Los_Angeles")

rule launched_in_period(l) cites A1, A6
  "The campaign was launched between 2022-09-26 00:00 and 2022-12-31 23:59 Pacific time."
  when l.launched_at in period

rule active_30_days(l) cites A6 "The campaign has been active for at least 30 days."
  when l.active_days >= 30

rule qualifies(l) cites A1, A6
  "A first campaign of its ad product in this store, launched in the promotion period and active for at least 30 days."
  when l.first_time and launched_in_period(l) and active_30_days(l)

# A10: one credit per ad product and store. Among the launches that qualify, the one launched
# first earns it (at the same instant, the one listed first).
let earners = distinct(
  n
  for n in launches where qualifies(n.item) order by n.item.launched_at by n.item.ad_product
)

let earner_positions = [e.index for e in earners]

let credited_products = [e.item.ad_product for e in earners]

rule earns_credit(n) cites A10
  "It is the first qualifying launch of its ad product in this store, so it earns the product's credit."
  when n.index in earner_positions

# Why a launch earns nothing: every code that applies, in the contract's order.
decision launch_codes(n) collect cites A1, A6, A10 {
  rule not_first_time cites A5, A6
    "It is not the advertiser's first campaign of this ad product in this store."
    when not n.item.first_time
  rule launched_outside_period cites A1, A6
    "It was launched outside the promotion period (2022-09-26 to 2022-12-31, Pacific time)."
    when not launched_in_period(n.item)
  rule product_already_credited cites A10
    "Another launch of the same ad product earns this store's credit for it; the promotion is redeemed once per ad product."
    when n.item.ad_product in credited_products and n.index not in earner_positions
}

# Each launch decided once.
let decided = [{launch: n.item, earns: earns_credit(n), codes: launch_codes(n)} for n in launches]

# A launch that neither earns a credit nor has a code fails only the 30 active days.
rule waiting_for_30_days(d) cites A6
  "It meets every condition but has not yet been active for 30 days; it qualifies 30 days after its launch date if it stays active."
  when not d.earns and count(d.codes) == 0

# ---- Amounts and dates (A2, A3, A7, A8) -----------------------------------------------------

table credit_amount(store) first cites A2 {
  | "FR", "IT", "ES" => 400 USD
  else => 300 USD
}

table store_cap(store) first cites A3 {
  | "FR", "IT", "ES" => 1200 USD
  else => 900 USD
}

let first_thursday_after_launch_month(l) = first_weekday(
  start_of_month(launch_date(l)) + 1 month, "thursday"
)

# A7: credit is added on the first Thursday of the month after the launch month (Pacific time),
# never before 2022-11-03. A8: unused credit expires 30 days after it is added.
decision credit_dates(l) first cites A7, A8 {
  rule added_on_first_credit_day cites A7, A8
    "Launched before November 2022: the credit is added on 2022-11-03, and what is unused of it expires 30 days later."
    when launch_date(l) < 2022-11-01
    then {applied_on: 2022-11-03, expires_on: 2022-11-03 + 30 days}
  # launched in November or December
  else {
    applied_on: first_thursday_after_launch_month(l),
    expires_on: first_thursday_after_launch_month(l) + 30 days,
  }
}

let credits = [
  {
    ad_product: d.launch.ad_product,
    campaign_id: d.launch.campaign_id,
    amount: credit_amount(input.store),
    applied_on: credit_dates(d.launch).applied_on,
    expires_on: credit_dates(d.launch).expires_on,
  }
  for d in decided where d.earns
]

let pending = [
  {
    ad_product: d.launch.ad_product,
    campaign_id: d.launch.campaign_id,
    qualifies_on: launch_date(d.launch) + 30 days,
  }
  for d in decided where waiting_for_30_days(d)
]

let launch_reasons = flatten([
  [{campaign_id: d.launch.campaign_id, code: code} for code in d.codes]
  for d in decided
])

let advertiser_reasons = [{campaign_id: null, code: code} for code in advertiser_codes]

# A3: the total is capped per advertiser account and store.
let total = least(sum(c.amount for c in credits) ?? 0 USD, store_cap(input.store))

invariant total_within_cap cites A3
  "The total credit never exceeds the store's cap (900 USD, or 1,200 USD in FR, IT and ES)":
  output.total <= store_cap(input.store)

invariant one_credit_per_product cites A10
  "A store's credit for an ad product is granted at most once":
  count(distinct(c.ad_product for c in output.credits)) == count(output.credits)

invariant expires_30_days_after_applied cites A8
  "Every credit expires 30 days after the date it is applied":
  all(c.expires_on == c.applied_on + 30 days for c in output.credits)

invariant total_is_the_sum cites A2, A3 "The total is the sum of the credits granted":
  output.total == sum(c.amount for c in output.credits) ?? 0 USD

invariant applied_on_a_thursday cites A7
  "Every credit is applied on a Thursday, never before 2022-11-03":
  all(weekday(c.applied_on) == "thursday" and c.applied_on >= 2022-11-03 for c in output.credits)

output {
  eligible: count(credits) > 0,
  credits: credits,
  pending: pending,
  total: total,
  reasons: if advertiser_eligible then launch_reasons else advertiser_reasons,
}
