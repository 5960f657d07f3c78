-- LedgerState (imagegate.resilience.ledger): one hash, fields b billed_usd,
-- p possibly_billed_usd, r reserved_usd, o open_reservations, n routes seen, and per
-- route "R:<route>" = "index;billed_usd;possibly_billed_usd;attempts" (index keeps the
-- order routes first settled). ARGV 1 is the ledger's lifetime in real seconds.
local LEDGER_TTL_S = num(1)
local EPSILON_USD = 1e-9

local function ledger_load()
  local h = load_hash()
  local l = {b = 0.0, p = 0.0, r = 0.0, o = 0, n = 0, routes = {}}
  if h == nil then
    return l, false
  end
  l.b, l.p, l.r = tonumber(h.b), tonumber(h.p), tonumber(h.r)
  l.o, l.n = tonumber(h.o), tonumber(h.n)
  for field, value in pairs(h) do
    if string.sub(field, 1, 2) == "R:" then
      local v = split(value, ";")
      l.routes[string.sub(field, 3)] = {
        tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4]),
      }
    end
  end
  return l, true
end

local function ledger_fields(l)
  local out = {"b", f(l.b), "p", f(l.p), "r", f(l.r), "o", i(l.o), "n", i(l.n)}
  for route, v in pairs(l.routes) do
    table.insert(out, "R:" .. route)
    table.insert(out, i(v[1]) .. ";" .. f(v[2]) .. ";" .. f(v[3]) .. ";" .. i(v[4]))
  end
  return out
end

-- Add to one route's row, creating it (last in order) when new.
local function ledger_route_add(l, route, billed, possibly, attempts)
  local v = l.routes[route]
  if v == nil then
    l.routes[route] = {l.n, billed, possibly, attempts}
    l.n = l.n + 1
  else
    l.routes[route] = {v[1], v[2] + billed, v[3] + possibly, v[4] + attempts}
  end
end

-- The ledger lives LEDGER_TTL_S after its last change: long enough for a budget period,
-- bounded so that an abandoned prefix does not stay for ever.
local function ledger_save(l)
  redis.call("HSET", KEY, unpack(ledger_fields(l)))
  expire(0, LEDGER_TTL_S)
end
