#!/usr/bin/env python3
"""Independent reference calculation of kpistream's window KPIs.

Reads the same JSON-lines event stream that was replayed through kpistream
(`kpistream run --clock event --exit-on-eof`) and computes, from the semantics
written in CONTRACT.md sections 1-4, docs/kpis.md and docs/architecture.md (and
nothing in src/), what kpi:global, kpi:segment:<s>, kpi:channel:<c> and
kpi:meta must hold at the end of the replay.

Output, one line per value, sorted:
    <key> <field> <value>
    <key> <field> ABSENT        (a ratio whose denominator is 0)
e.g. "kpi:global revenue:24h 130860.60".

It is written to be obviously right rather than fast: plain dicts, exact
arithmetic (Decimal for money, Fraction for ratios), one pass over the events
in file order (a customer's events are in time order, as the producer keys by
customer), then one evaluation per window at the final clock.

Semantics implemented (section references are to docs/kpis.md):
  * clock: the newest accepted event time (event clock after every partition
    reached its end).
  * window W, bucket width b = W/60 s: an event at t counts iff
    floor(c/b) - 60 < floor(t_s/b) <= floor(c/b), t_s = floor(t_ms/1000).
  * duplicates by event_id: first wins; repeats only count in meta.
  * distinct counts by last touch: active = latest event in the window,
    purchasing = latest purchase, repurchasing = second-latest purchase
    per scope (contract 5): in a segment or channel hash a customer counts
    by their latest event / purchase / second-latest purchase IN that scope,
    so a customer who moved segment counts in both segments' hashes while
    each has an event of theirs in the window.
  * new customer once, at the first event of any type; joins the base then.
  * churn: subscription cancel of a non-churned customer (at its time), or
    churn_inactivity = 30 d of silence (at last event + 30 d; a customer
    whose last event + 30 d <= clock is churned at the end). Any later event
    other than cancel, after the churn, reactivates (a join, not new). A cancel of an already
    churned customer is ignored.
  * base: E = customers known and not churned at the clock; S = E - joins
    in the window + leaves in the window. Segment membership = remembered
    segment (last value wins; a move is a leave + join); channel membership
    = channel of the first event.
  * tickets: a repeated `opened` is ignored; response time = first
    `responded` ts - `opened` ts, counted at the responded time in the
    responded event's hashes; quantile = element of 0-based rank
    floor(q(n-1)) of the sorted values, integer ms, printed with "~":
    kpistream estimates it with a DDSketch (relative accuracy 1 %).
  * formatting: counts as integers; money and ratios with 2 decimals, rounded
    half away from zero from the exact value.

Python 3 standard library only.
"""

import argparse
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction

DAY_MS = 86_400_000
CHURN_INACTIVITY_MS = 30 * DAY_MS  # churn_inactivity default
GROSS_MARGIN = Fraction(3, 10)     # gross_margin default
MIN_CHURN = Fraction(1, 100)       # min_churn default
CSAT_SATISFIED_MIN = 4
NPS_PROMOTER_MIN = 9
NPS_DETRACTOR_MAX = 6
MAX_CHANNELS = 8   # the last one is "other"; this script refuses to model overflow
MAX_SEGMENTS = 64
MAX_CATEGORIES = 63

COUNTS = [
    "events", "active_customers", "new_customers", "churned_customers", "customers",
    "orders", "purchasing_customers", "interactions", "social_interactions",
    "complaints", "tickets", "leads", "conversions", "upsells", "cross_sells",
    "referrals", "payment_failures", "csat_responses", "nps_responses",
]
MONEY = ["revenue", "refunds", "marketing_spend", "retention_spend"]
QUANTILES = [("response_time_p50", Fraction(1, 2)), ("response_time_p90", Fraction(9, 10)),
             ("response_time_p99", Fraction(99, 100))]

TYPES = {"signup", "interaction", "purchase", "refund", "subscription", "payment_failed",
         "ticket", "survey", "lead", "marketing_spend", "retention_spend", "referral"}

GLOBAL = "kpi:global"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def die(msg):
    print("kpi_reference: " + msg, file=sys.stderr)
    sys.exit(2)


def parse_window(s):
    """'24h' -> 86400 seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if len(s) < 2 or s[-1] not in units or not s[:-1].isdigit():
        die("bad window %r" % s)
    return int(s[:-1]) * units[s[-1]]


def parse_ts(v):
    """Event time in epoch ms: an integer, or an RFC 3339 string with offset."""
    if isinstance(v, bool):
        raise ValueError("ts")
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        d = datetime.fromisoformat(v.replace("z", "Z").replace("Z", "+00:00"))
        if d.tzinfo is None:
            raise ValueError("ts without offset")
        td = d - EPOCH
        return (td.days * 86400 + td.seconds) * 1000 + td.microseconds // 1000
    raise ValueError("ts")


def money(d):
    """Decimal -> string with 2 decimals, half away from zero."""
    return ratio(Fraction(d))


def ratio(fr):
    """Fraction -> string with 2 decimals, rounded half away from zero."""
    neg = fr < 0
    x = abs(fr) * 100
    n = (x + Fraction(1, 2)).__floor__()
    if n == 0:
        neg = False
    return "%s%d.%02d" % ("-" if neg else "", n // 100, n % 100)


class Customer:
    __slots__ = ("segment", "acq_channel", "first_ts", "last_ts", "churned", "churned_at",
                 "scope_last", "purchases", "scope_purchases", "categories")

    def __init__(self):
        self.segment = None
        self.acq_channel = None
        self.first_ts = None
        self.last_ts = None
        self.churned = False
        self.churned_at = None
        self.scope_last = {}           # segment/channel hash -> latest event time in it
        self.purchases = []            # the two latest purchase times, oldest first
        self.scope_purchases = {}      # segment/channel hash -> its two latest purchase times
        self.categories = set()


class Reference:
    def __init__(self, windows):
        self.windows = windows  # [(name, seconds)]
        self.points = []        # (t_ms, group, kpi, value): additive, counted at t
        self.base = []          # (t_ms, group, +1/-1): joins and leaves
        self.responses = []     # (t_ms, groups, response ms)
        self.order_values = []  # (t_ms, amount): order-value quantiles of kpi:global
        self.complaints = []    # (t_ms, groups, ticket record)
        self.customers = {}
        self.tickets = {}       # ticket_id -> {"opened": ts, "responded", "resolved"}
        self.seen_ids = set()
        self.segments = set()
        self.channels = set()
        self.processed = 0
        self.duplicates = 0
        self.rejected = 0
        self.clock = None
        # What the stream exercised (--stats), so a test can tell that the
        # edge cases it relies on really occurred.
        self.stats = {"inactivity_churns_between_events": 0, "inactivity_churns_at_end": 0,
                      "cancel_churns": 0, "cancels_of_churned_ignored": 0,
                      "reactivations": 0, "segment_moves": 0, "cross_sells": 0,
                      "responses": 0, "repeated_opens_ignored": 0}

    # -- attribution -------------------------------------------------
    def groups(self, segment, channel):
        g = [GLOBAL]
        if segment is not None:
            g.append("kpi:segment:" + segment)
        if channel is not None:
            g.append("kpi:channel:" + channel)
        return g

    def member_groups(self, c):
        """Hashes whose base the customer belongs to."""
        return self.groups(c.segment, c.acq_channel)

    def add(self, t, groups, kpi, value=1):
        for g in groups:
            self.points.append((t, g, kpi, value))

    def join(self, t, groups):
        for g in groups:
            self.base.append((t, g, 1))

    def leave(self, t, groups):
        for g in groups:
            self.base.append((t, g, -1))

    def churn(self, c, t):
        c.churned = True
        c.churned_at = t
        groups = self.member_groups(c)
        self.leave(t, groups)
        self.add(t, groups, "churned_customers")

    # -- one event ---------------------------------------------------
    def event(self, e):
        typ = e.get("type")
        eid = e.get("event_id")
        if (not isinstance(eid, str) or not eid or typ not in TYPES or "ts" not in e):
            self.rejected += 1
            return
        try:
            t = parse_ts(e["ts"])
        except (ValueError, OverflowError):
            self.rejected += 1
            return
        cid = e.get("customer_id")
        if typ != "marketing_spend" and (not isinstance(cid, str) or not cid):
            self.rejected += 1
            return
        if eid in self.seen_ids:
            self.duplicates += 1
            return
        self.seen_ids.add(eid)
        self.processed += 1
        self.clock = t if self.clock is None else max(self.clock, t)

        channel = e.get("channel")
        if channel is not None:
            self.channels.add(channel)
        segment_sent = e.get("segment")

        if typ == "marketing_spend":
            g = self.groups(None, channel)
            self.add(t, g, "events")
            self.add(t, g, "marketing_spend", Decimal(str(e["amount"])))
            return

        c = self.customers.get(cid)
        if c is None:
            # First event of any type: new customer, joins every base it is in.
            c = self.customers[cid] = Customer()
            c.first_ts = c.last_ts = t
            c.segment = segment_sent
            c.acq_channel = channel
            if segment_sent is not None:
                self.segments.add(segment_sent)
            g = self.member_groups(c)
            self.add(t, g, "new_customers")
            self.join(t, g)
        else:
            # Silence of churn_inactivity before this event: churned at
            # last + 30 d (the clock got there before this event was read).
            if not c.churned and t - c.last_ts >= CHURN_INACTIVITY_MS:
                self.churn(c, c.last_ts + CHURN_INACTIVITY_MS)
                self.stats["inactivity_churns_between_events"] += 1
            # A new segment value moves base membership (not a churn).
            if segment_sent is not None and segment_sent != c.segment:
                self.segments.add(segment_sent)
                self.stats["segment_moves"] += 1
                if not c.churned:
                    if c.segment is not None:
                        self.leave(t, ["kpi:segment:" + c.segment])
                    self.join(t, ["kpi:segment:" + segment_sent])
                c.segment = segment_sent
            cancel = typ == "subscription" and e.get("action") == "cancel"
            # contract 5: only an event after the churn reactivates
            if c.churned and not cancel and t > c.last_ts and t >= c.churned_at:
                c.churned = False  # reactivation: a join, not a new customer
                self.stats["reactivations"] += 1
                self.join(t, self.member_groups(c))
            c.last_ts = max(c.last_ts, t)

        g = self.groups(c.segment, channel)
        self.add(t, g, "events")
        scopes = [x for x in g if x != GLOBAL]
        for x in scopes:
            c.scope_last[x] = max(c.scope_last.get(x, t), t)

        if typ == "interaction":
            self.add(t, g, "interactions")
            if channel == "social":
                self.add(t, g, "social_interactions")
        elif typ == "purchase":
            amount = Decimal(str(e["amount"]))
            self.add(t, g, "orders")
            self.add(t, g, "purchase_amount", amount)
            self.add(t, g, "revenue", amount)
            self.order_values.append((t, amount))
            category = e.get("category")
            if category is not None:
                if c.purchases and category not in c.categories:
                    self.add(t, g, "cross_sells")
                    self.stats["cross_sells"] += 1
                c.categories.add(category)
            c.purchases = sorted(c.purchases + [t])[-2:]
            for x in scopes:
                c.scope_purchases[x] = sorted(c.scope_purchases.get(x, []) + [t])[-2:]
        elif typ == "refund":
            amount = Decimal(str(e["amount"]))
            self.add(t, g, "refunds", amount)
            self.add(t, g, "revenue", -amount)
        elif typ == "subscription":
            action = e.get("action")
            if action == "upgrade":
                self.add(t, g, "upsells")
            elif action == "cancel" and not c.churned:
                self.churn(c, t)
                self.stats["cancel_churns"] += 1
            elif action == "cancel":
                self.stats["cancels_of_churned_ignored"] += 1
        elif typ == "payment_failed":
            self.add(t, g, "payment_failures")
        elif typ == "ticket":
            tid = e.get("ticket_id")
            action = e.get("action")
            tk = self.tickets.get(tid)
            if action == "opened":
                if tk is None:
                    tk = self.tickets[tid] = {"opened": t, "responded": False,
                                              "resolved": False}
                    self.add(t, g, "tickets")
                    if e.get("complaint") is True:
                        self.add(t, g, "complaints")
                        self.complaints.append((t, g, tk))
                else:
                    self.stats["repeated_opens_ignored"] += 1
            elif action == "responded":
                if tk is not None and not tk["responded"]:
                    tk["responded"] = True
                    if t >= tk["opened"]:  # a response before the opening is skew
                        self.responses.append((t, g, t - tk["opened"]))
                        self.stats["responses"] += 1
            elif action == "resolved":
                if tk is not None:
                    tk["resolved"] = True
        elif typ == "survey":
            kind, score = e.get("kind"), e.get("score")
            if kind == "csat":
                self.add(t, g, "csat_responses")
                if score >= CSAT_SATISFIED_MIN:
                    self.add(t, g, "csat_satisfied")
            elif kind == "nps":
                self.add(t, g, "nps_responses")
                if score >= NPS_PROMOTER_MIN:
                    self.add(t, g, "nps_promoters")
                elif score <= NPS_DETRACTOR_MAX:
                    self.add(t, g, "nps_detractors")
        elif typ == "lead":
            if e.get("action") == "created":
                self.add(t, g, "leads")
            elif e.get("action") == "converted":
                self.add(t, g, "conversions")
        elif typ == "retention_spend":
            self.add(t, g, "retention_spend", Decimal(str(e["amount"])))
        elif typ == "referral":
            self.add(t, g, "referrals")

    # -- end of stream -----------------------------------------------
    def finish(self):
        if self.clock is None:
            die("no accepted events")
        if len(self.channels) > MAX_CHANNELS - 1:
            die("more than %d channel names: overflow into 'other' is not modelled"
                % (MAX_CHANNELS - 1))
        if len(self.segments) > MAX_SEGMENTS - 1:
            die("too many segment names: overflow into 'other' is not modelled")
        cats = set()
        for c in self.customers.values():
            cats |= c.categories
        if len(cats) > MAX_CATEGORIES:
            die("too many categories: the shared 'other' category is not modelled")
        # Customers silent for churn_inactivity at the final clock.
        for c in self.customers.values():
            if not c.churned and c.last_ts + CHURN_INACTIVITY_MS <= self.clock:
                self.churn(c, c.last_ts + CHURN_INACTIVITY_MS)
                self.stats["inactivity_churns_at_end"] += 1

    def in_window(self, t, width_s):
        b = width_s // 60
        cur = (self.clock // 1000) // b
        n = (t // 1000) // b
        return cur - 60 < n <= cur

    def evaluate(self):
        keys = {GLOBAL}
        keys |= {"kpi:segment:" + s for s in self.segments}
        keys |= {"kpi:channel:" + ch for ch in self.channels}
        out = []  # (key, field, value)

        # E: every join and leave so far. None can be after the clock (the
        # clock is the newest event time; inactivity churns are at most it).
        base_all = {k: 0 for k in keys}
        for t, g, d in self.base:
            if t > self.clock:
                die("base change after the clock")
            base_all[g] += d

        for wname, wsec in self.windows:
            if wsec % 60:
                die("window %s is not a multiple of 60 s" % wname)
            inw = lambda t: self.in_window(t, wsec)  # noqa: E731
            v = {k: {} for k in keys}

            def bump(g, kpi, val=1):
                v[g][kpi] = v[g].get(kpi, 0) + val

            for t, g, kpi, val in self.points:
                if inw(t):
                    bump(g, kpi, val)
            joins = {k: 0 for k in keys}
            leaves = {k: 0 for k in keys}
            for t, g, d in self.base:
                if inw(t):
                    if d > 0:
                        joins[g] += 1
                    else:
                        leaves[g] += 1
            # Last-touch distinct counts.
            for c in self.customers.values():
                if inw(c.last_ts):
                    bump(GLOBAL, "active_customers")
                if c.purchases and inw(c.purchases[-1]):
                    bump(GLOBAL, "purchasing_customers")
                if len(c.purchases) == 2 and inw(c.purchases[0]):
                    bump(GLOBAL, "repurchasing")
                for g, t in c.scope_last.items():
                    if inw(t):
                        bump(g, "active_customers")
                for g, ps in c.scope_purchases.items():
                    if inw(ps[-1]):
                        bump(g, "purchasing_customers")
                    if len(ps) == 2 and inw(ps[0]):
                        bump(g, "repurchasing")
            resp = {k: [] for k in keys}
            for t, groups, ms in self.responses:
                if inw(t):
                    for g in groups:
                        resp[g].append(ms)
            resolved = {k: 0 for k in keys}
            for t, groups, tk in self.complaints:
                if inw(t) and tk["resolved"]:
                    for g in groups:
                        resolved[g] += 1

            for k in sorted(keys):
                x = v[k]
                get = lambda n: x.get(n, 0)  # noqa: E731
                E = base_all[k]
                S = E - joins[k] + leaves[k]
                vals = {}
                for n in COUNTS:
                    vals[n] = str(get(n))
                vals["customers"] = str(E)
                for n in MONEY:
                    vals[n] = money(Decimal(get(n)))

                def rat(name, num, den):
                    vals[name] = ratio(Fraction(num) / den) if den != 0 else None

                orders, pc = get("orders"), get("purchasing_customers")
                active, churned, new = (get("active_customers"), get("churned_customers"),
                                        get("new_customers"))
                rat("aov", Fraction(Decimal(get("purchase_amount"))), orders)
                rat("purchase_frequency", orders, pc)
                rat("repurchase_rate", 100 * get("repurchasing"), pc)
                rat("csat", 100 * get("csat_satisfied"), get("csat_responses"))
                rat("nps", 100 * (get("nps_promoters") - get("nps_detractors")),
                    get("nps_responses"))
                rat("retention_rate", 100 * (E - new), S)
                rat("churn_rate", 100 * churned, S)
                rat("cac", Fraction(Decimal(get("marketing_spend"))), new)
                rat("retention_cost", Fraction(Decimal(get("retention_spend"))), S - churned)
                rat("conversion_rate", 100 * get("conversions"), get("leads"))
                rat("complaint_rate", 100 * get("complaints"), active)
                rat("complaint_resolution_rate", 100 * resolved[k], get("complaints"))
                rat("engagement", get("interactions"), active)
                rat("upsell_rate", 100 * get("upsells"), active)
                rat("cross_sell_rate", 100 * get("cross_sells"), orders)
                if wname == "30d":
                    if active == 0:
                        vals["clv"] = None
                    else:
                        churn = Fraction(churned, S) if S != 0 else Fraction(0)
                        per_customer = Fraction(Decimal(get("revenue"))) / active
                        vals["clv"] = ratio(GROSS_MARGIN * per_customer / max(churn, MIN_CHURN))
                rs = sorted(resp[k])
                for name, q in QUANTILES:
                    # Exact here; kpistream's DDSketch (1 %) is compared within it.
                    if rs:
                        vals[name] = "~" + str(rs[(q * (len(rs) - 1)).__floor__()])
                    else:
                        vals[name] = None
                if k == GLOBAL:
                    # kpistream estimates these with a DDSketch (relative
                    # accuracy 1 %): printed with "~", compared within it.
                    ov = sorted(a for t, a in self.order_values if inw(t))
                    for name, q in (("order_value_p50", Fraction(1, 2)),
                                    ("order_value_p90", Fraction(9, 10)),
                                    ("order_value_p99", Fraction(99, 100))):
                        vals[name] = ("~" + str(ov[(q * (len(ov) - 1)).__floor__()])) if ov else None
                for n, val in vals.items():
                    out.append((k, "%s:%s" % (n, wname), val))

        out.append(("kpi:meta", "events_processed", str(self.processed)))
        out.append(("kpi:meta", "events_rejected", str(self.rejected)))
        out.append(("kpi:meta", "duplicates", str(self.duplicates)))
        out.append(("kpi:meta", "clock_ms", str(self.clock)))
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jsonl", help="events, one JSON object per line")
    ap.add_argument("--windows", default="24h,30d",
                    help="comma-separated window names (default 24h,30d)")
    ap.add_argument("--out", default="-", help="output file (default stdout)")
    ap.add_argument("--stats", help="also write '<name> <count>' lines of the edge cases "
                    "the stream exercised (churns, reactivations, ...) to this file")
    args = ap.parse_args()
    windows = [(w, parse_window(w)) for w in args.windows.split(",") if w]
    ref = Reference(windows)
    with open(args.jsonl, "rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                e = json.loads(line, parse_float=Decimal)
            except ValueError:
                ref.rejected += 1
                continue
            if not isinstance(e, dict):
                ref.rejected += 1
                continue
            ref.event(e)
    ref.finish()
    rows = ref.evaluate()
    text = "".join("%s %s %s\n" % (key, field, "ABSENT" if val is None else val)
                   for key, field, val in sorted(rows))
    if args.stats:
        with open(args.stats, "w") as f:
            for name in sorted(ref.stats):
                f.write("%s %d\n" % (name, ref.stats[name]))
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
