/* The Redis side of the group aggregates (see agg.h): two Lua scripts, run
 * with EVAL inside the flush's MULTI/EXEC.
 *
 * Layout under <prefix>agg (A):
 *   A                 hash: clock_ms (group clock: the highest any member
 *                     flushed), n:<window> (window position as bucket number)
 *   A:flush           counter bumped by every flush (KPI writes check it)
 *   A:seq, A:pclock   hash per partition "topic:p": token of the flush that
 *                     last wrote it (fencing, idempotent retries); its clock
 *   A:b:<w>:<n>       hash: bucket n of window w, field "<what>|<dim>"
 *   A:w:<w>, A:f:<w>  hash: sums of the buckets inside window w at the group
 *                     clock, and of the buckets ahead of it
 *   A:n:<w>           sorted set of the bucket numbers held
 *   A:t:<p|c>:<w>:<n> sorted set: product / complaint category counts of a bucket
 *   A:h:<w>:<n>       HyperLogLog of a bucket's active customers
 *   A:base            hash: customers (known, not churned) per dim
 *   A:dims            set of every dim ever written
 * A dim is "g", "s:<segment>" or "c:<channel>". Zero sums are deleted, so the
 * keys depend only on the events, not on how flushes were cut.
 *
 * Script arguments: mode, prefix, clock_ms ("" none), nwindows, then
 * (name, bucket width ms) per window; then per mode (below).
 */
#include "engine/agg.h"

#define KS__LUA_COMMON                                                                      \
    "local mode, P = ARGV[1], ARGV[2]\n"                                                    \
    "local A = P .. 'agg'\n"                                                                \
    "local clock = tonumber(ARGV[3])\n"                                                     \
    "local nw = tonumber(ARGV[4])\n"                                                        \
    "local names, widths = {}, {}\n"                                                        \
    "local i = 5\n"                                                                         \
    "for w = 1, nw do names[w] = ARGV[i]; widths[w] = tonumber(ARGV[i + 1]); i = i + 2 end\n" \
    "local function fmt(x) return string.format('%d', x) end\n"                             \
    /* Integers stay strings: Lua numbers are doubles (money sums in micro-units \
     * can pass 2^53), so negation is done on the text. */                                  \
    "local function incr(h, f, d)\n"                                                        \
    "  if redis.call('HINCRBY', h, f, d) == 0 then redis.call('HDEL', h, f) end\n"          \
    "end\n"                                                                                 \
    "local function neg(x)\n"                                                               \
    "  if string.sub(x, 1, 1) == '-' then return string.sub(x, 2) end\n"                    \
    "  return '-' .. x\n"                                                                   \
    "end\n"                                                                                 \
    "local function addhash(src, dst, sign)\n"                                              \
    "  local kv = redis.call('HGETALL', src)\n"                                             \
    "  for j = 1, #kv, 2 do incr(dst, kv[j], sign > 0 and kv[j + 1] or neg(kv[j + 1])) end\n" \
    "end\n"                                                                                 \
    /* The group clock only rises; windows follow it, bucket by bucket. */                  \
    "local g = tonumber(redis.call('HGET', A, 'clock_ms'))\n"                               \
    "if clock and (not g or clock > g) then g = clock; redis.call('HSET', A, 'clock_ms', fmt(g)) end\n" \
    "local N = {}\n"                                                                        \
    "for w = 1, nw do\n"                                                                    \
    "  local wn = names[w]\n"                                                               \
    "  local old = tonumber(redis.call('HGET', A, 'n:' .. wn))\n"                           \
    "  local new = g and math.floor(g / widths[w]) or nil\n"                                \
    "  N[w] = old\n"                                                                        \
    "  if new and (not old or new > old) then\n"                                            \
    "    local set = A .. ':n:' .. wn\n"                                                    \
    "    if old then\n"                                                                     \
    /* A jump past the whole window (a replay catching up) empties the window \
     * sum at once instead of bucket by bucket. */                                          \
    "      local whole = new - 60 >= old\n"                                                 \
    "      for _, s in ipairs(redis.call('ZRANGEBYSCORE', set, '-inf', fmt(new - 60))) do\n" \
    "        local b = A .. ':b:' .. wn .. ':' .. s\n"                                      \
    "        if tonumber(s) > old then addhash(b, A .. ':f:' .. wn, -1)\n"                  \
    "        elseif not whole then addhash(b, A .. ':w:' .. wn, -1) end\n"                  \
    "        redis.call('DEL', b, A .. ':h:' .. wn .. ':' .. s, A .. ':t:p:' .. wn .. ':' .. s,\n" \
    "                   A .. ':t:c:' .. wn .. ':' .. s)\n"                                  \
    "        redis.call('ZREM', set, s)\n"                                                  \
    "      end\n"                                                                           \
    "      if whole then redis.call('DEL', A .. ':w:' .. wn) end\n"                         \
    "      for _, s in ipairs(redis.call('ZRANGEBYSCORE', set, '(' .. fmt(old), fmt(new))) do\n" \
    "        local b = A .. ':b:' .. wn .. ':' .. s\n"                                      \
    "        addhash(b, A .. ':f:' .. wn, -1)\n"                                            \
    "        addhash(b, A .. ':w:' .. wn, 1)\n"                                             \
    "      end\n"                                                                           \
    "    end\n"                                                                             \
    "    redis.call('HSET', A, 'n:' .. wn, fmt(new))\n"                                     \
    "    N[w] = new\n"                                                                      \
    "  end\n"                                                                               \
    "end\n"

/* Flush: ARGV after the common part: group, top_k, npartitions, then per
 * partition its header (id, expected token, new token, next offset or "",
 * clock), then nitems and nitems x (op, window, bucket, field, delta) summed
 * over those partitions:
 *   c  counter or sketch bucket count: field "<what>|<dim>"
 *   tp, tc  top-k count of item field (product, complaint category)
 *   b  base of dim field;  m  kpi:meta counter field
 * then the HLL items (window, bucket, dense bytes) to the end.
 * Each partition's stored token must be the expected one (we own it and
 * Redis has our previous flush); the new one means an earlier attempt of
 * this flush went through (its reply was lost): "done"; anything else means
 * another member owns the partition now: "fenced". The items are applied only
 * if every partition is as expected, all or nothing. Returns: status
 * (applied | not_applied), fenced ids (count, ids), done ids (count, ids),
 * flush counter, group clock, then per window the window sums and the sums
 * ahead (count, then field/value pairs), then base and dims likewise. */
const char ks_agg_flush_script[] = KS__LUA_COMMON
    "local group, k, np = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])\n"
    "i = i + 3\n"
    "local fenced, done, ok = {}, {}, 0\n"
    "for h = i, i + 5 * (np - 1), 5 do\n"
    "  local cur = redis.call('HGET', A .. ':seq', ARGV[h]) or ''\n"
    "  if cur == ARGV[h + 1] then ok = ok + 1\n"
    "  elseif cur == ARGV[h + 2] then done[#done + 1] = ARGV[h]\n"
    "  else fenced[#fenced + 1] = ARGV[h] end\n"
    "end\n"
    "local apply = ok == np\n"
    "if apply then\n"
    "  for h = i, i + 5 * (np - 1), 5 do\n"
    "    redis.call('HSET', A .. ':seq', ARGV[h], ARGV[h + 2])\n"
    "    redis.call('HSET', A .. ':pclock', ARGV[h], ARGV[h + 4])\n"
    "    if ARGV[h + 3] ~= '' then redis.call('HSET', P .. 'offsets:' .. group, ARGV[h], ARGV[h + 3]) end\n"
    "  end\n"
    "end\n"
    "i = i + 5 * np\n"
    "local nitems = tonumber(ARGV[i])\n"
    "i = i + 1\n"
    "local function bucket_ok(w, n) return N[w] and n > N[w] - 60 end\n"
    "local dims, held = {}, {}\n"
    "for j = i, i + 5 * (nitems - 1), 5 do\n"
    "  if not apply then break end\n"
    "  local op, f, d = ARGV[j], ARGV[j + 3], ARGV[j + 4]\n"
    "  if op == 'b' then incr(A .. ':base', f, d); dims[f] = true\n"
    "  elseif op == 'm' then redis.call('HINCRBY', P .. 'meta', f, d)\n"
    "  else\n"
    "    local w, n = tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2])\n"
    "    if bucket_ok(w, n) then\n"
    "      local s, wn = ARGV[j + 2], names[w]\n"
    "      if op == 'c' then\n"
    "        incr(A .. ':b:' .. wn .. ':' .. s, f, d)\n"
    "        incr(n <= N[w] and (A .. ':w:' .. wn) or (A .. ':f:' .. wn), f, d)\n"
    "        dims[string.match(f, '|(.*)$')] = true\n"
    "      else\n"
    "        local key = A .. ':t:' .. string.sub(op, 2) .. ':' .. wn .. ':' .. s\n"
    "        if tonumber(redis.call('ZINCRBY', key, d, f)) <= 0 then redis.call('ZREM', key, f) end\n"
    "      end\n"
    "      held[w .. ':' .. s] = true\n"
    "    end\n"
    "  end\n"
    "end\n"
    "i = i + 5 * nitems\n"
    "for d in pairs(dims) do redis.call('SADD', A .. ':dims', d) end\n"
    "for ws in pairs(held) do\n"
    "  local w, s = string.match(ws, '^(%d+):(.*)$')\n"
    "  redis.call('ZADD', A .. ':n:' .. names[tonumber(w)], s, s)\n"
    "end\n"
    "while i + 2 <= #ARGV do\n"
    "  local w, n = tonumber(ARGV[i]), tonumber(ARGV[i + 1])\n"
    "  if bucket_ok(w, n) then\n"
    "    local tmp = A .. ':tmp'\n"
    "    redis.call('SET', tmp, ARGV[i + 2])\n"
    "    redis.call('PFMERGE', A .. ':h:' .. names[w] .. ':' .. fmt(n), tmp)\n"
    "    redis.call('DEL', tmp)\n"
    "    redis.call('ZADD', A .. ':n:' .. names[w], n, fmt(n))\n"
    "  end\n"
    "  i = i + 3\n"
    "end\n"
    /* Outputs that Redis assembles itself: the windows' HLLs and top-k lists. */
    "for w = 1, nw do\n"
    "  if N[w] then\n"
    "    local wn = names[w]\n"
    "    local live = redis.call('ZRANGEBYSCORE', A .. ':n:' .. wn, '(' .. fmt(N[w] - 60), fmt(N[w]))\n"
    "    local hk = {}\n"
    "    for _, s in ipairs(live) do hk[#hk + 1] = A .. ':h:' .. wn .. ':' .. s end\n"
    "    redis.call('DEL', P .. 'hll:active:' .. wn)\n"
    "    redis.call('PFMERGE', P .. 'hll:active:' .. wn, unpack(hk))\n"
    "    for _, kind in ipairs({'p', 'c'}) do\n"
    "      local out = P .. 'top:' .. (kind == 'p' and 'product' or 'complaint_category') .. ':' .. wn\n"
    "      redis.call('DEL', out)\n"
    "      if #live > 0 then\n"
    "        local keys = {}\n"
    "        for _, s in ipairs(live) do keys[#keys + 1] = A .. ':t:' .. kind .. ':' .. wn .. ':' .. s end\n"
    "        local tmp = A .. ':tmp'\n"
    "        redis.call('ZUNIONSTORE', tmp, #keys, unpack(keys))\n"
    "        local top = redis.call('ZREVRANGE', tmp, 0, k - 1, 'WITHSCORES')\n"
    "        for j = 1, #top, 2 do redis.call('ZADD', out, top[j + 1], top[j]) end\n"
    "        redis.call('DEL', tmp)\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for _, f in ipairs({'events_processed', 'events_rejected', 'duplicates'}) do\n"
    "  redis.call('HSETNX', P .. 'meta', f, '0')\n"
    "end\n"
    "if g then redis.call('HSET', P .. 'meta', 'clock_ms', fmt(g)) end\n"
    "local out = {apply and 'applied' or 'not_applied', #fenced}\n"
    "for _, f in ipairs(fenced) do out[#out + 1] = f end\n"
    "out[#out + 1] = #done\n"
    "for _, f in ipairs(done) do out[#out + 1] = f end\n"
    "out[#out + 1] = redis.call('INCR', A .. ':flush')\n"
    "out[#out + 1] = g and fmt(g) or ''\n"
    "local function put(kv) out[#out + 1] = #kv; for _, x in ipairs(kv) do out[#out + 1] = x end end\n"
    "for w = 1, nw do put(redis.call('HGETALL', A .. ':w:' .. names[w])); put(redis.call('HGETALL', A .. ':f:' .. names[w])) end\n"
    "put(redis.call('HGETALL', A .. ':base'))\n"
    "put(redis.call('SMEMBERS', A .. ':dims'))\n"
    "return out\n";

/* KPI hashes, written only if no flush came in between (the version the
 * sums were read at is still current): ARGV prefix, version, then per hash:
 * key, nset, field/value pairs, ndel, fields. Returns 1 if written. */
const char ks_agg_kpi_script[] =
    "if redis.call('GET', ARGV[1] .. 'agg:flush') ~= ARGV[2] then return 0 end\n"
    "local i = 3\n"
    "while i <= #ARGV do\n"
    "  local key, ns = ARGV[i], tonumber(ARGV[i + 1])\n"
    "  i = i + 2\n"
    "  if ns > 0 then redis.call('HSET', key, unpack(ARGV, i, i + 2 * ns - 1)) end\n"
    "  i = i + 2 * ns\n"
    "  local nd = tonumber(ARGV[i])\n"
    "  i = i + 1\n"
    "  if nd > 0 then redis.call('HDEL', key, unpack(ARGV, i, i + nd - 1)) end\n"
    "  i = i + nd\n"
    "end\n"
    "return 1\n";
