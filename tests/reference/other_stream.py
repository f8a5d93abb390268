#!/usr/bin/env python3
"""A customer-event stream that kpistream's own generator did not design.

`kpistream gen` (src/gen/) models one population; a test that only replays
its streams can only find the defects that population reaches. This script
is a second, deliberately different source, written from CONTRACT.md section
1 and docs/events.md alone (Python standard library only):

  * activity: heavy-tailed per-customer rates (log-normal, some customers
    dozens of events a day, most a few a week); arrivals spread over the
    whole span, so every window holds new customers;
  * money: log-normal amounts with 0, 1, 2, 3 or 6 decimals (exact
    micro-unit sums), refunds of part of a purchase;
  * segments: five names, customers who never send one, customers who send
    their first one late, and movers (one or two segment changes, some back
    to where they were);
  * channels: eleven names (more than the old cap of 8), Zipf-weighted, one
    of them non-ASCII; events without a channel; `social`;
  * customer ids: mostly ASCII, some Cyrillic, CJK, emoji, a ':' and a '/',
    and the same visible name precomposed and decomposed (two customers);
  * life: cancels, silences over 30 days followed by a return (inactivity
    churn then reactivation), customers who stop for good, returns a few
    minutes after the 30-day mark;
  * time: integer ms and RFC 3339 strings with offsets and fractions; many
    events exactly on bucket edges (whole minutes, 24 min, 168 min, 11 h 12
    min, 12 h, days), several events of one customer at the same
    millisecond; the last event exactly at the end, which is on every
    bucket edge of the default windows and a UTC day (a week boundary of
    the epoch);
  * producer retries (the same bytes again, shortly after) and a few bad
    records (malformed JSON, unknown type, missing or empty fields, a time
    without offset, amounts out of range, a score out of range).

Each customer's events are written in time order (ties in generation order)
and the stream in global time order, so a producer keying by customer_id
gives every partition a time-ordered log. Every line carries customer_id,
campaign or event_id as text, so the test harness can key it.

Usage: other_stream.py --customers N --days D --seed S --out FILE
"""

import argparse
import json
import math
import random
import re
import sys
from datetime import datetime, timedelta, timezone

DAY_MS = 86_400_000
WEEK_S = 604_800
# Bucket widths of the default windows and per-customer fields, in seconds,
# plus a day: an event snapped to one of them sits exactly on a bucket edge.
EDGES_S = [60, 1440, 10080, 40320, 43200, 86400]

SEGMENTS = ["retail", "wholesale", "gov", "edu", "startup"]
CHANNELS = ["web", "app", "email", "social", "phone", "chat", "store", "partner",
            "kiosk", "sms", "tienda-física"]
CATEGORIES = ["books", "garden", "toys", "audio", "video", "kitchen", "sport", "travel",
              "beauty", "pets", "office", "électronique"]
TICKET_CATEGORIES = ["billing", "delivery", "quality", "login", "refund", "other-things"]
UNICODE_IDS = ["клиент-%d", "顧客-%d", "😀-%d", "Zoë:%d", "a/b-%d", "ñandú-%d"]


def to_json(obj):
    """Compact UTF-8 JSON; amounts, kept as decimal strings so that they are
    written digit for digit, become JSON numbers."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return re.sub(r'"amount":"(-?[0-9][0-9.eE+-]*)"', r'"amount":\1', text)


class Gen:
    def __init__(self, args):
        self.r = random.Random(args.seed)
        self.end_ms = args.end_ms
        self.start_ms = self.end_ms - args.days * DAY_MS
        self.ncust = args.customers
        self.events = []   # (ts_ms, seq, key-of-order, line)
        self.seq = 0
        self.eid = 0

    # -- helpers -------------------------------------------------------
    def next_id(self, prefix="x"):
        self.eid += 1
        return "%s-%06d-%s" % (prefix, self.eid, "%04x" % self.r.getrandbits(16))

    def amount(self, median, sigma):
        v = math.exp(math.log(median) + self.r.gauss(0, sigma))
        v = min(v, 50_000)
        decimals = self.r.choices([0, 1, 2, 3, 6], [5, 5, 70, 10, 10])[0]
        q = round(v, decimals)
        if q <= 0:
            q = 10 ** -decimals if decimals else 1
        return ("%.*f" % (decimals, q)) if decimals else str(int(q))

    def snap(self, t):
        """Sometimes moves t down onto a bucket edge."""
        if self.r.random() < 0.12:
            w = self.r.choice(EDGES_S) * 1000
            t = t // w * w
        return t

    def ts_repr(self, t):
        """Integer ms most of the time, else RFC 3339 with an offset."""
        x = self.r.random()
        if x < 0.8:
            return t
        off = self.r.choice([0, 0, 330, -480, 60, -150])
        tz = timezone(timedelta(minutes=off))
        d = datetime.fromtimestamp(t // 1000, tz=timezone.utc).astimezone(tz)
        ms = t % 1000
        frac = (".%03d" % ms) if ms or self.r.random() < 0.3 else ""
        if off == 0 and self.r.random() < 0.5:
            zone = "Z"
        else:
            zone = "%s%02d:%02d" % ("+" if off >= 0 else "-", abs(off) // 60, abs(off) % 60)
        return d.strftime("%Y-%m-%dT%H:%M:%S") + frac + zone

    def emit(self, t, obj, raw=None):
        line = raw if raw is not None else to_json(obj)
        self.seq += 1
        self.events.append((t, self.seq, line))
        return line

    # -- customers -----------------------------------------------------
    def customer_id(self, i):
        if i % 97 == 5:   # the same visible name, precomposed and decomposed
            k = i // 97
            return ("Ren\u00e9e-%d" if k % 2 else "Rene\u0301e-%d") % (k // 2)
        if self.r.random() < 0.12:
            return self.r.choice(UNICODE_IDS) % i
        return "u%05d" % i

    def customer(self, i):
        r = self.r
        cid = self.customer_id(i)
        span = self.end_ms - self.start_ms
        if r.random() < 0.25:
            first = self.start_ms + r.randrange(0, DAY_MS)
        else:
            first = self.start_ms + r.randrange(0, span - DAY_MS // 2)
        rate = min(30.0, math.exp(r.gauss(math.log(0.9), 1.1)))  # events per day
        life = r.random()
        stop = self.end_ms
        gaps = []  # (from, to): silences
        if life < 0.12:     # cancels at some point
            cancel_at = first + int(r.random() * (self.end_ms - first))
        else:
            cancel_at = None
        if 0.12 <= life < 0.22:   # stops for good
            stop = first + int(r.random() * (self.end_ms - first))
        elif 0.22 <= life < 0.32:  # a long silence, then back
            g0 = first + int(r.random() * (self.end_ms - first) * 0.5)
            glen = r.choice([30 * DAY_MS + 60_000 * r.randrange(1, 30),
                             r.randrange(31, 40) * DAY_MS, 29 * DAY_MS])
            gaps.append((g0, g0 + glen))
        elif 0.32 <= life < 0.37:  # silences of 2 to 20 days (risk rises)
            g0 = first + int(r.random() * (self.end_ms - first))
            gaps.append((g0, g0 + r.randrange(2, 20) * DAY_MS))

        seg_plan = []  # (time, segment or None)
        s = r.random()
        seg0 = r.choice(SEGMENTS)
        if s < 0.15:
            seg_plan = [(first, None)]
        elif s < 0.22:  # first segment sent late
            seg_plan = [(first, None), (first + r.randrange(1, 20) * DAY_MS, seg0)]
        elif s < 0.40:  # a mover
            seg1 = r.choice([x for x in SEGMENTS if x != seg0])
            t1 = first + r.randrange(DAY_MS // 4, 25 * DAY_MS)
            seg_plan = [(first, seg0), (t1, seg1)]
            if r.random() < 0.35:  # and again (sometimes back)
                seg2 = r.choice([seg0, r.choice(SEGMENTS)])
                seg_plan.append((t1 + r.randrange(DAY_MS // 8, 10 * DAY_MS), seg2))
        else:
            seg_plan = [(first, seg0)]

        weights = [1.0 / (k + 1) ** 1.1 for k in range(len(CHANNELS))]
        home = r.choices(CHANNELS, weights)[0]

        # Times of events: a Poisson process at `rate`, outside the gaps.
        times = [first]
        t = first
        while True:
            t += int(r.expovariate(rate) * DAY_MS) + 1
            if t >= stop:
                break
            if any(a <= t < b for a, b in gaps):
                t = next(b for a, b in gaps if a <= t < b)
            times.append(t)
        if cancel_at is not None:
            times = [x for x in times if x < cancel_at]
        if r.random() < 0.03:   # a burst: several events at one millisecond
            times += [times[-1]] * r.randrange(2, 5)
        times = sorted(min(self.snap(x), self.end_ms) for x in times)
        times = [max(x, self.start_ms + 1) for x in times]

        state = {"orders": [], "tickets": [], "leads": 0, "sent_segment": None}
        out = []
        for k, t in enumerate(times):
            if k == 0 and r.random() < 0.7:
                typ = "signup"
            else:
                typ = r.choices(
                    ["interaction", "purchase", "ticket", "survey", "payment_failed", "refund",
                     "subscription", "lead", "referral", "retention_spend", "signup"],
                    [50, 15, 6, 6, 3, 3, 5, 3, 2, 2, 0.5])[0]
            out.extend(self.make(cid, t, typ, state, seg_plan, home))
        if cancel_at is not None:
            out.append((cancel_at, {"type": "subscription", "action": "cancel"}))
            if r.random() < 0.3:   # a second cancel: ignored
                out.append((cancel_at + r.randrange(1, 3 * DAY_MS),
                            {"type": "subscription", "action": "cancel"}))
            if r.random() < 0.3:   # comes back later
                out.append((cancel_at + r.randrange(DAY_MS // 2, 12 * DAY_MS),
                            {"type": "interaction", "action": "return"}))
        out = [(min(t, self.end_ms), e) for t, e in out]
        out.sort(key=lambda x: x[0])   # stable: ties keep generation order
        for t, e in out:
            seg = None
            for at, sg in seg_plan:
                if at <= t:
                    seg = sg
            e = dict(e)
            ev = {"event_id": self.next_id("ev"), "type": e.pop("type"), "customer_id": cid,
                  "ts": self.ts_repr(t)}
            # The segment is sent when it changes and now and then otherwise.
            if seg is not None and (seg != state["sent_segment"] or r.random() < 0.3):
                ev["segment"] = seg
                state["sent_segment"] = seg
            ch = e.pop("channel", None)
            if ch is None:
                ch = home if r.random() < 0.65 else (r.choice(CHANNELS) if r.random() < 0.75
                                                      else None)
            if ch is not None:
                ev["channel"] = ch
            ev.update(e)
            line = self.emit(t, ev)
            if r.random() < 0.02:   # producer retry: the same bytes, a little later
                self.emit(t + r.randrange(0, 3_600_000), None, raw=line)

    def make(self, cid, t, typ, st, seg_plan, home):
        r = self.r
        if typ == "interaction":
            e = {"type": "interaction"}
            if r.random() < 0.5:
                e["action"] = r.choice(["view", "like", "search", "share", "comment"])
            return [(t, e)]
        if typ == "purchase":
            oid = self.next_id("o")
            amt = self.amount(45, 1.0)
            st["orders"].append((oid, amt))
            e = {"type": "purchase", "order_id": oid, "amount": amt}
            if r.random() < 0.85:
                e["category"] = r.choice(CATEGORIES[:r.randrange(2, len(CATEGORIES) + 1)])
            if r.random() < 0.7:
                e["product"] = "p-%d" % int(r.paretovariate(1.2))
            return [(t, e)]
        if typ == "refund":
            if not st["orders"]:
                return [(t, {"type": "interaction"})]
            oid, amt = r.choice(st["orders"])
            part = max(float(amt) * r.choice([1, 0.5, 0.25]), 0.01)
            return [(t, {"type": "refund", "order_id": oid, "amount": "%.2f" % part})]
        if typ == "ticket":
            tid = self.next_id("t")
            e = {"type": "ticket", "ticket_id": tid, "action": "opened"}
            if r.random() < 0.35:
                e["complaint"] = True
                e["category"] = r.choice(TICKET_CATEGORIES)
            elif r.random() < 0.5:
                e["complaint"] = False
            out = [(t, e)]
            if r.random() < 0.85:
                t1 = t + int(r.expovariate(1 / 7_200_000)) + r.choice([0, 1000])
                out.append((t1, {"type": "ticket", "ticket_id": tid, "action": "responded"}))
                if r.random() < 0.1:   # a second response: only the first counts
                    out.append((t1 + 60_000, {"type": "ticket", "ticket_id": tid,
                                              "action": "responded"}))
                if r.random() < 0.75:
                    t2 = t1 + int(r.expovariate(1 / (2 * DAY_MS)))
                    out.append((t2, {"type": "ticket", "ticket_id": tid,
                                     "action": "resolved"}))
            if r.random() < 0.05:   # a repeated opened: ignored
                out.append((t + 1, dict(e)))
            return out
        if typ == "survey":
            if r.random() < 0.5:
                return [(t, {"type": "survey", "kind": "csat",
                             "score": r.choices([1, 2, 3, 4, 5], [1, 1, 2, 4, 4])[0]})]
            return [(t, {"type": "survey", "kind": "nps", "score": r.randrange(0, 11)})]
        if typ == "payment_failed":
            e = {"type": "payment_failed"}
            if r.random() < 0.6:
                e["amount"] = self.amount(20, 0.5)
            return [(t, e)]
        if typ == "subscription":
            return [(t, {"type": "subscription",
                         "action": r.choices(["start", "renew", "upgrade", "downgrade"],
                                             [2, 4, 2, 2])[0]})]
        if typ == "lead":
            if st["leads"] and r.random() < 0.5:
                st["leads"] -= 1
                return [(t, {"type": "lead", "action": "converted"})]
            st["leads"] += 1
            return [(t, {"type": "lead", "action": "created"})]
        if typ == "referral":
            e = {"type": "referral"}
            if r.random() < 0.5:
                e["referred_customer_id"] = "ref-%d" % r.randrange(100000)
            return [(t, e)]
        if typ == "retention_spend":
            return [(t, {"type": "retention_spend", "amount": self.amount(8, 0.6)})]
        return [(t, {"type": "signup"})]

    # -- company events and bad records ---------------------------------
    def marketing(self):
        r = self.r
        campaigns = ["spring", "brand", "retarget", "influencer", "cashback"]
        for d in range((self.end_ms - self.start_ms) // DAY_MS + 1):
            for camp in campaigns:
                if r.random() < 0.6:
                    t = min(self.snap(self.start_ms + d * DAY_MS + r.randrange(DAY_MS)),
                            self.end_ms)
                    t = max(t, self.start_ms + 1)
                    e = {"event_id": self.next_id("m"), "type": "marketing_spend",
                         "ts": self.ts_repr(t), "amount": self.amount(120, 0.8),
                         "campaign": camp}
                    if r.random() < 0.85:
                        e["channel"] = r.choice(CHANNELS)
                    line = self.emit(t, e)
                    if r.random() < 0.02:
                        self.emit(t + r.randrange(0, 600_000), None, raw=line)

    def bad_records(self, n):
        r = self.r
        for i in range(n):
            t = self.start_ms + DAY_MS + r.randrange(self.end_ms - self.start_ms - DAY_MS)
            cid = "u%05d" % r.randrange(self.ncust)
            good = {"event_id": self.next_id("bad"), "type": "purchase", "customer_id": cid,
                    "ts": t, "order_id": "ob-%d" % i, "amount": "12.50", "channel": "web"}
            kind = i % 9
            e = dict(good)
            if kind == 0:    # malformed JSON: cut short
                self.emit(t, None, raw=to_json(e)[:-9])
                continue
            if kind == 1:
                e["type"] = "login"
            elif kind == 2:
                del e["customer_id"]
            elif kind == 3:
                e["ts"] = datetime.fromtimestamp(t // 1000, tz=timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%S")   # no offset
            elif kind == 4:
                e["amount"] = "-5.00"
            elif kind == 5:
                e["amount"] = "2e9"
            elif kind == 6:
                e = {"event_id": e["event_id"], "type": "survey", "customer_id": cid, "ts": t,
                     "kind": "csat", "score": 6}
            elif kind == 7:
                e["event_id"] = ""
                e["campaign"] = "bad"   # a key for the harness
            else:
                e["amount"] = "0"
            self.emit(t, e)

    def run(self, bad):
        for i in range(self.ncust):
            self.customer(i)
        self.marketing()
        self.bad_records(bad)
        # The stream ends exactly at end_ms (every bucket edge): one company
        # event and one customer event there.
        self.emit(self.end_ms, {"event_id": self.next_id("m"), "type": "marketing_spend",
                                "ts": self.end_ms, "amount": "1.005", "campaign": "last",
                                "channel": "web"})
        self.emit(self.end_ms, {"event_id": self.next_id("ev"), "type": "interaction",
                                "customer_id": "u%05d" % 0, "ts": self.end_ms,
                                "channel": "app"})
        self.events.sort(key=lambda x: (x[0], x[1]))
        return [line for _, _, line in self.events]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=600)
    ap.add_argument("--days", type=int, default=45)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--bad", type=int, default=45, help="bad records (default 45)")
    ap.add_argument("--end-ms", type=int, default=1767225600000,
                    help="the last event time; default 2026-01-01T00:00:00Z, a multiple "
                         "of a week since the epoch, so on every default bucket edge")
    ap.add_argument("--out", default="-")
    args = ap.parse_args()
    if args.end_ms % (WEEK_S * 1000):
        print("other_stream: --end-ms is not on a week boundary of the epoch", file=sys.stderr)
    lines = Gen(args).run(args.bad)
    text = "".join(x + "\n" for x in lines)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
