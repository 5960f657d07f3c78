-- Tally (tests/state/test_codec.py): one hash, c count, l last. ARGV n. Result: the count.
local now = clock_now()
local h = load_hash()
local count = 0
if h ~= nil then
  count = field(h.c, "c", 0)
end
count = count + num(1)
redis.call("HSET", KEY, "c", i(count), "l", f(now))
expire(60, 0)
return reply(now, {i(count)}, {"c", i(count), "l", f(now)})
