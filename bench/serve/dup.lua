-- wrk: the same alert every time (one fingerprint): every request after the first is a
-- duplicate that salve audits and answers 200 without starting anything.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"version":"4","receiver":"bench","status":"firing","groupLabels":{},' ..
  '"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am","groupKey":"{}",' ..
  '"truncatedAlerts":0,"alerts":[{"status":"firing","labels":{"alertname":"Storm",' ..
  '"namespace":"shop","deployment":"web","pod":"web-0","severity":"critical"},' ..
  '"annotations":{"summary":"web is down"},"startsAt":"2026-11-22T02:52:22.625Z",' ..
  '"endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph"}]}'
