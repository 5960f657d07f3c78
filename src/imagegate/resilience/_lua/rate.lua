-- RateLimitState (imagegate.resilience.ratelimit): one hash, fields
-- rt request_tat, it image_tat, st spacing_tat, d day, ut used_today, un used_next_day,
-- bu blocked_until, lb booking, ld booking_day (records written before the last two
-- existed read as "" and 0).
local function rate_load()
  local h = load_hash()
  if h == nil then
    return nil
  end
  return {
    rt = field(h.rt, "rt"), it = field(h.it, "it"), st = field(h.st, "st"),
    d = field(h.d, "d"), ut = field(h.ut, "ut", 0), un = field(h.un, "un", 0),
    bu = field(h.bu, "bu"), lb = h.lb or "", ld = field(h.ld or "0", "ld"),
  }
end

local function rate_fresh(now, day)
  return {rt = now, it = now, st = now, d = day, ut = 0, un = 0, bu = now, lb = "", ld = 0}
end

local function rate_rolled(r, day)
  if day <= r.d then
    return r
  end
  local ut = 0
  if day == r.d + 1 then
    ut = r.un
  end
  return {
    rt = r.rt, it = r.it, st = r.st, d = day, ut = ut, un = 0, bu = r.bu, lb = r.lb, ld = r.ld,
  }
end

local function rate_fields(r)
  if r == nil then
    return {}
  end
  return {
    "rt", f(r.rt), "it", f(r.it), "st", f(r.st), "d", i(r.d),
    "ut", i(r.ut), "un", i(r.un), "bu", f(r.bu), "lb", r.lb, "ld", i(r.ld),
  }
end

-- The GCRA interval of a per-minute limit widened by the safety margin, or nil without one.
local function rate_interval(per_minute, margin)
  if per_minute == nil then
    return nil
  end
  return (60.0 + margin) / per_minute
end

-- The record matters until its latest GCRA time or block has passed (then it equals a
-- fresh one) and, while it counts requests against a quota day, until that day is over.
local function rate_save(r, now, reset_in_s)
  redis.call("HSET", KEY, unpack(rate_fields(r)))
  local ttl_clock = math.max(r.rt, r.it, r.st, r.bu) - now
  local ttl_real = 0
  if r.un > 0 then
    ttl_real = reset_in_s + 90000
  elseif r.ut > 0 then
    ttl_real = reset_in_s
  end
  expire(ttl_clock, ttl_real)
end
