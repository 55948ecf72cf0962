-- wrk script: the acquire txn etcdlock sends, on a fresh key, alternating with the release txn
-- of the key acquired just before.
-- Keys are "<prefix><thread>-<counter>", base64-encoded as the gateway requires.
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(data)
  return ((data:gsub(".", function(c)
    local bits, byte = "", c:byte()
    for i = 8, 1, -1 do bits = bits .. (byte % 2 ^ i - byte % 2 ^ (i - 1) > 0 and "1" or "0") end
    return bits
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local value = 0
    for i = 1, 6 do value = value + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return alphabet:sub(value + 1, value + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

local counter = 0
local thread_id = 0
local threads = 0
local previous = nil
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

-- Alternates the two txns of a lock cycle: the acquire txn on a fresh key, then the release
-- txn of that key (delete it if it exists), so the key space stays the size a lock's does.
function request()
  if previous ~= nil then
    local key = previous
    previous = nil
    local body = '{"compare":[{"result":"GREATER","target":"CREATE","key":"' .. key .. '","create_revision":"0"}],'
      .. '"success":[{"request_delete_range":{"key":"' .. key .. '"}}],"failure":[]}'
    return wrk.format("POST", "/v3/kv/txn", { ["Content-Type"] = "application/json" }, body)
  end
  counter = counter + 1
  local key = base64("/wrk-floor/" .. thread_id .. "-" .. counter .. "-" .. math.random(1, 1e9))
  previous = key
  local body = '{"compare":[{"result":"EQUAL","target":"CREATE","key":"' .. key .. '","create_revision":"0"}],'
    .. '"success":[{"request_put":{"key":"' .. key .. '","value":"b3duZXI="}}],"failure":[]}'
  return wrk.format("POST", "/v3/kv/txn", { ["Content-Type"] = "application/json" }, body)
end
