-- RateExhaust: ARGV day, block_for_s. Result: none.
local day, block_for = num(1), num(2)
local state = rate_load()
local now = clock_now()
local cur = rate_rolled(state or rate_fresh(now, day), day)
local new = {
  rt = cur.rt, it = cur.it, st = cur.st, d = cur.d, ut = cur.ut, un = cur.un,
  bu = math.max(cur.bu, now + math.max(0.0, block_for)), lb = cur.lb, ld = cur.ld,
}
rate_save(new, now, 90000)
return reply(now, {}, rate_fields(new))
