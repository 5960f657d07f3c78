-- LedgerMerge: what one process booked and settled on its local copy while Redis was
-- unreachable, added on its return. ARGV ttl, d_billed, d_possibly, d_reserved,
-- d_open, then route, d_billed, d_possibly, d_attempts per route. Result: none.
local now = clock_now()
local l = ledger_load()
l.b = l.b + amount(2)
l.p = l.p + amount(3)
l.r = math.max(0.0, l.r + finite(4))
l.o = math.max(0, l.o + finite(5))
local k = 6
while op(k) ~= nil do
  ledger_route_add(l, op(k), amount(k + 1), amount(k + 2), finite(k + 3))
  k = k + 4
end
ledger_save(l)
return reply(now, {}, ledger_fields(l))
