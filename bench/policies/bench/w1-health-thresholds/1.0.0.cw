# Benchmark W1: the contractual health targets of an Amazon seller account (C1).
policy "bench/w1-health-thresholds"
version "1.0.0"
title "Seller health thresholds"
source "Amazon seller account health (C1, C2, C8, C9)"
input schema "input.schema.json"
output schema "output.schema.json"

# Names of the targets missed, in name order.
decision violations collect cites C1 {
  rule cancellation_rate cites C8 "The cancellation rate must stay below 2.5%."
    when input.cancellation_rate >= 2.5%
  rule late_shipment_rate_10d cites C9 "The 10-day late shipment rate must stay below 4%."
    when input.late_shipment_rate_10d >= 4%
  rule late_shipment_rate_30d cites C9 "The 30-day late shipment rate must stay below 4%."
    when input.late_shipment_rate_30d >= 4%
  rule odr cites C2 "The order defect rate must stay below 1%."
    when input.odr >= 1%
}

output {violations: violations, at_risk: count(violations) > 0}
