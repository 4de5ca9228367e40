/* salve's operator page: polls the API with the tokens the operator typed (kept in this
 * closure only, never stored) and builds every cell with textContent: alert and runbook
 * text is never parsed as HTML. */
"use strict";
(function () {
  var base = document.body.dataset.prefix || "";
  var runId = document.body.dataset.run || "";
  var readToken = "", approveToken = "", operator = "";
  var $ = function (id) { return document.getElementById(id); };

  function say(text, error) {
    var m = $("message");
    m.textContent = text;
    m.className = error ? "error" : "";
  }

  function headers(token, json) {
    var h = {};
    if (token) h["Authorization"] = "Bearer " + token;
    if (json) h["Content-Type"] = "application/json";
    return h;
  }

  function getJSON(path) {
    return fetch(base + path, {headers: headers(readToken || approveToken), cache: "no-store"})
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(path + ": " + r.status + " " + (body.error || ""));
          return body;
        });
      });
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function runLink(id) {
    var a = document.createElement("a");
    a.href = base + "/ui/runs/" + encodeURIComponent(id);
    a.textContent = id;
    a.dataset.focus = "run " + id;
    return a;
  }

  /* Polling rebuilds the tables: the link the operator's keyboard is on is found again in
   * the new rows (by its data-focus) and keeps the focus. */
  function replaceRows(tbody, rows) {
    var active = document.activeElement;
    var focus = active && tbody.contains(active) ? active.dataset.focus : null;
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (tr) { tbody.appendChild(tr); });
    if (focus) {
      var again = Array.prototype.filter.call(tbody.querySelectorAll("[data-focus]"),
        function (n) { return n.dataset.focus === focus; })[0];
      if (again) again.focus();
    }
  }

  /* 3725 -> "1h 2m 5s"; whole seconds, largest units first. */
  function duration(seconds) {
    var s = Math.max(0, Math.round(Number(seconds) || 0)), out = [];
    [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]].forEach(function (u) {
      if (s >= u[1]) { out.push(Math.floor(s / u[1]) + u[0]); s %= u[1]; }
    });
    return out.length ? out.join(" ") : "0s";
  }

  function decide(run, decision, button) {
    if (!approveToken) { say("Enter the approve token first.", true); return; }
    if (!operator) { say("Enter your name first: it is audited with the decision.", true); return; }
    button.disabled = true;
    fetch(base + "/runs/" + encodeURIComponent(run.id) + "/" + decision, {
      method: "POST", headers: headers(approveToken, true), cache: "no-store",
      body: JSON.stringify({by: operator, step: run.awaiting_step})
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(decision + " " + run.id + ": " + r.status + " " + (body.error || ""));
        say((decision === "approve" ? "Approved " : "Denied ") + run.awaiting_step + " of run " + run.id + " as " + operator + ".");
      });
    }).catch(function (e) { say(e.message, true); button.disabled = false; }).then(refresh);
  }

  function approvalRow(run) {
    var tr = document.createElement("tr");
    cell(tr, "").appendChild(runLink(run.id));
    cell(tr, run.route);
    cell(tr, run.runbook);
    cell(tr, run.awaiting_step);
    var td = cell(tr, "");
    [["approve", "Approve"], ["deny", "Deny"]].forEach(function (d) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = d[0];
      b.textContent = d[1];
      b.setAttribute("aria-label", d[1] + " step " + run.awaiting_step + " of run " + run.id);
      b.dataset.run = run.id;
      b.dataset.decision = d[0];
      b.addEventListener("click", function () { decide(run, d[0], b); });
      td.appendChild(b);
      td.appendChild(document.createTextNode(" "));
    });
    return tr;
  }

  function showRuns(body) {
    var runs = body.runs || [];
    replaceRows($("runs"), runs.map(function (run) {
      var tr = document.createElement("tr");
      tr.dataset.run = run.id;
      cell(tr, "").appendChild(runLink(run.id));
      cell(tr, run.route);
      cell(tr, run.runbook);
      cell(tr, run.state + (run.dry_run ? " (dry-run)" : ""), "state-" + run.state);
      cell(tr, run.outcome);
      cell(tr, run.created_at);
      cell(tr, run.ended_at);
      return tr;
    }));
    var waiting = runs.filter(function (r) { return r.state === "awaiting_approval"; });
    /* Rebuilding the queue under the operator's focus would lose it: only when it changed. */
    var key = waiting.map(function (r) { return r.id + "/" + r.awaiting_step; }).join(",");
    if ($("approvals").dataset.key !== key) {
      $("approvals").dataset.key = key;
      replaceRows($("approvals"), waiting.map(approvalRow));
    }
    $("approvals-empty").hidden = waiting.length > 0;
    $("paused-state").textContent = body.paused ? "Paused: alerts are refused (audited)." : "Running: alerts start runs.";
    $("summary").textContent = (body.paused ? "PAUSED. " : "") + body.active + " active, " + body.queued +
      " queued, " + body.awaiting_approval + " awaiting approval.";
  }

  /* Cells of the guardrail table carry their column's name for the narrow layout, where
   * each route is a card and the header row is hidden. */
  function labelled(tr, label, text, cls) {
    var td = cell(tr, text, cls);
    td.dataset.label = label;
    return td;
  }

  /* The keys cooling down, one item per run (a run cools its alert and its target): what
   * it was for and how long until the same alert or target may start a run again. */
  function coolingCell(td, cd) {
    if (!cd || !cd.cooling) { td.textContent = "none"; return; }
    td.appendChild(document.createTextNode(cd.cooling + (cd.cooling === 1 ? " key" : " keys") +
      (cd.soonest.length < cd.cooling ? "; the soonest to expire:" : ":")));
    var runs = [], byRun = {};
    cd.soonest.forEach(function (k) {
      var r = byRun[k.run];
      if (!r) { r = byRun[k.run] = {run: k.run, left: k.seconds_left, what: []}; runs.push(r); }
      r.left = Math.min(r.left, k.seconds_left);
      var what = k.kind === "alert" ? "alert " + (k.fingerprint || "") : "target " + (k.target || "(run no longer listed)");
      if (k.resolved) what += " (resolved)";
      r.what.push(what);
    });
    var ul = document.createElement("ul");
    ul.className = "cooling";
    runs.forEach(function (r) {
      var li = document.createElement("li");
      li.dataset.run = r.run;
      li.appendChild(document.createTextNode(r.what.join(", ") + ": run "));
      li.appendChild(runLink(r.run));
      li.appendChild(document.createTextNode(", " + duration(r.left) + " left"));
      ul.appendChild(li);
    });
    td.appendChild(ul);
  }

  function rateText(rl) {
    if (!rl || !rl.limit) return "no limit";
    return rl.used + " of " + rl.limit + " runs per " + duration(rl.window_seconds) +
      (rl.next_in_seconds !== undefined ? "; full, next in " + duration(rl.next_in_seconds) : "");
  }

  function blastText(br) {
    if (!br || !br.max_targets) return "no limit";
    return br.targets + " of " + br.max_targets + " targets per " + duration(br.window_seconds);
  }

  function full(used, limit) { return limit > 0 && used >= limit ? "open" : ""; }

  function showRoutes(body) {
    replaceRows($("routes"), (body.routes || []).map(function (rt) {
      var tr = document.createElement("tr");
      tr.dataset.route = rt.name;
      labelled(tr, "Route", rt.name, "name");
      labelled(tr, "Runbook", rt.runbook + (rt.dry_run ? " (dry-run)" : ""));
      labelled(tr, "Active", rt.active, "num");
      labelled(tr, "Queued", rt.queued, "num");
      labelled(tr, "Failures in a row", rt.consecutive_failures, "num");
      labelled(tr, "Circuit", rt.circuit_open ? "open: " + (rt.circuit_reason || "") : "closed", rt.circuit_open ? "open" : "");
      var cd = rt.cooldown || {};
      labelled(tr, "Cooldown", cd.seconds ? duration(cd.seconds) : "none");
      coolingCell(labelled(tr, "Cooling down", ""), cd);
      var rl = rt.rate_limit || {}, br = rt.blast_radius || {};
      labelled(tr, "Rate limit", rateText(rl), full(rl.used, rl.limit));
      labelled(tr, "Blast radius", blastText(br), full(br.targets, br.max_targets));
      return tr;
    }));
    var g = body.blast_radius || {};
    $("blast-global").textContent = "Across all routes (server.max_targets): " + blastText(g) + ".";
    $("blast-global").className = full(g.targets, g.max_targets);
  }

  var timelineShown = false;
  function loadTimeline() {
    fetch(base + "/ui/runs/" + encodeURIComponent(runId) + "/timeline",
          {headers: headers(readToken || approveToken), cache: "no-store"})
      .then(function (r) {
        return r.text().then(function (text) {
          if (!r.ok) throw new Error("timeline: " + r.status);
          /* salve report's HTML, escaped by its renderer; parsed inert (no script runs in a
           * parsed document) and scripts dropped anyway before it joins the page. */
          /* Its style sheet stays out (this page's own applies): parsing it would only
           * trip the page's style-src. */
          text = text.replace(/<style[^>]*>[^<]*<\/style>/gi, "");
          var doc = new DOMParser().parseFromString(text, "text/html");
          doc.querySelectorAll("script,style,link,meta,iframe,object,embed").forEach(function (n) { n.remove(); });
          var box = $("timeline");
          while (box.firstChild) box.removeChild(box.firstChild);
          Array.prototype.forEach.call(doc.body.childNodes, function (n) {
            box.appendChild(document.importNode(n, true));
          });
          timelineShown = true;
        });
      }).catch(function (e) { say(e.message, true); });
  }

  function refresh() {
    return Promise.all([getJSON("/runs?limit=100"), getJSON("/routes")]).then(function (b) {
      showRuns(b[0]);
      showRoutes(b[1]);
      if (runId && !timelineShown) loadTimeline();
    }).catch(function (e) {
      $("summary").textContent = "Not connected: " + e.message;
    });
  }

  function control(path) {
    if (!approveToken) { say("Enter the approve token first.", true); return; }
    if (!operator) { say("Enter your name first: it is audited.", true); return; }
    fetch(base + path, {method: "POST", headers: headers(approveToken, true), cache: "no-store",
                        body: JSON.stringify({by: operator, reason: $("pause-reason").value})})
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(path + ": " + r.status + " " + (body.error || ""));
          say((path === "/pause" ? "Paused" : "Resumed") + " as " + operator + ".");
        });
      }).catch(function (e) { say(e.message, true); }).then(refresh);
  }

  $("access").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if ($("read-token").value) readToken = $("read-token").value;
    if ($("approve-token").value) approveToken = $("approve-token").value;
    operator = $("operator").value.trim();
    $("read-token").value = "";
    $("approve-token").value = "";
    say("Tokens kept in memory" + (operator ? " for " + operator : "") + ".");
    refresh();
  });
  $("pause").addEventListener("click", function () { control("/pause"); });
  $("resume").addEventListener("click", function () { control("/resume"); });
  if (runId) {
    $("run-view").hidden = false;
    $("run-id").textContent = runId;
  }
  /* Nothing is fetched before the operator says which tokens to use (none on a loopback
   * server without tokens: the form submitted empty). */
  var polling = null;
  $("access").addEventListener("submit", function () {
    if (!polling) polling = setInterval(refresh, 2000);
  });
})();
