-- BreakerAcquire: ARGV policy. Result: "" (no permit), "0" (a call) or "1" (a probe),
-- the token (now), then the transitions.
local now = clock_now()
local r, moved = br_at(br_load() or br_default(), now)
local permit = ""
if r.s == "closed" then
  permit = "0"
elseif r.s == "half_open" and #r.pr + r.ps < P.probes then
  table.insert(r.pr, now)
  permit = "1"
end
br_save(r, now)
return reply(now, transition_results({permit, f(now)}, moved), br_fields(r))
