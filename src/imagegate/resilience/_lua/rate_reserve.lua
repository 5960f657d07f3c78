-- RateReserve: ARGV n, rpm, ipm, rpd, min_interval_s, burst, margin_s, day, reset_in_s,
-- max_wait_s ("" for None), booking. Result: the wait, or "" when refused (the record is
-- then unchanged).
local n = num(1)
local rpm, ipm, rpd, min_interval = opt(2), opt(3), opt(4), opt(5)
local burst, margin, day, reset_in_s, max_wait = num(6), num(7), num(8), num(9), opt(10)
local booking = op(11)
local state = rate_load()
local now = clock_now()
if ipm ~= nil and n > ipm then
  return reply(now, {""}, rate_fields(state))
end
local cur = rate_rolled(state or rate_fresh(now, day), day)
local gcras = {
  {cur.rt, rate_interval(rpm, margin), 1, burst},
  {cur.it, rate_interval(ipm, margin), n, burst},
  {cur.st, min_interval, 1, 1},
}
local start = math.max(now, cur.bu)
for _, g in ipairs(gcras) do
  if g[2] ~= nil then
    start = math.max(start, g[1] - (math.max(g[4], g[3]) - g[3]) * g[2])
  end
end
local used_today, used_next = cur.ut, cur.un
local booking_day = 0
if rpd ~= nil then
  local midnight = now + reset_in_s
  if start < midnight - margin and used_today < rpd then
    used_today = used_today + 1
    booking_day = cur.d
  elseif used_next < rpd then
    start = math.max(start, midnight)
    used_next = used_next + 1
    booking_day = cur.d + 1
  else
    return reply(now, {""}, rate_fields(state))
  end
end
local wait = start - now
if max_wait ~= nil and wait > max_wait then
  return reply(now, {""}, rate_fields(state))
end
local tats = {}
for k, g in ipairs(gcras) do
  if g[2] == nil then
    tats[k] = g[1]
  else
    tats[k] = math.max(g[1], start) + g[3] * g[2]
  end
end
local new = {
  rt = tats[1], it = tats[2], st = tats[3], d = cur.d, ut = used_today, un = used_next,
  bu = cur.bu, lb = booking, ld = booking_day,
}
rate_save(new, now, reset_in_s)
return reply(now, {f(wait)}, rate_fields(new))
