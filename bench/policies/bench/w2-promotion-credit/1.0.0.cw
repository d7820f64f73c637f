# Benchmark W2: click credit for first-time campaign launches (A1-A4, A6).
policy "bench/w2-promotion-credit"
version "1.0.0"
title "Promotion credit"
source "Amazon Ads click-credit promotion, Q4 2022"
input schema "input.schema.json"
output schema "output.schema.json"

let stores = ["AU", "CA", "EG", "FR", "DE", "IN", "IT", "JP", "NL", "ES", "AE", "UK", "US"]

let period = 2022-09-26T00:00:00-07:00 .. 2022-12-31T23:59:59-08:00

rule qualifies(l) cites A1, A6 "A first-time launch in the period, active for at least 30 days."
  when l.first_time and l.active_days >= 30 and l.launched_at in period

table credit_per_product(store) first cites A2 {
  | "FR", "IT", "ES" => 400
  else => 300
}

table cap(store) first cites A3 {
  | "FR", "IT", "ES" => 1200
  else => 900
}

let products = distinct(l.ad_product for l in input.launches where qualifies(l))

rule eligible cites A4 "The marketplace takes part and at least one launch qualifies."
  when input.marketplace in stores and count(products) > 0

output {
  eligible: eligible,
  total_credit: if eligible then round(
    least(credit_per_product(input.marketplace) * count(products), cap(input.marketplace)), 2
  )
    else 0.00,
}
