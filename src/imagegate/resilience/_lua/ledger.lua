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
  -- A NaN here would make every cap comparison false, for every worker.
  l.b, l.p, l.r = field(h.b, "b", 0), field(h.p, "p", 0), field(h.r, "r", 0)
  l.o, l.n = field(h.o, "o", 0), field(h.n, "n", 0)
  for name, value in pairs(h) do
    if string.sub(name, 1, 2) == "R:" then
      local v = split(value, ";")
      l.routes[string.sub(name, 3)] = {
        field(v[1], name, 0), field(v[2], name, 0), field(v[3], name, 0), field(v[4], name, 0),
      }
    end
  end
  return l, true
end

-- An amount argument: refused unless finite and, for `amount`, not negative (the Python
-- operations refuse them first; this guards the shared record against any other client).
local function finite(k)
  local x = tonumber(op(k))
  if x == nil or x ~= x or x == math.huge or x == -math.huge then
    fail("REFUSED_ARGUMENT", "amount " .. tostring(op(k)) .. " is not finite")
  end
  return x
end

local function amount(k)
  local x = finite(k)
  if x < 0 then
    fail("REFUSED_ARGUMENT", "amount " .. tostring(op(k)) .. " is negative")
  end
  return x
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
