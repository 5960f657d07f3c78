-- BreakerReport: ARGV policy, then outcome, duration_s, probe_token ("" for None),
-- open_for_s. Result: the transitions.
local outcome = op(POLICY_ARGS + 1)
local duration = num(POLICY_ARGS + 2)
local token = opt(POLICY_ARGS + 3)
local open_for = num(POLICY_ARGS + 4)
local now = clock_now()
local r, moved = br_at(br_load() or br_default(), now)

local function done()
  br_save(r, now)
  return reply(now, transition_results({}, moved), br_fields(r))
end

if outcome == "quota" then
  local base = now
  if r.s == "open" then
    base = r.ou
  end
  local until_ = math.max(now + open_for, base)
  local t
  r, t = br_opened(r, now, until_ - now, r.lv, "quota")
  table.insert(moved, t)
  return done()
end
local slow = P.slow_call_s ~= nil and duration >= P.slow_call_s
if token ~= nil then
  local at = nil
  if r.s == "half_open" then
    for k, t in ipairs(r.pr) do
      if t == token then
        at = k
        break
      end
    end
  end
  if at == nil then
    return done() -- a probe from an earlier spell, or expired
  end
  table.remove(r.pr, at)
  if outcome == "neutral" then
    return done()
  end
  if outcome == "failure" or slow then
    local level = r.lv + 1
    local reason = "probe_slow"
    if outcome == "failure" then
      reason = "probe_failed"
    end
    local t
    r, t = br_opened(r, now, cooldown_for(level), level, reason)
    table.insert(moved, t)
    return done()
  end
  r.ps = r.ps + 1
  if r.ps >= P.probes then
    r.s, r.lv, r.pr, r.ps, r.bk = "closed", 0, {}, 0, {}
    table.insert(moved, transition("half_open", "closed", "probes_succeeded", nil))
  end
  return done()
end
if r.s ~= "closed" or outcome == "neutral" then
  return done() -- a call that started before the breaker opened
end
local failed = outcome == "failure"
-- _add: count the call in the current bucket, dropping buckets out of the window.
local width = P.window_s / P.window_buckets
local start = math.floor(now / width) * width
local kept = {}
for _, b in ipairs(r.bk) do
  if b[1] > now - P.window_s then
    table.insert(kept, b)
  end
end
local fail_n, slow_n = 0, 0
if failed then
  fail_n = 1
end
if slow then
  slow_n = 1
end
if #kept > 0 and kept[#kept][1] == start then
  local last = kept[#kept]
  kept[#kept] = {start, last[2] + 1, last[3] + fail_n, last[4] + slow_n}
else
  table.insert(kept, {start, 1, fail_n, slow_n})
end
r.bk = kept
if failed then
  r.cs = r.cs + 1
else
  r.cs = 0
end
-- _trip_reason
local trip = nil
if P.consecutive ~= nil and r.cs >= P.consecutive then
  trip = "consecutive_failures"
else
  local calls, failures, slow_calls = 0, 0, 0
  for _, b in ipairs(r.bk) do
    if b[1] > now - P.window_s then
      calls, failures, slow_calls = calls + b[2], failures + b[3], slow_calls + b[4]
    end
  end
  if calls >= P.min_calls then
    if failures / calls >= P.failure_rate then
      trip = "failure_rate"
    elseif P.slow_call_s ~= nil and slow_calls / calls >= P.slow_call_rate then
      trip = "slow_call_rate"
    end
  end
end
if trip ~= nil then
  local t
  r, t = br_opened(r, now, cooldown_for(0), 0, trip)
  table.insert(moved, t)
end
return done()
