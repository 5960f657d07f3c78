-- LedgerUnreserve: ARGV ttl, estimate_usd. Result: none.
local estimate = amount(2)
local now = clock_now()
local l = ledger_load()
l.r = math.max(0.0, l.r - estimate)
l.o = math.max(0, l.o - 1)
ledger_save(l)
return reply(now, {}, ledger_fields(l))
