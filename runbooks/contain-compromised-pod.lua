-- contain-compromised-pod: a pod is believed compromised (a runtime-security alert: a shell in
-- a container, a cryptominer, unexpected egress). In the order incident response asks for:
-- keep the evidence first (pod object, current and previous logs, events, owners, node
-- conditions, with SHA-256 digests in the audit log), take the pod out of its Services and
-- ReplicaSet (it keeps running for forensics, a replacement takes its traffic), cut its
-- network with a deny-all NetworkPolicy (DNS still allowed), and tell the security team.
-- If a later step fails, the engine puts the pod's labels back and deletes the policy; the
-- evidence stays.
runbook {
  name = "contain-compromised-pod",
  description = "Keep evidence of a compromised pod, take it out of traffic, cut its network, notify",
  params = {
    namespace = { type = "string", required = true, description = "the pod's namespace" },
    pod = { type = "string", required = true, description = "the compromised pod" },
    evidence_dir = { type = "string", required = true,
                     description = "new or empty directory (absolute path) for the evidence" },
    reason = { type = "string", default = "compromised pod", description = "why, recorded on the objects" },
    scope = { type = "string", default = "pod",
              description = "isolate the quarantined pods (pod) or the whole namespace (namespace)" },
    allow_from = { type = "string", default = "",
                   description = "a namespace whose pods may still connect in (forensics tools)" },
    notify_to = { type = "string", default = "webhook:security", description = "a notify target" },
  },
  lock = "k8s/{namespace}/{pod}",
}

local k8s = plugin "kubernetes"
local notify = plugin "notify"

step "evidence" {
  run = function(p)
    local e = k8s.evidence{ namespace = p.namespace, pod = p.pod, dir = p.evidence_dir }
    log(string.format("evidence of %s/%s: %d files in %s, manifest sha256 %s", p.namespace, p.pod,
      #e.files, e.dir, e.manifest_sha256))
    return e
  end,
}

step "quarantine" {
  run = function(p)
    return k8s.quarantine_pod{ namespace = p.namespace, pod = p.pod, reason = p.reason }
  end,
}

step "isolate" {
  run = function(p)
    if p.scope ~= "pod" and p.scope ~= "namespace" then
      error("scope must be pod or namespace, not " .. p.scope, 0)
    end
    local args = { namespace = p.namespace, reason = p.reason }
    -- quarantine_pod labels the pod salve/quarantined=true: the policy selects exactly that
    if p.scope == "pod" then args.selector = "salve/quarantined=true" end
    if p.allow_from ~= "" then args.allow_from = p.allow_from end
    return k8s.isolate(args)
  end,
}

step "notify" {
  run = function(p, s)
    local what = p.scope == "pod" and ("pod " .. p.pod) or ("namespace " .. p.namespace)
    return notify.send{
      to = p.notify_to,
      summary = string.format("contained %s/%s: %s", p.namespace, p.pod, p.reason),
      text = string.format("Pod %s/%s is quarantined (out of its Services and ReplicaSet) and %s "
        .. "is isolated by NetworkPolicy %s. Evidence: %s (manifest sha256 %s).", p.namespace,
        p.pod, what, s.isolate.name, s.evidence.dir, s.evidence.manifest_sha256),
    }
  end,
}
