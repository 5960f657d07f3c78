-- BreakerRecord (imagegate.resilience.breaker): one hash, fields s state, ou open_until,
-- lv level, rs reason, bk buckets ("start,calls,failures,slow;..."), cs consecutive,
-- pr probe tokens ("t;t"), ps probe_successes, ot opened_total.
-- The policy is ARGV 1..12: failure_rate, min_calls, window_s, window_buckets,
-- slow_call_s, slow_call_rate, consecutive_failures, cooldown_s, cooldown_multiplier,
-- cooldown_max_s, half_open_probes, probe_timeout_s ("" for None).
local P = {
  failure_rate = num(1), min_calls = num(2), window_s = num(3), window_buckets = num(4),
  slow_call_s = opt(5), slow_call_rate = num(6), consecutive = opt(7), cooldown_s = num(8),
  multiplier = num(9), cooldown_max_s = num(10), probes = num(11), probe_timeout_s = num(12),
}
local POLICY_ARGS = 12

local function br_default()
  return {s = "closed", ou = 0.0, lv = 0, rs = "", bk = {}, cs = 0, pr = {}, ps = 0, ot = 0}
end

local function br_load()
  local h = load_hash()
  if h == nil then
    return nil
  end
  if h.s ~= "closed" and h.s ~= "open" and h.s ~= "half_open" then
    fail("CORRUPT_RECORD", "field s is " .. tostring(h.s))
  end
  local r = {
    s = h.s, ou = field(h.ou, "ou"), lv = field(h.lv, "lv", 0), rs = h.rs or "", bk = {},
    cs = field(h.cs, "cs", 0), pr = {}, ps = field(h.ps, "ps", 0), ot = field(h.ot, "ot", 0),
  }
  for _, b in ipairs(split(h.bk, ";")) do
    local p = split(b, ",")
    table.insert(r.bk, {
      field(p[1], "bk"), field(p[2], "bk", 0), field(p[3], "bk", 0), field(p[4], "bk", 0),
    })
  end
  for _, t in ipairs(split(h.pr, ";")) do
    table.insert(r.pr, field(t, "pr"))
  end
  return r
end

local function br_fields(r)
  local bk, pr = {}, {}
  for _, b in ipairs(r.bk) do
    table.insert(bk, f(b[1]) .. "," .. i(b[2]) .. "," .. i(b[3]) .. "," .. i(b[4]))
  end
  for _, t in ipairs(r.pr) do
    table.insert(pr, f(t))
  end
  return {
    "s", r.s, "ou", f(r.ou), "lv", i(r.lv), "rs", r.rs, "bk", table.concat(bk, ";"),
    "cs", i(r.cs), "pr", table.concat(pr, ";"), "ps", i(r.ps), "ot", i(r.ot),
  }
end

-- The record matters while its window, its cool-down or a probe permit runs, and for
-- cooldown_max_s after that (so a half-open breaker nobody probes is forgotten then).
local function br_save(r, now)
  redis.call("HSET", KEY, unpack(br_fields(r)))
  local ttl = math.max(r.ou - now, 0)
  if #r.bk > 0 then
    ttl = math.max(ttl, r.bk[#r.bk][1] + P.window_s - now)
  end
  for _, t in ipairs(r.pr) do
    ttl = math.max(ttl, t + P.probe_timeout_s - now)
  end
  expire(ttl + P.cooldown_max_s, 0)
end

local function transition(source, target, reason, open_for)
  return {source, target, reason, open_for}
end

-- Transitions as results: source, target, reason, open_for_s ("" for None) each.
local function transition_results(head, moved)
  local out = head
  for _, t in ipairs(moved) do
    table.insert(out, t[1])
    table.insert(out, t[2])
    table.insert(out, t[3])
    if t[4] == nil then
      table.insert(out, "")
    else
      table.insert(out, f(t[4]))
    end
  end
  return out
end

local function br_at(r, now)
  local moved = {}
  if r.s == "open" and now >= r.ou then
    r.s, r.pr, r.ps = "half_open", {}, 0
    table.insert(moved, transition("open", "half_open", "cooldown_over", nil))
  end
  if r.s == "half_open" and #r.pr > 0 then
    local live = {}
    for _, t in ipairs(r.pr) do
      if now - t < P.probe_timeout_s then
        table.insert(live, t)
      end
    end
    r.pr = live
  end
  return r, moved
end

local function cooldown_for(level)
  return math.min(P.cooldown_max_s, P.cooldown_s * P.multiplier ^ level)
end

local function br_opened(r, now, open_for, level, reason)
  local t = transition(r.s, "open", reason, open_for)
  r.s, r.ou, r.lv, r.rs = "open", now + open_for, level, reason
  r.bk, r.cs, r.pr, r.ps, r.ot = {}, 0, {}, 0, r.ot + 1
  return r, t
end
