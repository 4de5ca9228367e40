-- wrk against etcd's JSON gateway itself: one transaction per request, a create-if-absent
-- of a new key (a claim's shape: compare create_revision = 0, put), so the cluster's own
-- ceiling on this machine is measured in the same run as salve's claims.
-- Keys are base64 already (16 characters: 12 bytes), built from the thread and a counter:
-- never one twice in a run (each bench run starts a new cluster). wrk runs LuaJIT (Lua 5.1).
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local function digits(v, width)
  local out = {}
  for i = width, 1, -1 do
    local d = v % 64
    out[i] = alphabet:sub(d + 1, d + 1)
    v = (v - d) / 64
  end
  return table.concat(out)
end
local n = 0
function request()
  n = n + 1
  local key = digits(tid, 6) .. digits(n, 10)
  local body = '{"compare":[{"key":"' .. key .. '","target":"CREATE","create_revision":"0"}],' ..
    '"success":[{"request_put":{"key":"' .. key .. '","value":"eA=="}}],"failure":[]}'
  return wrk.format("POST", "/v3/kv/txn", { ["Content-Type"] = "application/json" }, body)
end
