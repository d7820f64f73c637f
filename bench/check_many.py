"""How long `clausewise check` takes on a large policy repository.

Generates 500 policy files (by default) into a temporary folder, laid out as a policy root
(`<root>/<policy id>/<version>.cw` with `input.schema.json` and `output.schema.json` beside
them), then runs `clausewise check <root>` in a subprocess and prints the wall-clock seconds
and PASS or FAIL against the budget (5 s).

The files are varied and realistic, built from four kinds of policy seen in practice, each with
randomised names, clause ids, thresholds, counts of rules and schema fields:

- performance targets: rates over a window of orders, a parameterised rule per target, a
  `collect` decision of violations, a banding table with ranges;
- promotion credits: eligible stores, a half-open promotion period in a time zone, a
  `unique` credit table with money, distinct ad products, a `collect` decision of reasons;
- budgets: money in one currency (`require`s with `for`), a `priority` decision, invariants;
- fee schedules: a two-column `first` table over an enum and a decimal, a `first` decision
  with `else`, promo codes, rounding.

About a fifth of the policies have two versions with consecutive effective periods. Every
generated file is expected to check without errors: the run fails otherwise.

The check runs cold, as on a fresh CI machine: with an empty clausewise cache folder
(`CLAUSEWISE_CACHE_DIR`), so no parser table or schema check is reused from an earlier run.
Besides the wall time (what PASS/FAIL compares), the check's CPU time (user + system, its worker
processes included) and the machine's load average are printed: on a busy machine the wall time
says more about the other processes than about clausewise.

    .venv/bin/python bench/check_many.py                 # 500 files, budget 5 s
    .venv/bin/python bench/check_many.py --files 2000 --budget 20 --keep out/
    .venv/bin/python bench/check_many.py --jobs 1         # no worker processes
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DOMAINS = ["health", "promotions", "budgets", "fees", "payouts", "marketplace", "ads", "billing"]
WORDS = [
    "seller",
    "vendor",
    "partner",
    "account",
    "campaign",
    "portfolio",
    "store",
    "merchant",
    "region",
    "launch",
    "holiday",
    "spring",
    "loyalty",
    "growth",
    "starter",
    "premium",
    "global",
    "local",
    "express",
    "standard",
]
METRICS = [
    ("late_shipment", "shipped_late", "late shipment rate"),
    ("cancellation", "cancelled_by_seller", "cancellation rate"),
    ("defect", "defective", "order defect rate"),
    ("refund", "refunded", "refund rate"),
    ("claim", "has_claim", "claim rate"),
    ("chargeback", "chargeback", "chargeback rate"),
    ("negative_feedback", "negative_feedback", "negative feedback rate"),
    ("invalid_tracking", "tracking_invalid", "invalid tracking rate"),
    ("return_dissatisfaction", "return_unhappy", "return dissatisfaction rate"),
    ("contact_response", "contact_unanswered", "unanswered contact rate"),
]
STORES = ["AU", "CA", "EG", "FR", "DE", "IN", "IT", "JP", "NL", "ES", "AE", "UK", "US", "BR", "MX"]
ZONES = ["America/Los_Angeles", "Europe/Paris", "Asia/Tokyo", "UTC", "Asia/Bangkok"]
PRODUCTS = ["sponsored_products", "sponsored_brands", "sponsored_display", "sponsored_tv", "dsp"]
CURRENCIES = ["USD", "EUR", "THB", "JPY", "GBP"]

DECIMAL = {"type": ["string", "integer"], "format": "decimal", "pattern": r"^\d+(\.\d+)?$"}
MONEY_DEF = {
    "type": "object",
    "format": "money",
    "properties": {
        "amount": {**DECIMAL, "minimum": 0},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
    },
    "required": ["amount", "currency"],
}
MONEY_OUT_DEF = {
    "type": "object",
    "format": "money",
    "properties": {
        "amount": {"type": "string", "pattern": r"^\d+\.\d{2}$"},
        "currency": {"type": "string", "minLength": 1},
    },
    "required": ["amount", "currency"],
}


def _obj(props: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), **extra}


def _schema(pid: str, what: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{pid} {what}",
        **body,
    }


def _pct(rng: random.Random, lo: float, hi: float) -> str:
    v = round(rng.uniform(lo, hi), 1)
    return f"{v:g}%"


class Gen:
    def __init__(self, rng: random.Random, pid: str, prefix: str):
        self.rng = rng
        self.pid = pid
        self.p = prefix
        self.n = 0

    def clause(self) -> str:
        self.n += 1
        return f"{self.p}{self.n}"

    def header(self, version: str, title: str, effective: str | None) -> list[str]:
        lines = [
            f"# {title}: generated for the check benchmark.",
            f'policy "{self.pid}"',
            f'version "{version}"',
            f'title "{title}"',
            f'source "{title} terms (clauses {self.p}1-{self.p}40)"',
            'input schema "input.schema.json"',
            'output schema "output.schema.json"',
        ]
        if effective:
            lines.append(effective)
        lines.append(f'out of scope {self.p}40 "How disputes are handled is decided elsewhere."')
        lines.append("")
        return lines


def targets_policy(g: Gen, version: str, effective: str | None) -> tuple[str, dict, dict]:
    rng = g.rng
    chosen = rng.sample(METRICS, rng.randint(3, len(METRICS)))
    days = rng.choice([7, 10, 30, 60, 90])
    lines = g.header(
        version, f"{g.pid.split('/')[-1].replace('-', ' ').title()} targets", effective
    )
    lines += [
        f"# ---- the window: {days} days ending on the decision date ----",
        "let as_of = input.as_of",
        f"let period = window(as_of, {days} days)",
        "let recent = [o for o in input.orders where o.placed_on in period]",
        'let seller_recent = [o for o in recent where o.channel == "seller"]',
        "",
    ]
    for key, flag, words in chosen:
        c1, c2 = g.clause(), g.clause()
        pct = _pct(rng, 0.5, 12)
        lines += [
            f"rule {key}_on_target(n: int, d: int) cites {c1}, {c2}",
            f'  "The {words} is below {pct} (a window without orders meets it)."',
            f"  when d == 0 or n / d < {pct}",
            f"let {key}_count = count(o for o in recent where o.{flag})",
            "",
        ]
    lines.append(f"decision violations collect cites {g.p}1 {{")
    for key, _flag, words in chosen:
        lines += [
            f"  rule {key} cites {g.clause()}",
            f'    "The {words} is at or above its target: this can lead to deactivation."',
            f"    when not {key}_on_target({key}_count, count(recent))",
        ]
    lines += ["}", ""]
    b1, b2 = sorted(rng.sample([1, 2, 3, 4, 5, 6, 8], 2))
    lines += [
        f"table band(rate: decimal) first cites {g.clause()} {{",
        f'  | < 0.0{b1}        => "good"',
        f'  | 0.0{b1} ..< 0.0{b2} => "watch"',
        f'  | >= 0.0{b2}       => "bad"',
        "}",
        "",
        f"rule at_risk cites {g.clause()}",
        '  "A target is missed: the account can be deactivated."',
        "  when count(violations) > 0",
        "",
        "output {",
        "  violations: violations,",
        "  at_risk: at_risk,",
        "  orders: count(recent),",
        "  seller_orders: count(seller_recent),",
        "  band: band(input.headline_rate),",
        "}",
        "",
        f'invariant risk_means_violations cites {g.p}1 "At risk exactly when a target is missed":',
        "  output.at_risk == (count(output.violations) > 0)",
    ]
    order = {
        "id": {"type": "string"},
        "placed_on": {"type": "string", "format": "date"},
        "channel": {"type": "string", "enum": ["seller", "fba"]},
        **{flag: {"type": "boolean"} for _k, flag, _w in chosen},
    }
    ins = _schema(
        g.pid,
        "input",
        _obj(
            {
                "as_of": {"type": "string", "format": "date"},
                "headline_rate": {**DECIMAL, "minimum": 0},
                "orders": {"type": "array", "items": _obj(order)},
            }
        ),
    )
    outs = _schema(
        g.pid,
        "output",
        _obj(
            {
                "violations": {"type": "array", "items": {"type": "string"}},
                "at_risk": {"type": "boolean"},
                "orders": {"type": "integer"},
                "seller_orders": {"type": "integer"},
                "band": {"type": "string"},
            }
        ),
    )
    return "\n".join(lines) + "\n", ins, outs


def credits_policy(g: Gen, version: str, effective: str | None) -> tuple[str, dict, dict]:
    rng = g.rng
    stores = rng.sample(STORES, rng.randint(5, 12))
    high = stores[: rng.randint(1, 3)]
    low = stores[len(high) :]
    zone = rng.choice(ZONES)
    cur = rng.choice(CURRENCIES)
    hi_amt, lo_amt = rng.choice([400, 500, 600]), rng.choice([200, 250, 300])
    min_days = rng.choice([14, 21, 30, 45])
    year = rng.choice([2022, 2023, 2024])
    products = rng.sample(PRODUCTS, rng.randint(3, 5))
    q = lambda xs: ", ".join(f'"{x}"' for x in xs)  # noqa: E731
    lines = g.header(version, f"{g.pid.split('/')[-1].replace('-', ' ').title()} credit", effective)
    c_store, c_first, c_days, c_period, c_amount, c_cap = (g.clause() for _ in range(6))
    lines += [
        f"let stores = [{q(stores)}]",
        f'let period = in_zone({year}-09-26T00:00, "{zone}") ..< in_zone({year + 1}-01-01T00:00, "{zone}")',
        f"let cap = if input.store in [{q(high)}] then {hi_amt * 3} {cur} else {lo_amt * 3} {cur}",
        "",
        f'rule store_eligible cites {c_store} "The store takes part in the promotion."',
        "  when input.store in stores",
        "",
        f"rule qualifies(l) cites {c_first}, {c_days}, {c_period}",
        f'  "A first campaign of its ad product, active for {min_days} days or more, launched in the period."',
        f"  when l.first_time and l.active_days >= {min_days} and l.launched_at in period",
        "",
        f"table credit_amount(store) cites {c_amount} {{",
        f"  | {q(high)} => {hi_amt} {cur}",
        f"  | {q(low)} => {lo_amt} {cur}",
        f"  else => 0 {cur}",
        "}",
        "",
        f"decision reasons(l) collect cites {c_first} {{",
        f'  rule not_first_time cites {c_first} "It was not the first campaign of its ad product."',
        "    when not l.first_time",
        f'  rule too_short cites {c_days} "It was active for fewer than {min_days} days."',
        f"    when l.active_days < {min_days}",
        f'  rule outside_period cites {c_period} "It was launched outside the promotion period."',
        "    when l.launched_at not in period",
        "}",
        "",
        "let qualifying = distinct(l.ad_product for l in input.launches where qualifies(l))",
        "let credits = [{ad_product: p, amount: credit_amount(input.store)} for p in qualifying]",
        f"let total = sum(c.amount for c in credits) ?? 0 {cur}",
        "",
        "output {",
        "  eligible: store_eligible and count(credits) > 0,",
        "  credits: if store_eligible then credits else [],",
        f"  total: if store_eligible then least(total, cap) else 0 {cur},",
        "  rejected: [{campaign_id: l.campaign_id, reasons: reasons(l)} for l in input.launches where not qualifies(l)],",
        "}",
        "",
        f'invariant total_within_cap cites {c_cap} "The total credit never exceeds the cap":',
        f"  output.total.amount <= {hi_amt * 3}",
    ]
    launch = {
        "campaign_id": {"type": "string"},
        "ad_product": {"type": "string", "enum": products},
        "launched_at": {"type": "string", "format": "date-time"},
        "active_days": {"type": "integer", "minimum": 0},
        "first_time": {"type": "boolean"},
    }
    ins = _schema(
        g.pid,
        "input",
        _obj(
            {
                "store": {"type": "string"},
                "launches": {"type": "array", "items": _obj(launch)},
            }
        ),
    )
    outs = _schema(
        g.pid,
        "output",
        {
            **_obj(
                {
                    "eligible": {"type": "boolean"},
                    "credits": {
                        "type": "array",
                        "items": _obj(
                            {"ad_product": {"type": "string"}, "amount": {"$ref": "#/$defs/money"}}
                        ),
                    },
                    "total": {"$ref": "#/$defs/money"},
                    "rejected": {
                        "type": "array",
                        "items": _obj(
                            {
                                "campaign_id": {"type": "string"},
                                "reasons": {"type": "array", "items": {"type": "string"}},
                            }
                        ),
                    },
                }
            ),
            "$defs": {"money": MONEY_OUT_DEF},
        },
    )
    return "\n".join(lines) + "\n", ins, outs


def budget_policy(g: Gen, version: str, effective: str | None) -> tuple[str, dict, dict]:
    rng = g.rng
    c = [g.clause() for _ in range(8)]
    hi, mid = rng.choice([10, 20, 50]), rng.choice([2, 5, 8])
    lines = g.header(version, f"{g.pid.split('/')[-1].replace('-', ' ').title()} budget", effective)
    lines += [
        "require currency_mismatch:",
        "  input.spent.currency == input.budget.currency",
        '  at input.spent.currency "The spend must be in the budget\'s currency."',
        "",
        "require currency_mismatch:",
        "  input.credit.currency == input.budget.currency",
        '  at input.credit.currency "The credit must be in the budget\'s currency."',
        "",
        "require currency_mismatch for c in input.campaigns:",
        "  c.spent.currency == input.budget.currency",
        "  at c.spent.currency \"Every campaign's spend must be in the budget's currency.\"",
        "",
        "let budget = input.budget",
        "let credit = input.credit",
        "let spent = input.spent",
        "let zero = money(0, budget.currency)",
        "",
        f'rule over_budget cites {c[0]} "The spend is above the budget."',
        "  when spent > budget",
        "",
        f"decision basis priority cites {c[1]} {{",
        f'  rule capped priority {hi} cites {c[1]} "The charge is capped at the budget." when over_budget then "budget"',
        f'  rule credit_first priority {mid} cites {c[2]} "Credit pays first." when credit > zero then "credit"',
        f'  rule paused priority 1 cites {c[3]} "The account is paused." when input.paused then "paused"',
        '  else "spend"',
        "}",
        "",
        "let charge_base = if over_budget then budget else spent",
        "let credit_used = least(credit, charge_base)",
        "",
        f"decision campaign_state(x) first cites {c[4]} {{",
        f'  rule stopped cites {c[4]} "The campaign is stopped." when x.stopped then "stopped"',
        f'  rule idle cites {c[5]} "The campaign spent nothing." when x.spent == zero then "idle"',
        '  else "running"',
        "}",
        "",
        "output {",
        "  basis: basis,",
        "  charge: charge_base - credit_used,",
        "  credit_used: credit_used,",
        "  campaigns: [{id: x.id, state: campaign_state(x)} for x in input.campaigns],",
        "}",
        "",
        f'invariant charge_within_budget cites {c[0]} "The charge never exceeds the budget":',
        "  output.charge <= input.budget",
        f'invariant credit_within_credit cites {c[2]} "No more credit is used than there is":',
        "  output.credit_used <= input.credit",
    ]
    money = {"$ref": "#/$defs/money"}
    campaign = {"id": {"type": "string"}, "spent": money, "stopped": {"type": "boolean"}}
    ins = _schema(
        g.pid,
        "input",
        {
            **_obj(
                {
                    "budget": money,
                    "credit": money,
                    "spent": money,
                    "paused": {"type": "boolean"},
                    "campaigns": {"type": "array", "items": _obj(campaign)},
                }
            ),
            "$defs": {"money": MONEY_DEF},
        },
    )
    outs = _schema(
        g.pid,
        "output",
        {
            **_obj(
                {
                    "basis": {"type": "string"},
                    "charge": money,
                    "credit_used": money,
                    "campaigns": {
                        "type": "array",
                        "items": _obj({"id": {"type": "string"}, "state": {"type": "string"}}),
                    },
                }
            ),
            "$defs": {"money": MONEY_OUT_DEF},
        },
    )
    return "\n".join(lines) + "\n", ins, outs


def fees_policy(g: Gen, version: str, effective: str | None) -> tuple[str, dict, dict]:
    rng = g.rng
    c = [g.clause() for _ in range(6)]
    tiers = ["gold", "silver", "bronze"]
    big = rng.choice([5000, 10000, 20000])
    small = big // rng.choice([2, 4, 5])
    r = sorted(rng.sample([1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0], 4))
    codes = [f"{rng.choice(WORDS).upper()}{rng.randint(10, 99)}" for _ in range(rng.randint(2, 6))]
    q = ", ".join(f'"{x}"' for x in codes)
    lines = g.header(version, f"{g.pid.split('/')[-1].replace('-', ' ').title()} fees", effective)
    lines += [
        f"table fee_rate(tier, volume: decimal) first cites {c[0]} {{",
        f'  | "gold"   | >= {big}          => {r[0]:g}%',
        f'  | "gold"   | -                 => {r[1]:g}%',
        f'  | "silver" | {small} ..< {big} => {r[2]:g}%',
        f"  | -        | -                 => {r[3]:g}%",
        "}",
        "",
        f"let codes = [{q}]",
        f'rule waived cites {c[1]} "A valid promotion code waives the fee."',
        "  when input.promo_code is not null and input.promo_code in codes",
        "",
        f"decision status first cites {c[2]} {{",
        f'  rule blocked cites {c[3]} "The account is blocked." when input.account.blocked then "blocked"',
        f'  rule fee_waived cites {c[1]} "The fee is waived." when waived then "waived"',
        '  else "charged"',
        "}",
        "",
        "let rate = fee_rate(input.tier, input.volume)",
        "let fee = round(input.volume * rate, 2)",
        "",
        "output {",
        "  status: status,",
        '  fee: if status == "charged" then fee else 0.00,',
        "  rate: rate,",
        "}",
        "",
        f'invariant no_fee_when_waived cites {c[1]} "A waived fee is zero":',
        '  output.status != "waived" or output.fee == 0',
    ]
    ins = _schema(
        g.pid,
        "input",
        _obj(
            {
                "tier": {"type": "string", "enum": tiers},
                "volume": {**DECIMAL, "minimum": 0},
                "promo_code": {"type": ["string", "null"]},
                "account": _obj({"id": {"type": "string"}, "blocked": {"type": "boolean"}}),
            }
        ),
    )
    outs = _schema(
        g.pid,
        "output",
        _obj(
            {
                "status": {"type": "string"},
                "fee": {"type": "string", "format": "decimal"},
                "rate": {"type": "string", "format": "rate"},
            }
        ),
    )
    return "\n".join(lines) + "\n", ins, outs


KINDS = [targets_policy, credits_policy, budget_policy, fees_policy]


def generate(root: Path, files: int, seed: int = 7) -> int:
    """Write `files` policy files under `root`; returns how many were written."""
    rng = random.Random(seed)
    written = 0
    i = 0
    while written < files:
        domain = rng.choice(DOMAINS)
        slug = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i:04d}"
        pid = f"{domain}/{slug}"
        kind = KINDS[i % len(KINDS)]
        prefix = rng.choice(["A", "B", "C", "D", "F", "G", "P", "T"])
        two = rng.random() < 0.2 and written + 2 <= files
        folder = root / pid
        folder.mkdir(parents=True, exist_ok=True)
        versions: list[tuple[str, str | None]]
        if two:
            zone = rng.choice(ZONES)
            versions = [
                ("1.0.0", f'effective from 2023-01-01T00:00 until 2024-01-01T00:00 in "{zone}"'),
                ("1.1.0", f'effective from 2024-01-01T00:00 in "{zone}"'),
            ]
        else:
            versions = [("1.0.0", None)]
        schemas: tuple[dict, dict] | None = None
        for version, effective in versions:
            g = Gen(random.Random(f"{seed}-{i}"), pid, prefix)
            text, ins, outs = kind(g, version, effective)
            (folder / f"{version}.cw").write_text(text, encoding="utf-8")
            schemas = (ins, outs)
            written += 1
        assert schemas is not None
        (folder / "input.schema.json").write_text(
            json.dumps(schemas[0], indent=2), encoding="utf-8"
        )
        (folder / "output.schema.json").write_text(
            json.dumps(schemas[1], indent=2), encoding="utf-8"
        )
        i += 1
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--budget", type=float, default=5.0, help="seconds (default 5)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, default=None, help="write the policies here and keep them")
    ap.add_argument("--jobs", type=int, default=None, help="passed to `clausewise check --jobs`")
    args = ap.parse_args()
    exe = shutil.which("clausewise", path=str(Path(sys.executable).parent)) or shutil.which(
        "clausewise"
    )
    cmd = [exe] if exe else [sys.executable, "-m", "clausewise.cli"]
    tmp = None
    if args.keep is not None:
        root = args.keep
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="clausewise-check-many-")
        root = Path(tmp.name) / "policies"
        root.mkdir()
    try:
        n = generate(root, args.files, args.seed)
        cache = tempfile.TemporaryDirectory(prefix="clausewise-cache-")
        env = {**os.environ, "NO_COLOR": "1", "CLAUSEWISE_CACHE_DIR": cache.name}
        jobs = ["--jobs", str(args.jobs)] if args.jobs else []
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(
            [*cmd, "check", str(root), "--format", "json", *jobs],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cache.cleanup()
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
            print(f"FAIL: clausewise check did not print a JSON report (exit {proc.returncode})")
            return 1
        errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
        print(
            f"clausewise check: {report['files']} file(s) ({n} generated), "
            f"{report['errors']} error(s), {report['warnings']} warning(s)"
        )
        for d in errors[:10]:
            print(f"  {d['file']}:{d['line']}:{d['col']}: {d['code']}: {d['message']}")
        ok = seconds <= args.budget and not errors and proc.returncode == 0
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"cpu {cpu:.2f} s (user + system, workers included); load average {load:.1f} "
            f"on {os.cpu_count()} CPU(s)"
        )
        print(
            f"{seconds:.2f} s for {n} files (budget {args.budget:g} s): {'PASS' if ok else 'FAIL'}"
        )
        return 0 if ok else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
