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
  * per-customer hashes (--customers-out; docs/redis.md "Customer hash",
    docs/kpis.md "Per-customer fields"): lifetime fields; rolling fields by
    the window rule with buckets of W/60 (7 d, 28 d, 30 d) at the clock;
    churn risk from docs/churn-risk.md, scored after each of the customer's
    events at its time and at every UTC day boundary after their last event
    (churned from last + 30 d on: score 0), levels with hysteresis along
    that path; clv = gross_margin x revenue_30d / max(risk/100, min_churn).
  * rejected: malformed JSON, missing/empty event_id or customer_id, unknown
    type, a time without offset, amounts out of range for their type, survey
    scores out of range (what the test streams contain; not every rule of
    docs/events.md).

Python 3 standard library only.
"""

import argparse
import json
from bisect import bisect_left
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
MAX_CHANNELS = 64  # names tracked (contract 5); this script refuses to model overflow
MAX_SEGMENTS = 64
MAX_CATEGORIES = 63
MAX_AMOUNT = Decimal(1_000_000_000)  # docs/events.md, Limits

# Per-customer rolling fields (contract 5): the window rule with buckets of
# W/60 seconds, aligned on the epoch.
B_7D, B_28D, B_30D = 7 * 86400 // 60, 28 * 86400 // 60, 30 * 86400 // 60

# Churn risk (docs/churn-risk.md), default weights and thresholds, in the
# order of its signal table (also the order for equal contributions).
RISK_WEIGHTS = [("recency", 20), ("frequency_drop", 45), ("monetary_drop", 15),
                ("low_csat", 15), ("nps_detractor", 25), ("unresolved_tickets", 5),
                ("complaints", 10), ("payment_failures", 15), ("downgrade", 10)]
HIGH_ENTER, HIGH_EXIT, MEDIUM_ENTER, MEDIUM_EXIT = 70, 50, 40, 30
TICKET_AGE_MS = 48 * 3_600_000

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


class Rolling:
    """A customer's events of one kind, in time order, with prefix sums, so
    that the window rule's sum as of any clock is two bisections."""
    __slots__ = ("ts", "acc")

    def __init__(self):
        self.ts = []      # event times, ms, non-decreasing
        self.acc = [0]    # acc[i] = sum of the first i values

    def add(self, t, v=1):
        if self.ts and t < self.ts[-1]:
            die("a customer's events are not in time order")
        self.ts.append(t)
        self.acc.append(self.acc[-1] + v)

    def window(self, at_ms, width_s, back=0):
        """Sum of the values in the 60 buckets of width_s seconds that end
        `back` windows before the bucket holding at_ms (back=1: the 60
        buckets before those)."""
        n = (at_ms // 1000) // width_s - 60 * back
        lo = (n - 59) * width_s * 1000      # first ms of the oldest bucket
        hi = (n + 1) * width_s * 1000       # first ms after the newest
        i, j = bisect_left(self.ts, lo), bisect_left(self.ts, hi)
        return self.acc[j] - self.acc[i]


class Customer:
    __slots__ = ("segment", "acq_channel", "first_ts", "last_ts", "churned", "churned_at",
                 "scope_last", "purchases", "scope_purchases", "categories",
                 # per-customer hash (docs/redis.md, docs/churn-risk.md)
                 "events_total", "orders_total", "revenue_total", "gross_total",
                 "r_inter", "r_orders", "r_revenue", "r_complaints", "r_pfail",
                 "csat_last", "nps_last", "open_tickets", "last_downgrade", "cancelled",
                 "risk_score", "risk_level", "risk_reasons")

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
        self.events_total = 0
        self.orders_total = 0
        self.revenue_total = Decimal(0)   # net of refunds
        self.gross_total = Decimal(0)     # purchases only (aov)
        self.r_inter = Rolling()
        self.r_orders = Rolling()
        self.r_revenue = Rolling()        # net, in micro-units
        self.r_complaints = Rolling()
        self.r_pfail = Rolling()
        self.csat_last = None
        self.nps_last = None
        self.open_tickets = {}            # ticket_id -> opened at (ms)
        self.last_downgrade = None
        self.cancelled = False
        self.risk_score = 0
        self.risk_level = "low"
        self.risk_reasons = ""


def micro(d):
    """Decimal amount -> integer micro-units, half away from zero."""
    x = Fraction(d) * 1_000_000
    n = (abs(x) + Fraction(1, 2)).__floor__()
    return -n if x < 0 else n


def clamp01(x):
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def level_next(prev, score):
    """docs/churn-risk.md, Levels and hysteresis."""
    high = score >= (HIGH_EXIT if prev == "high" else HIGH_ENTER)
    if high:
        return "high"
    medium = score >= (MEDIUM_ENTER if prev == "low" else MEDIUM_EXIT)
    return "medium" if medium else "low"


def risk_eval(c, at):
    """Scores customer c at clock `at` (ms) from docs/churn-risk.md and
    updates its score, level and reasons."""
    if c.churned:
        c.risk_score, c.risk_level = 0, "low"
        c.risk_reasons = "cancel" if c.cancelled else ""
        return
    s = {}
    silent = at - c.last_ts
    gap = (c.last_ts - c.first_ts) / (c.events_total - 1) if c.events_total >= 3 \
        else 7 * DAY_MS
    if silent < 3 * DAY_MS:
        s["recency"] = 0.0
    elif gap == 0:
        s["recency"] = 1.0
    else:
        s["recency"] = clamp01((silent - 2 * gap) / (4 * gap))
    i7 = c.r_inter.window(at, B_7D)
    i28 = c.r_inter.window(at, B_28D)
    base = (i28 - i7) / 3
    s["frequency_drop"] = 0.0
    if base >= 1 and i7 / base <= 0.5:
        ratio_ = i7 / base
        z = (base - i7) / base ** 0.5
        conf = clamp01((z - 1) / 2)
        s["frequency_drop"] = (1 - ratio_) * (0.5 + 0.5 * conf)
    r30 = c.r_revenue.window(at, B_30D) / 1e6
    prev = c.r_revenue.window(at, B_30D, back=1) / 1e6
    s["monetary_drop"] = 0.0
    if prev > 0 and 1 - r30 / prev >= 0.3:
        s["monetary_drop"] = clamp01(1 - r30 / prev)
    s["low_csat"] = {1: 1.0, 2: 1.0, 3: 0.3}.get(c.csat_last, 0.0)
    s["nps_detractor"] = (7 - c.nps_last) / 7 if c.nps_last is not None and c.nps_last <= 6 \
        else 0.0
    oldest = min(c.open_tickets.values()) if c.open_tickets else None
    s["unresolved_tickets"] = 1.0 if oldest is not None and at - oldest > TICKET_AGE_MS else 0.0
    comp = c.r_complaints.window(at, B_30D)
    s["complaints"] = 0.0 if comp == 0 else 0.6 if comp == 1 else 1.0
    pf = c.r_pfail.window(at, B_30D)
    s["payment_failures"] = 0.0 if pf == 0 else 0.6 if pf == 1 else 1.0
    s["downgrade"] = 1.0 if c.last_downgrade is not None and \
        at - c.last_downgrade < 30 * DAY_MS else 0.0
    total = 0.0
    contrib = []
    for k, (name, w) in enumerate(RISK_WEIGHTS):
        x = w * s[name]
        total += x
        if w > 0 and s[name] > 0:
            contrib.append((-x, k, name))
    score = min(100, int(total + 0.5))
    contrib.sort()
    c.risk_score = score
    c.risk_level = level_next(c.risk_level, score)
    c.risk_reasons = ",".join(name for _, _, name in contrib[:3])


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

    @staticmethod
    def valid_values(typ, e):
        """The value rules of docs/events.md this script's streams exercise:
        amounts (finite, at most 1e9, > 0 or >= 0 by type) and survey scores."""
        amount = e.get("amount")
        if typ in ("purchase", "refund", "marketing_spend", "retention_spend") or \
                (typ == "payment_failed" and amount is not None):
            if isinstance(amount, bool) or not isinstance(amount, (int, Decimal)):
                return False
            if not Decimal(amount).is_finite() or amount > MAX_AMOUNT:
                return False
            if amount < 0 or (amount == 0 and typ in ("purchase", "refund")):
                return False
        if typ == "survey":
            score = e.get("score")
            if isinstance(score, bool) or not isinstance(score, (int, Decimal)) or \
                    score != int(score):
                return False
            lo, hi = (1, 5) if e.get("kind") == "csat" else (0, 10)
            if not lo <= score <= hi:
                return False
        return True

    def risk_days(self, c, until):
        """Re-scores c at each UTC day boundary D with c.last_ts < D <= until
        (docs/architecture.md, Churn risk), churned from last + 30 d on."""
        d = (c.last_ts // DAY_MS + 1) * DAY_MS
        while d <= until:
            if not c.churned and d >= c.last_ts + CHURN_INACTIVITY_MS:
                # Silent for churn_inactivity at D: churned by then; every
                # later boundary scores the same (0, low).
                was = c.churned, c.cancelled
                c.churned, c.cancelled = True, False
                risk_eval(c, d)
                c.churned, c.cancelled = was
                return
            risk_eval(c, d)
            if c.churned:
                return
            d += DAY_MS

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
        if not self.valid_values(typ, e):
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
            self.risk_days(c, t)
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
                c.cancelled = False
                self.stats["reactivations"] += 1
                self.join(t, self.member_groups(c))
            c.last_ts = max(c.last_ts, t)

        g = self.groups(c.segment, channel)
        self.add(t, g, "events")
        c.events_total += 1
        scopes = [x for x in g if x != GLOBAL]
        for x in scopes:
            c.scope_last[x] = max(c.scope_last.get(x, t), t)

        self.customer_event(c, typ, e, t)
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
                c.cancelled = True
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
        risk_eval(c, t)

    def customer_event(self, c, typ, e, t):
        """The customer's own fields (docs/redis.md, Customer hash)."""
        if typ == "interaction":
            c.r_inter.add(t)
        elif typ == "purchase":
            amount = Decimal(e["amount"])
            c.orders_total += 1
            c.revenue_total += amount
            c.gross_total += amount
            c.r_orders.add(t)
            c.r_revenue.add(t, micro(amount))
        elif typ == "refund":
            amount = Decimal(e["amount"])
            c.revenue_total -= amount
            c.r_revenue.add(t, -micro(amount))
        elif typ == "payment_failed":
            c.r_pfail.add(t)
        elif typ == "subscription" and e.get("action") == "downgrade":
            c.last_downgrade = t
        elif typ == "survey":
            if e.get("kind") == "csat":
                c.csat_last = int(e["score"])
            elif e.get("kind") == "nps":
                c.nps_last = int(e["score"])
        elif typ == "ticket":
            tid, action = e.get("ticket_id"), e.get("action")
            if action == "opened" and tid not in self.tickets:
                c.open_tickets[tid] = t
                if e.get("complaint") is True:
                    c.r_complaints.add(t)
            elif action == "resolved":
                c.open_tickets.pop(tid, None)

    # -- end of stream -----------------------------------------------
    def finish(self):
        if self.clock is None:
            die("no accepted events")
        if len(self.channels) > MAX_CHANNELS:
            die("more than %d channel names: overflow into 'other' is not modelled"
                % MAX_CHANNELS)
        if len(self.segments) > MAX_SEGMENTS:
            die("too many segment names: overflow into 'other' is not modelled")
        cats = set()
        for c in self.customers.values():
            cats |= c.categories
        if len(cats) > MAX_CATEGORIES:
            die("too many categories: the shared 'other' category is not modelled")
        # Day boundaries after each customer's last event, then customers
        # silent for churn_inactivity at the final clock.
        for c in self.customers.values():
            self.risk_days(c, self.clock)
            if not c.churned and c.last_ts + CHURN_INACTIVITY_MS <= self.clock:
                self.churn(c, c.last_ts + CHURN_INACTIVITY_MS)
                self.stats["inactivity_churns_at_end"] += 1

    def customer_rows(self):
        """(key, field, value) of every kpi:customer:<id> hash at the clock;
        value None = the field must be absent."""
        out = []
        at = self.clock
        for cid, c in self.customers.items():
            k = "kpi:customer:" + cid
            rev30 = Fraction(c.r_revenue.window(at, B_30D), 1_000_000)
            if not c.churned and c.last_ts + CHURN_INACTIVITY_MS <= at:
                die("customer %r not churned at the end" % cid)
            vals = {
                "segment": c.segment,
                "first_seen_ms": str(c.first_ts),
                "last_event_ms": str(c.last_ts),
                "status": "churned" if c.churned else "active",
                "orders_30d": str(c.r_orders.window(at, B_30D)),
                "revenue_30d": ratio(rev30),
                "orders_total": str(c.orders_total),
                "revenue_total": money(c.revenue_total),
                "aov": ratio(Fraction(c.gross_total) / c.orders_total) if c.orders_total
                else None,
                "interactions_7d": str(c.r_inter.window(at, B_7D)),
                "interactions_28d": str(c.r_inter.window(at, B_28D)),
                "csat_last": None if c.csat_last is None else str(c.csat_last),
                "nps_last": None if c.nps_last is None else str(c.nps_last),
                "open_tickets": str(len(c.open_tickets)),
                "complaints_30d": str(c.r_complaints.window(at, B_30D)),
                "payment_failures_30d": str(c.r_pfail.window(at, B_30D)),
                # docs/kpis.md: gross_margin x revenue_30d / max(risk/100, min_churn)
                "clv": ratio(GROSS_MARGIN * rev30 / max(Fraction(c.risk_score, 100), MIN_CHURN)),
                "risk_score": str(c.risk_score),
                "risk_level": c.risk_level,
                "risk_reasons": c.risk_reasons,
            }
            for f, v in vals.items():
                out.append((k, f, v))
        return out

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
    ap.add_argument("--customers-out", help="also write every kpi:customer:<id> field to "
                    "this file, one '<key>TAB<field>TAB<value>' line each (value ABSENT for a "
                    "field that must not be there; keys and values may hold spaces)")
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
    if args.customers_out:
        with open(args.customers_out, "w", encoding="utf-8") as f:
            for key, field, val in sorted(ref.customer_rows()):
                f.write("%s\t%s\t%s\n" % (key, field, "ABSENT" if val is None else val))
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
