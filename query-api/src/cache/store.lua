-- Stores price messages unless Redis already holds a newer price of the same pair.
--
-- KEYS[i]: the pair's key (<prefix><PAIR>).
-- ARGV[3i-2]: the price message (JSON), ARGV[3i-1]: its ordering key, ARGV[3i]: TTL in ms.
-- The ordering key is "<event>|<received>|<published>", where <event> is as_of (Kraken's
-- clock), else exchange_time, else received_at (PriceMessage::event_time), each time written as
-- YYYY-MM-DDTHH:MM:SS followed by nine digits of nanoseconds, so that byte order is time
-- order; order_of() derives the same key from a stored message (Entry::order_key in Rust).
-- Returns one integer per key: 1 stored, 0 kept the newer stored price.

local function sortable(t)
  if type(t) ~= 'string' then return nil end
  local secs, frac = string.match(t, '^(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d)%.?(%d*)Z$')
  if not secs then return nil end
  frac = string.sub(frac, 1, 9)
  return secs .. frac .. string.rep('0', 9 - #frac)
end

local function order_of(raw)
  local ok, msg = pcall(cjson.decode, raw)
  if not ok or type(msg) ~= 'table' then return nil end
  local received = sortable(msg['received_at'])
  local published = sortable(msg['published_at'])
  local event = received
  if msg['as_of'] ~= nil and msg['as_of'] ~= cjson.null then
    event = sortable(msg['as_of'])
  elseif msg['exchange_time'] ~= nil and msg['exchange_time'] ~= cjson.null then
    event = sortable(msg['exchange_time'])
  end
  if not (event and received and published) then return nil end
  return event .. '|' .. received .. '|' .. published
end

local stored = {}
for i, key in ipairs(KEYS) do
  local value, order, ttl = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  local current = redis.call('GET', key)
  local keep = false
  if current then
    local current_order = order_of(current)
    keep = current_order ~= nil and current_order > order
  end
  if keep then
    stored[i] = 0
  else
    redis.call('SET', key, value, 'PX', ttl)
    stored[i] = 1
  end
end
return stored
