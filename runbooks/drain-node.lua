-- drain-node: take a node out of service (a failing-disk or NotReady alert, or planned work):
-- cordon it and evict its pods through the Eviction API, so PodDisruptionBudgets are respected,
-- as `kubectl drain --ignore-daemonsets` does. The alert's node label fills node. If the drain
-- fails (a budget never allows an eviction before the timeout), the engine uncordons the node.
runbook {
  name = "drain-node",
  description = "Cordon a node and evict its pods, respecting PodDisruptionBudgets",
  params = {
    node = { type = "string", required = true, description = "the node to drain" },
    timeout = { type = "string", default = "10m", description = "how long evictions may take" },
    delete_emptydir_data = { type = "bool", default = false,
                             description = "also evict pods that use emptyDir volumes" },
    force = { type = "bool", default = false, description = "also evict pods no controller manages" },
  },
  lock = "k8s/node/{node}",
}

local k8s = plugin "kubernetes"

step "inspect" {
  run = function(p)
    local n = k8s.get{ kind = "node", name = p.node }
    local ready = "unknown"
    for _, c in ipairs(n.status and n.status.conditions or {}) do
      if c.type == "Ready" then ready = c.status end
    end
    log(string.format("node %s: Ready=%s, unschedulable=%s", p.node, ready,
      tostring(n.spec and n.spec.unschedulable or false)))
    return { ready = ready }
  end,
}

step "drain" {
  run = function(p)
    local r = k8s.drain{ node = p.node, timeout = p.timeout, ignore_daemonsets = true,
                         delete_emptydir_data = p.delete_emptydir_data, force = p.force }
    -- In a dry-run r is the plan. An eviction a PodDisruptionBudget refuses now stays refused
    -- while nothing else changes, so the real drain would wait out its timeout and fail: the
    -- dry-run shows that failure instead of a success.
    local refused = r.refused_now or {}
    if #refused > 0 then
      local why = {}
      for _, x in ipairs(refused) do why[#why + 1] = x.pod .. ": " .. x.reason end
      error(string.format("drain of node %s would not finish: %d of %d evictions refused now (%s)",
        p.node, #refused, #refused + #r.evicted, table.concat(why, "; ")), 0)
    end
    return r
  end,
  verify = function(p, s, result)
    log(string.format("node %s drained: %d pods evicted, %d left alone", p.node,
      #result.evicted, #result.skipped))
    return result.unschedulable
  end,
  timeout = "15m",
}
