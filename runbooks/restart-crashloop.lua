-- restart-crashloop: pods of a Deployment crash-loop (KubePodCrashLooping): keep the evidence
-- (the crashed container's last log lines), then restart the Deployment the way
-- `kubectl rollout restart` does and wait until the new pods are up. Alert labels fill
-- namespace, deployment and, when known, pod and container. When no pod of the Deployment is
-- crash-looping any more, nothing is restarted.
runbook {
  name = "restart-crashloop",
  description = "Restart a Deployment whose pods are crash-looping, keeping their last logs",
  params = {
    namespace = { type = "string", required = true, description = "the Deployment's namespace" },
    deployment = { type = "string", required = true, description = "the Deployment's name" },
    pod = { type = "string", default = "", description = "the crash-looping pod (alert label), for its logs" },
    container = { type = "string", default = "", description = "its container (alert label)" },
    min_restarts = { type = "int", default = 3, description = "restarts that make a pod crash-looping" },
    timeout = { type = "string", default = "5m", description = "how long the restart may take" },
  },
  lock = "k8s/{namespace}/{deployment}",
}

local k8s = plugin "kubernetes"

-- The Deployment's pods, found through its own selector.
local function selector_of(deployment)
  local parts = {}
  for k, v in pairs(deployment.spec.selector.matchLabels or {}) do
    parts[#parts + 1] = k .. "=" .. v
  end
  table.sort(parts)
  return table.concat(parts, ",")
end

step "evidence" {
  run = function(p)
    local d = k8s.get{ kind = "deployment", namespace = p.namespace, name = p.deployment }
    local pods = k8s.pods{ namespace = p.namespace, selector = selector_of(d) }
    local looping = {}
    for _, pod in ipairs(pods.pods) do
      if pod.status == "CrashLoopBackOff" or pod.restarts >= p.min_restarts then
        looping[#looping + 1] = pod.name
      end
    end
    log(string.format("%d of %d pods of %s/%s are crash-looping", #looping, pods.count,
      p.namespace, p.deployment))
    local pod = p.pod ~= "" and p.pod or looping[1]
    if pod then
      local args = { namespace = p.namespace, pod = pod, tail = 50, previous = true }
      if p.container ~= "" then args.container = p.container end
      local logs = k8s.logs(args)
      log(string.format("last %d log lines of %s before it crashed:\n%s", logs.lines, pod, logs.text))
    end
    return { looping = looping, pods = pods.count }
  end,
}

step "restart" {
  check = function(p, s) return #s.evidence.looping == 0 end,
  run = function(p)
    return k8s.rollout_restart{ namespace = p.namespace, name = p.deployment }
  end,
  verify = function(p)
    return k8s.rollout_wait{ namespace = p.namespace, name = p.deployment, timeout = p.timeout }.healthy
  end,
  timeout = "10m",
}
