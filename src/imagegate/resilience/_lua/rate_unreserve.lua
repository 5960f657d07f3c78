-- RateUnreserve: ARGV booking, n, rpm, ipm, rpd, min_interval_s, burst, margin_s, day.
-- Result: "1" when the booking was the latest one and is undone, else "0" (unchanged).
local booking, n = op(1), num(2)
local rpm, ipm, min_interval = opt(3), opt(4), opt(6)
local margin, day = num(8), num(9)
local state = rate_load()
local now = clock_now()
if state == nil or booking == "" or state.lb ~= booking then
  return reply(now, {"0"}, rate_fields(state))
end
local cur = rate_rolled(state, day)
local ut, un = cur.ut, cur.un
if cur.ld == cur.d then
  ut = math.max(0, ut - 1)
elseif cur.ld == cur.d + 1 then
  un = math.max(0, un - 1)
end
local function undone(tat, interval, cost)
  if interval == nil then
    return tat
  end
  return tat - cost * interval
end
local new = {
  rt = undone(cur.rt, rate_interval(rpm, margin), 1),
  it = undone(cur.it, rate_interval(ipm, margin), n),
  st = undone(cur.st, min_interval, 1),
  d = cur.d, ut = ut, un = un, bu = cur.bu, lb = "", ld = 0,
}
-- The reset time is not known here: keep day counts for 25 h, the longest quota day.
rate_save(new, now, 90000)
return reply(now, {"1"}, rate_fields(new))
