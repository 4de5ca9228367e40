-- wrk: a new alert every request (another pod: another fingerprint, occurrence and target),
-- so each one is claimed in etcd (with ha:) and accepted as a run of its own.
-- Arguments after --: a prefix that keeps the pods of each wrk (each replica, each phase)
-- apart, so no two requests of a bench carry the same alert.
local prefix = "p"
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  if args[1] then prefix = args[1] end
end
local n = 0
function request()
  n = n + 1
  local body = string.format('{"version":"4","receiver":"bench","status":"firing",' ..
    '"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am",' ..
    '"groupKey":"{}","truncatedAlerts":0,"alerts":[{"status":"firing","labels":' ..
    '{"alertname":"Claim","namespace":"shop","pod":"%s-%d-%d","severity":"critical"},' ..
    '"annotations":{"summary":"web is down"},"startsAt":"2026-11-22T02:52:22.625Z",' ..
    '"endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph"}]}', prefix, tid, n)
  return wrk.format("POST", wrk.path, { ["Content-Type"] = "application/json" }, body)
end
