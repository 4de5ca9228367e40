-- scale-on-load: a Deployment is overloaded (high CPU or latency alert): measure its CPU use
-- and latency in Prometheus, scale it out by a factor within min/max guardrails, wait until
-- the new replicas are ready, and measure again. Alert labels fill namespace and deployment;
-- the queries are PromQL with {namespace} and {deployment} filled in.
runbook {
  name = "scale-on-load",
  description = "Scale a Deployment out within bounds when Prometheus shows it overloaded",
  params = {
    namespace = { type = "string", required = true, description = "the Deployment's namespace" },
    deployment = { type = "string", required = true, description = "the Deployment's name" },
    cpu_query = { type = "string",
      default = 'sum(rate(container_cpu_usage_seconds_total{namespace="{namespace}",pod=~"{deployment}-.*",container!=""}[5m])) / sum(kube_pod_container_resource_requests{namespace="{namespace}",pod=~"{deployment}-.*",resource="cpu"})',
      description = "PromQL: CPU used as a fraction of requested" },
    latency_query = { type = "string",
      default = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="{namespace}",deployment="{deployment}"}[5m])))',
      description = "PromQL: p99 latency in seconds" },
    max_cpu = { type = "number", default = 0.8, description = "overloaded above this CPU fraction" },
    max_latency = { type = "number", default = 0.5, description = "overloaded above this p99 latency (s)" },
    factor = { type = "number", default = 1.5, description = "multiply the replicas by this" },
    min = { type = "int", default = 2, description = "never fewer replicas" },
    max = { type = "int", default = 20, description = "never more replicas" },
    timeout = { type = "string", default = "5m", description = "how long new replicas may take to be ready" },
  },
  lock = "k8s/{namespace}/{deployment}",
}

local prom = plugin "prometheus"
local scale = plugin "scale"

-- Fill {namespace} and {deployment}. They come from alert labels: refuse anything that is not
-- a Kubernetes name, so a label cannot break out of a PromQL string.
local function promql(p, template)
  for _, v in ipairs{ p.namespace, p.deployment } do
    if not v:match("^[a-z0-9][a-z0-9.-]*$") then
      error("namespace and deployment must be lowercase Kubernetes names, got " .. v)
    end
  end
  return (template:gsub("{namespace}", p.namespace):gsub("{deployment}", p.deployment))
end

local function measure(p)
  local cpu = prom.query{ expr = promql(p, p.cpu_query) }.value
  local latency = prom.query{ expr = promql(p, p.latency_query) }.value
  log(string.format("%s/%s: cpu %s of requested, p99 latency %s s", p.namespace, p.deployment,
    cpu and string.format("%.2f", cpu) or "n/a", latency and string.format("%.3f", latency) or "n/a"))
  return { cpu = cpu, latency = latency,
           overloaded = (cpu ~= nil and cpu > p.max_cpu) or (latency ~= nil and latency > p.max_latency) }
end

step "measure" {
  run = function(p) return measure(p) end,
}

step "scale-out" {
  check = function(p, s) return not s.measure.overloaded end,
  run = function(p)
    return scale.set{ namespace = p.namespace, name = p.deployment, factor = p.factor,
                      min = p.min, max = p.max }
  end,
  verify = function(p)
    return scale.wait_ready{ namespace = p.namespace, name = p.deployment, timeout = p.timeout }.healthy
  end,
  timeout = "10m",
}

step "measure-again" {
  when = function(p, s) return s.measure.overloaded end,
  run = function(p) return measure(p) end,
}
