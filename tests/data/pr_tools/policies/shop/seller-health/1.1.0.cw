# Seller account health: the targets a seller account must meet (terms H1-H9).
policy "shop/seller-health"
version "1.1.0"
title "Seller account health"
source "Seller performance terms (clauses H1-H9)"
input schema "input.schema.json"
output schema "output.schema.json"
effective from 2025-01-01T00:00 in "UTC"
out of scope H9 "Appeals are handled by the account team."

# H2: with fewer orders than this the order defect rate is not judged.
let min_orders = 10

rule odr_missed cites H1, H2 "The order defect rate is 1% or more."
  when input.orders >= min_orders and input.odr >= 0.015

rule cancellation_missed cites H1, H3 "The cancellation rate is 2.5% or more."
  when input.cancellation_rate >= 0.025

decision violations collect cites H1 {
  rule order_defect_rate cites H2 "The order defect rate misses its target." when odr_missed
  rule cancellation_rate cites H3 "The cancellation rate misses its target." when cancellation_missed
  rule late_shipment_rate cites H4 "The late shipment rate is 4% or more."
    when input.late_shipment_rate >= 0.04
}

table band(rate: decimal) first cites H5 {
  | < 0.01        => "good"
  | 0.01 ..< 0.04 => "watch"
  | >= 0.04       => "bad"
}

output {
  violations: violations,
  at_risk: count(violations) > 0,
  band: band(input.odr),
}
