-- rollback-bad-deploy: a Deployment's rollout broke (KubeDeploymentRolloutStuck,
-- KubeDeploymentReplicasMismatch, or a bad-release alert): roll it back to the previous
-- revision (or to_revision) the way `kubectl rollout undo` does, then wait until it is healthy.
-- Alert labels fill namespace and deployment. If the rollback does not become healthy the
-- engine undoes it, which returns the Deployment to the template it had.
runbook {
  name = "rollback-bad-deploy",
  description = "Roll a Deployment back to its previous revision and wait until it is healthy",
  params = {
    namespace = { type = "string", required = true, description = "the Deployment's namespace" },
    deployment = { type = "string", required = true, description = "the Deployment's name" },
    to_revision = { type = "int", default = 0, description = "revision to return to (0: the previous one)" },
    only_if_unhealthy = { type = "bool", default = true,
                          description = "skip the rollback when the rollout is healthy" },
    timeout = { type = "string", default = "5m", description = "how long the rollback may take to become healthy" },
  },
  lock = "k8s/{namespace}/{deployment}",
}

local k8s = plugin "kubernetes"

step "inspect" {
  run = function(p)
    local st = k8s.rollout_status{ namespace = p.namespace, name = p.deployment }
    log(string.format("%s/%s at revision %d: %s (%d updated, %d ready, %d available of %d)",
      p.namespace, p.deployment, st.revision, st.message, st.updated, st.ready, st.available,
      st.desired))
    local ev = k8s.events{ namespace = p.namespace, name = p.deployment }
    for i = math.max(1, ev.count - 4), ev.count do
      local e = ev.events[i]
      log(string.format("event %s %s: %s", e.type or "", e.reason or "", e.message or ""))
    end
    return st
  end,
}

step "rollback" {
  check = function(p, s)
    return p.only_if_unhealthy and s.inspect.healthy
  end,
  run = function(p)
    return k8s.rollout_undo{ namespace = p.namespace, name = p.deployment, to_revision = p.to_revision }
  end,
  verify = function(p)
    return k8s.rollout_wait{ namespace = p.namespace, name = p.deployment, timeout = p.timeout }.healthy
  end,
  timeout = "15m",
}
