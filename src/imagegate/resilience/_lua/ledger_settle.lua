-- LedgerSettle: ARGV ttl, estimate_usd, actual_usd, billing, route. Result: none.
local estimate, actual, billing, route = amount(2), amount(3), op(4), op(5)
local now = clock_now()
local l = ledger_load()
local cost = actual
if billing == "not_billed" then
  cost = 0.0
end
local billed, possibly = 0.0, 0.0
if billing == "billed" then
  billed = cost
elseif billing == "possibly_billed" then
  possibly = cost
end
ledger_route_add(l, route, billed, possibly, 1)
l.b = l.b + billed
l.p = l.p + possibly
l.r = math.max(0.0, l.r - estimate)
l.o = math.max(0, l.o - 1)
ledger_save(l)
return reply(now, {}, ledger_fields(l))
