-- LedgerReserve: ARGV ttl, estimate_usd, limit_usd ("" for None).
-- Result: "1" (booked) or "0", and committed_usd before the booking.
local estimate, limit = amount(2), opt(3)
local now = clock_now()
local l = ledger_load()
local committed = l.b + l.p + l.r
if limit ~= nil and committed + estimate > limit + EPSILON_USD then
  return reply(now, {"0", f(committed)}, ledger_fields(l))
end
l.r = l.r + estimate
l.o = l.o + 1
ledger_save(l)
return reply(now, {"1", f(committed)}, ledger_fields(l))
