policy "t/columnar"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"

let big = input.amount >= 1000.50 or input.count * 2 > 7

rule late "Shipped late." when input.shipped > 2024-03-01 and not input.vip

table fee(country) first cites T1 {
  | "FR", "IT" => 4
  | "US" => 3
  else => 1
}

decision flags collect {
  rule high "Because." when input.amount > 10.005
  rule many "Because." when input.count >= 3 and input.count - 1 != 4
  rule north "Because." when input.country in ["US", "CA"]
  rule ratio "Because." when input.ratio < 12.5%
}

decision tier first {
  rule gold "Because." when input.amount >= 500 then "gold"
  rule silver "Because." when input.count > 5 or input.tag == "x" then "silver"
  else "basic"
}

output {flags: flags, n: count(flags), big: big, late: late, tier: tier, fee: fee(input.country) + input.count, vip: input.vip}
