# Amazon seller account health: the performance metrics of a seller account, the contractual
# targets it misses, and the order defect rate per fulfilment channel and per product line.
policy "health/amazon-seller-account-health"
version "1.0.0"
title "Amazon seller account health"
source "Amazon seller account health, Swedish terms (002_8f98ebc464914faa.txt), terms C1-C15"
input schema "input.schema.json"
output schema "output.schema.json"
out of scope C14 "The account status (active, under review, deactivated) and its payment schedule are Amazon's decision; this policy reports the metrics it rests on."
out of scope C16 "Appealing a deactivation with a plan of action happens after and outside these metrics."
out of scope C17 "Whether an order not shipped was a cancellation or a refund is settled before the input: it arrives as `cancelled_by_seller`."
cost "O(n^2)" "The order defect rate per product line looks up each line's defective orders among all of them: product lines x orders, at most n^2 when every order has a line of its own."

# ---- Periods -----------------------------------------------------------------------------------
# A window of N days ending on day E holds the days E-N+1 .. E; every metric selects orders by
# the day they were placed (C2: order-correlated) and return requests by the day they were made.

# C6: defects arrive weeks after the order, so the ODR period ends 30 days before today.
let odr_window = window(input.as_of - 30 days, 60 days)

let window_7 = window(input.as_of, 7 days)

let window_10 = window(input.as_of, 10 days)

let window_30 = window(input.as_of, 30 days)

rule in_odr_period(o) cites C2, C6
  "The order was placed in the order defect rate's 60-day period, which ends 30 days before today because defects arrive weeks after the order."
  when o.placed_on in odr_window

rule seller_fulfilled(o) cites C8, C9, C10, C11
  "The seller fulfils the order (it is not fulfilled by Amazon)."
  when o.channel == "seller"

# ---- Order defects (C2-C5, C7) -----------------------------------------------------------------

rule negative_feedback(o) cites C5, C7
  "The order has negative feedback that the buyer has not removed."
  when o.negative_feedback and not o.feedback_removed

rule az_claim(o) cites C4, C7 "The order has an A-to-z Guarantee claim, whatever its status."
  when o.az_claim != "none"

rule claim_is_defect(o) cites C4
  "The order has an A-to-z Guarantee claim that is open or granted (a denied claim is no defect)."
  when o.az_claim in ["open", "granted"]

rule chargeback(o) cites C2, C7 "The buyer's card issuer charged the order back."
  when o.chargeback

rule defective(o) cites C2, C3
  "The order has a defect: negative feedback, an A-to-z claim that is not denied, or a chargeback. It counts once, however many of these it has."
  when negative_feedback(o) or claim_is_defect(o) or chargeback(o)

# ---- Fulfilment by the seller and returns (C8-C12) ---------------------------------------------

rule cancelled_by_seller(o) cites C8
  "The seller cancelled the order, and the buyer did not ask for it through their account's cancel options."
  when o.cancelled_by_seller and not o.cancel_requested_by_buyer

rule shipped_late(o) cites C9
  "The shipment was confirmed after the expected ship date, or it is still not confirmed and that date has passed."
  when o.expected_ship_date is not null
    and (if o.ship_confirmed_on is not null then o.ship_confirmed_on > o.expected_ship_date
      else input.as_of > o.expected_ship_date)

rule valid_tracking(o) cites C10 "The shipment has a valid tracking number."
  when o.tracking_valid == true

rule delivered_on_time(o) cites C11
  "The shipment was delivered by its estimated delivery date (or it has no estimated date)."
  when o.estimated_delivery_date is null
    or o.delivered_on is not null and o.delivered_on <= o.estimated_delivery_date

rule negative_return(r) cites C12
  "The return request got negative feedback, was not answered within 48 hours, or was wrongly rejected."
  when r.negative_feedback or not r.answered_within_48h or r.wrongly_rejected

# ---- Populations: each window is filtered once, and the metrics count over these lists ---------

# The ODR period: all orders, those with a defect, the events of the three parts of the ODR (C7),
# and the orders per channel and per product line (C15).
let odr_orders = [o for o in input.orders where in_odr_period(o)]

let odr_defective = [o for o in odr_orders where defective(o)]

let odr_negative_feedback = count(o for o in odr_orders where negative_feedback(o))

let odr_az_claims = count(o for o in odr_orders where az_claim(o))

let odr_chargebacks = count(o for o in odr_orders where chargeback(o))

let odr_seller = [o for o in odr_orders where o.channel == "seller"]

let odr_fba = [o for o in odr_orders where o.channel == "fba"]

let odr_by_line = group(o for o in odr_orders by o.product_line)

# The last 30, 10 and 7 days: seller-fulfilled orders (C8-C11) and return requests (C12).
let seller_orders_30 = [
  o
  for o in input.orders where seller_fulfilled(o) and o.placed_on in window_30
]

let seller_orders_7 = [o for o in seller_orders_30 where o.placed_on in window_7]

# C9: a cancelled order never ships, whoever asked for the cancellation.
let not_cancelled_30 = [o for o in seller_orders_30 where not o.cancelled_by_seller]

let not_cancelled_10 = [o for o in not_cancelled_30 where o.placed_on in window_10]

let shipped_30 = [o for o in seller_orders_30 where o.ship_confirmed_on is not null]

let tracked_delivered_30 = [
  o
  for o in shipped_30 where valid_tracking(o) and o.delivered_on is not null
]

let returns_30 = [r for r in input.return_requests where r.requested_on in window_30]

let cancelled_7 = count(o for o in seller_orders_7 where cancelled_by_seller(o))

let valid_tracking_30 = count(o for o in shipped_30 where valid_tracking(o))

let late_10 = count(o for o in not_cancelled_10 where shipped_late(o))

let late_30 = count(o for o in not_cancelled_30 where shipped_late(o))

let on_time_30 = count(o for o in tracked_delivered_30 where delivered_on_time(o))

let negative_returns_30 = count(r for r in returns_30 where negative_return(r))

# ---- Targets (C1, C8, C9, C11, C12, C15) -------------------------------------------------------
# The exact, unrounded rate is compared with the target; an empty population meets it.

rule odr_meets_target(defective: int, orders: int) cites C1, C2
  "The order defect rate is below 1% (a period without orders meets it)."
  when orders == 0 or defective / orders < 1%

rule part_odr_meets_target(defective: int, orders: int) cites C15
  "In this channel or product line, the order defect rate is below 1%. Shown so that a problem in one part shows up early; it does not put the account at risk by itself."
  when orders == 0 or defective / orders < 1%

rule cancellation_meets_target(cancelled: int, orders: int) cites C1, C8
  "The cancellation rate is below 2.5% (a week without seller-fulfilled orders meets it)."
  when orders == 0 or cancelled / orders < 2.5%

rule late_shipment_10d_meets_target(late: int, orders: int) cites C1, C9
  "The late shipment rate over the last 10 days is below 4% (a period without seller-fulfilled orders meets it)."
  when orders == 0 or late / orders < 4%

rule late_shipment_30d_meets_target(late: int, orders: int) cites C1, C9
  "The late shipment rate over the last 30 days is below 4% (a period without seller-fulfilled orders meets it)."
  when orders == 0 or late / orders < 4%

rule on_time_delivery_meets_target(on_time: int, shipments: int) cites C11
  "The on-time delivery rate is above the recommended 97% (a period without tracked deliveries meets it)."
  when shipments == 0 or on_time / shipments > 97%

rule return_dissatisfaction_meets_target(negative: int, requests: int) cites C12
  "The return dissatisfaction rate is below 10% (a period without return requests meets it)."
  when requests == 0 or negative / requests < 10%

# ---- Metrics -------------------------------------------------------------------------------------

let rate(numerator: int, denominator: int) = if denominator == 0 then null
  else numerator / denominator

# A metric as the output reports it: the rate, what it counts, its period and its target.
let metric(w, numerator: int, denominator: int, target, meets, contractual: bool) = {
  value: rate(numerator, denominator),
  numerator: numerator,
  denominator: denominator,
  window_start: w.start,
  window_end: w.end,
  target: target,
  meets: meets,
  contractual: contractual,
}

let without_target(w, numerator: int, denominator: int) = metric(
  w, numerator, denominator, null, null, false
)

let metrics = {
  order_defect_rate: metric(
    odr_window,
    count(odr_defective),
    count(odr_orders),
    "< 0.01",
    odr_meets_target(count(odr_defective), count(odr_orders)),
    true
  ),
  negative_feedback_rate: without_target(odr_window, odr_negative_feedback, count(odr_orders)),
  az_claim_rate: without_target(odr_window, odr_az_claims, count(odr_orders)),
  chargeback_rate: without_target(odr_window, odr_chargebacks, count(odr_orders)),
  cancellation_rate: metric(
    window_7,
    cancelled_7,
    count(seller_orders_7),
    "< 0.025",
    cancellation_meets_target(cancelled_7, count(seller_orders_7)),
    true
  ),
  late_shipment_rate_10d: metric(
    window_10,
    late_10,
    count(not_cancelled_10),
    "< 0.04",
    late_shipment_10d_meets_target(late_10, count(not_cancelled_10)),
    true
  ),
  late_shipment_rate_30d: metric(
    window_30,
    late_30,
    count(not_cancelled_30),
    "< 0.04",
    late_shipment_30d_meets_target(late_30, count(not_cancelled_30)),
    true
  ),
  valid_tracking_rate: without_target(window_30, valid_tracking_30, count(shipped_30)),
  on_time_delivery_rate: metric(
    window_30,
    on_time_30,
    count(tracked_delivered_30),
    "> 0.97",
    on_time_delivery_meets_target(on_time_30, count(tracked_delivered_30)),
    false
  ),
  return_dissatisfaction_rate: metric(
    window_30,
    negative_returns_30,
    count(returns_30),
    "< 0.10",
    return_dissatisfaction_meets_target(negative_returns_30, count(returns_30)),
    false
  ),
}

# C15: the order defect rate of one channel or product line, from its orders in the ODR period
# and those of them that are defective.
let part_odr(orders, defective) = {
  order_defect_rate: metric(
    odr_window,
    count(defective),
    count(orders),
    "< 0.01",
    part_odr_meets_target(count(defective), count(orders)),
    true
  ),
}

# ---- Violations and warnings, in the order of the metrics ---------------------------------------

decision violations collect cites C1, C13 {
  rule order_defect_rate cites C1, C2, C13
    "The order defect rate is 1% or more, which can lead to deactivation."
    when metrics.order_defect_rate.meets == false
  rule cancellation_rate cites C1, C8, C13
    "The cancellation rate is 2.5% or more, which can lead to deactivation."
    when metrics.cancellation_rate.meets == false
  rule late_shipment_rate_10d cites C1, C9, C13
    "The late shipment rate over 10 days is 4% or more, which can lead to deactivation."
    when metrics.late_shipment_rate_10d.meets == false
  rule late_shipment_rate_30d cites C1, C9, C13
    "The late shipment rate over 30 days is 4% or more, which can lead to deactivation."
    when metrics.late_shipment_rate_30d.meets == false
}

decision warnings collect cites C1 {
  rule on_time_delivery_rate cites C11
    "The on-time delivery rate is 97% or less; this is a recommendation, with no consequences."
    when metrics.on_time_delivery_rate.meets == false
  rule return_dissatisfaction_rate cites C12
    "The return dissatisfaction rate is 10% or more; missing this target has no consequences."
    when metrics.return_dissatisfaction_rate.meets == false
}

rule at_risk cites C13
  "A contractual target is missed: the account can be deactivated, or its selling privileges removed or limited."
  when count(violations) > 0

output {
  metrics: metrics,
  violations: violations,
  warnings: warnings,
  at_risk: at_risk,
  by_channel: {
    seller: part_odr(odr_seller, [o for o in odr_defective where o.channel == "seller"]),
    fba: part_odr(odr_fba, [o for o in odr_defective where o.channel == "fba"]),
  },
  by_product_line: {
    g.key => part_odr(g.items, [o for o in odr_defective where o.product_line == g.key])
    for g in odr_by_line
  },
}

# ---- Invariants ----------------------------------------------------------------------------------

invariant at_risk_iff_violations cites C13
  "The account is at risk exactly when a contractual target is missed":
  output.at_risk == (count(output.violations) > 0)

invariant rates_are_fractions cites C2, C7, C8, C9, C10, C11, C12 "Every rate lies between 0 and 1":
  all(
    m.value is null or m.value >= 0 and m.value <= 1
    for m in [
      output.metrics.order_defect_rate,
      output.metrics.negative_feedback_rate,
      output.metrics.az_claim_rate,
      output.metrics.chargeback_rate,
      output.metrics.cancellation_rate,
      output.metrics.late_shipment_rate_10d,
      output.metrics.late_shipment_rate_30d,
      output.metrics.valid_tracking_rate,
      output.metrics.on_time_delivery_rate,
      output.metrics.return_dissatisfaction_rate,
    ]
  )

invariant one_defect_per_order cites C3 "An order is counted once, however many defects it has":
  output.metrics.order_defect_rate.numerator <= output.metrics.order_defect_rate.denominator
    and output.metrics.negative_feedback_rate.numerator
      <= output.metrics.order_defect_rate.numerator
    and output.metrics.chargeback_rate.numerator <= output.metrics.order_defect_rate.numerator
    and output.metrics.order_defect_rate.numerator
      <= output.metrics.negative_feedback_rate.numerator
        + output.metrics.az_claim_rate.numerator
        + output.metrics.chargeback_rate.numerator

invariant parts_of_odr_share_its_population cites C7
  "The three parts of the ODR count over the ODR's orders":
  output.metrics.negative_feedback_rate.denominator == output.metrics.order_defect_rate.denominator
    and output.metrics.az_claim_rate.denominator == output.metrics.order_defect_rate.denominator
    and output.metrics.chargeback_rate.denominator == output.metrics.order_defect_rate.denominator

invariant late_shipment_10_days_within_30 cites C9
  "The 10-day late shipments are among the 30-day ones":
  output.metrics.late_shipment_rate_10d.denominator
      <= output.metrics.late_shipment_rate_30d.denominator
    and output.metrics.late_shipment_rate_10d.numerator
      <= output.metrics.late_shipment_rate_30d.numerator

invariant tracked_within_shipped cites C10, C11
  "Tracked deliveries are among the valid-tracking shipments":
  output.metrics.on_time_delivery_rate.denominator <= output.metrics.valid_tracking_rate.numerator

invariant channels_add_up cites C15 "The two channels split the ODR's orders and defects":
  output.by_channel.seller.order_defect_rate.denominator
        + output.by_channel.fba.order_defect_rate.denominator
      == output.metrics.order_defect_rate.denominator
    and output.by_channel.seller.order_defect_rate.numerator
        + output.by_channel.fba.order_defect_rate.numerator
      == output.metrics.order_defect_rate.numerator

invariant product_lines_add_up cites C15 "The product lines split the ODR's orders and defects":
  sum(p.order_defect_rate.denominator for p in values(output.by_product_line))
      == output.metrics.order_defect_rate.denominator
    and sum(p.order_defect_rate.numerator for p in values(output.by_product_line))
      == output.metrics.order_defect_rate.numerator
    and all(p.order_defect_rate.denominator > 0 for p in values(output.by_product_line))

invariant empty_population_meets_target cites C1 "A metric without orders meets its target":
  (output.metrics.order_defect_rate.denominator > 0
      or output.metrics.order_defect_rate.meets == true)
    and (output.metrics.cancellation_rate.denominator > 0
      or output.metrics.cancellation_rate.meets == true)
    and (output.metrics.late_shipment_rate_30d.denominator > 0
      or output.metrics.late_shipment_rate_30d.meets == true)
    and (output.metrics.return_dissatisfaction_rate.denominator > 0
      or output.metrics.return_dissatisfaction_rate.meets == true)
