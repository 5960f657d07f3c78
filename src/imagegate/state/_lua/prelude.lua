-- imagegate shared state: the prelude every script starts with.
-- KEYS[1]: the one record this script reads and writes (Cluster: one key per script).
-- ARGV[1]: the caller's now in clock seconds, or "" to use the server's clock;
-- ARGV[2]: real seconds per clock second (time_scale); ARGV[3]: the epoch (unix s)
-- server time is counted from; ARGV[4...]: the operation's parameters (see op()).
-- Numbers are written with %.17g so they read back exactly: Lua's tostring keeps 14
-- digits, and a number handed to redis.call or returned to the client is truncated.
local KEY = KEYS[1]
local SCALE = tonumber(ARGV[2])
local MARGIN_MS = 1000
local MAX_TTL_MS = 400 * 86400 * 1000

local function op(i)
  return ARGV[3 + i]
end

local function num(i)
  return tonumber(ARGV[3 + i])
end

local function opt(i)
  local s = ARGV[3 + i]
  if s == "" then
    return nil
  end
  return tonumber(s)
end

local function clock_now()
  if ARGV[1] ~= "" then
    return tonumber(ARGV[1])
  end
  local t = redis.call("TIME")
  return ((tonumber(t[1]) - tonumber(ARGV[3])) + tonumber(t[2]) / 1000000) / SCALE
end

-- Errors the client tells apart from a broken connection: CORRUPT_RECORD when the stored
-- record has a field that is not a finite number (another writer, a manual edit, an old
-- NaN), so only the operations on that key are affected; REFUSED_ARGUMENT when the caller
-- passed an amount the record must never hold.
local function fail(code, what)
  error({err = code .. " " .. KEY .. ": " .. what})
end

-- A stored number: finite, and not below `floor` when one is given.
local function field(value, name, floor)
  local x = tonumber(value)
  if x == nil or x ~= x or x == math.huge or x == -math.huge or (floor ~= nil and x < floor) then
    fail("CORRUPT_RECORD", "field " .. name .. " is " .. tostring(value))
  end
  return x
end

local function f(x)
  return string.format("%.17g", x)
end

local function i(x)
  return string.format("%d", x)
end

local function load_hash()
  local h = redis.call("HGETALL", KEY)
  if #h == 0 then
    return nil
  end
  local r = {}
  for k = 1, #h, 2 do
    r[h[k]] = h[k + 1]
  end
  return r
end

-- Keep the record for ttl_clock clock seconds (scaled to real time) or ttl_real real
-- seconds, whichever is longer, plus a margin: a record kept longer than it matters is
-- equivalent to none, so erring long is harmless and erring short is not.
local function expire(ttl_clock, ttl_real)
  local real = math.max(ttl_clock * SCALE, ttl_real, 0)
  local ms = math.min(math.ceil(real * 1000) + MARGIN_MS, MAX_TTL_MS)
  redis.call("PEXPIRE", KEY, i(ms))
end

local function split(s, sep)
  local out = {}
  if s == nil or s == "" then
    return out
  end
  local start = 1
  while true do
    local at = string.find(s, sep, start, true)
    if at == nil then
      table.insert(out, string.sub(s, start))
      return out
    end
    table.insert(out, string.sub(s, start, at - 1))
    start = at + 1
  end
end

-- The reply: {now, #results, results..., field, value, field, value...}.
local function reply(now, results, fields)
  local out = {f(now), i(#results)}
  for _, v in ipairs(results) do
    table.insert(out, v)
  end
  for _, v in ipairs(fields) do
    table.insert(out, v)
  end
  return out
end
