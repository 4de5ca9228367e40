-- wrk: a new alert every request (another pod, so another fingerprint) for one Deployment:
-- salve parses, routes, audits each and deduplicates them on the route's target.
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local n = 0
function request()
  n = n + 1
  local body = string.format('{"version":"4","receiver":"bench","status":"firing",' ..
    '"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am",' ..
    '"groupKey":"{}","truncatedAlerts":0,"alerts":[{"status":"firing","labels":' ..
    '{"alertname":"Storm","namespace":"shop","deployment":"web","pod":"web-%d-%d",' ..
    '"severity":"critical"},"annotations":{"summary":"web is down"},' ..
    '"startsAt":"2026-11-22T02:52:22.625Z","endsAt":"0001-01-01T00:00:00Z",' ..
    '"generatorURL":"http://prom/graph"}]}', tid, n)
  return wrk.format("POST", wrk.path, { ["Content-Type"] = "application/json" }, body)
end
