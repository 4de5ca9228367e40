#!/usr/bin/env python3
"""A fake Kubernetes API server for salve's kubernetes and scale plugin tests.

No real API server can run on the test machines, so this stands in for one. It speaks the
real API conventions (paths, query parameters, Status bodies, status codes, content types,
resourceVersion/generation semantics, watch streams) for the resources the plugins use, and
runs small controllers (deployment, replica set, stateful set, daemon set, HPA min/max clamp,
PDB, scheduler, kubelet) so objects end up as a real cluster leaves them. Python 3 standard
library only; certificates are made with the openssl CLI. See README.md beside this file.
"""

import argparse
import base64
import collections
import contextlib
import copy
import datetime
import hashlib
import http.client
import http.server
import io
import ipaddress
import json
import math
import os
import random
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

# ---------------------------------------------------------------------------------------------
# Versions

SERVER_VERSIONS = {
    "1.20": {"major": "1", "minor": "20", "gitVersion": "v1.20.15",
             "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
             "buildDate": "2022-01-19T17:23:01Z", "goVersion": "go1.15.15", "compiler": "gc",
             "platform": "linux/amd64"},
    "1.29": {"major": "1", "minor": "29", "gitVersion": "v1.29.4",
             "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
             "buildDate": "2024-04-16T15:03:34Z", "goVersion": "go1.21.9", "compiler": "gc",
             "platform": "linux/amd64"},
}


def group_versions(server_version):
    """(group, [versions, preferred first]) served besides the core group, in /apis order."""
    if server_version == "1.20":
        return [("apps", ["v1"]), ("autoscaling", ["v1", "v2beta2"]), ("networking.k8s.io", ["v1"]),
                ("policy", ["v1beta1"])]
    return [("apps", ["v1"]), ("autoscaling", ["v2", "v1"]), ("networking.k8s.io", ["v1"]), ("policy", ["v1"])]


# ---------------------------------------------------------------------------------------------
# Small helpers

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand
MISSING = object()
# Seconds from an API write to its controllers' run (unless another API request is answered
# first): the real controllers act on the write's watch event a moment after it was answered.
CONTROLLER_DELAY = 0.02


def now_ts(t=None):
    t = time.time() if t is None else t
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(s):
    try:
        return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return 0.0


def rand_suffix(n=5):
    return "".join(random.choice(ALPHANUMS) for _ in range(n))


def fnv32a(data):
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(s):
    return "".join(ALPHANUMS[ord(c) % len(ALPHANUMS)] for c in s)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def deep(obj):
    return copy.deepcopy(obj)


def md(obj):
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = {}
        obj["metadata"] = m
    return m


def name_of(obj):
    return (obj.get("metadata") or {}).get("name", "")


def ns_of(obj):
    return (obj.get("metadata") or {}).get("namespace", "")


def uid_of(obj):
    return (obj.get("metadata") or {}).get("uid", "")


def labels_of(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


def annotations_of(obj):
    return (obj.get("metadata") or {}).get("annotations") or {}


def controller_ref(obj):
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def is_int(v):
    return type(v) is int  # bool is not an int here


def strip_none(v):
    """Drops null values and empty maps/lists recursively (Go omitempty round trips)."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            x = strip_none(x)
            if x is None or x == {} or x == []:
                continue
            out[k] = x
        return out
    if isinstance(v, list):
        return [strip_none(x) for x in v]
    return v


def int_or_percent(val, total, round_up):
    if val is None:
        return 0
    if is_int(val):
        return val
    s = str(val)
    if s.endswith("%"):
        try:
            pct = int(s[:-1])
        except ValueError:
            return 0
        v = pct * total / 100.0
        return int(math.ceil(v)) if round_up else int(math.floor(v))
    try:
        return int(s)
    except ValueError:
        return 0


class GoRepr(str):
    """A value already formatted the way Go prints it."""


def gofmt(value):
    """A value as Go's field errors print it."""
    if isinstance(value, GoRepr):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        inner = ", ".join("%s:%s" % (json.dumps(k), json.dumps(value[k])) for k in sorted(value))
        return "map[string]string{%s}" % inner
    return dumps(value)


# ---------------------------------------------------------------------------------------------
# Status errors


def qualified(group, resource):
    return "%s.%s" % (resource, group) if group else resource


def status_details(name=None, group=None, kind=None, uid=None, causes=None, retry=None):
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    if kind:
        d["kind"] = kind
    if uid:
        d["uid"] = uid
    if causes:
        d["causes"] = causes
    if retry:
        d["retryAfterSeconds"] = retry
    return d


class ApiError(Exception):
    """An error the API answers with a v1 Status body."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        if self.message:
            st["message"] = self.message
        if self.reason:
            st["reason"] = self.reason
        if self.details is not None:
            st["details"] = self.details
        st["code"] = self.code
        return st


def err_not_found(group, resource, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (qualified(group, resource), name),
                    status_details(name, group, resource))


def err_generic_not_found():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def err_already_exists(group, resource, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(group, resource), name),
                    status_details(name, group, resource))


def err_conflict(group, resource, name,
                 msg="the object has been modified; please apply your changes to the latest version and try again"):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (qualified(group, resource), name, msg), status_details(name, group, resource))


def err_bad_request(msg):
    return ApiError(400, "BadRequest", msg)


def err_method_not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def err_unsupported_media(accepts):
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: "
                    + ", ".join(accepts))


def err_unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def err_forbidden(group, resource, name, msg):
    return ApiError(403, "Forbidden", '%s "%s" is forbidden: %s' % (qualified(group, resource), name, msg),
                    status_details(name, group, resource))


def err_internal(msg):
    return ApiError(500, "InternalError", "Internal error occurred: %s" % msg,
                    status_details(causes=[{"message": msg}]))


class FieldError:
    REASONS = {"Invalid": "FieldValueInvalid", "Required": "FieldValueRequired",
               "Forbidden": "FieldValueForbidden", "NotSupported": "FieldValueNotSupported",
               "Duplicate": "FieldValueDuplicate", "TooLong": "FieldValueTooLong"}

    def __init__(self, etype, field, value=MISSING, detail="", supported=None):
        self.etype = etype
        self.field = field
        self.value = value
        self.detail = detail
        self.supported = supported or []

    def body(self):
        if self.etype == "Invalid":
            s = "Invalid value: %s" % gofmt(None if self.value is MISSING else self.value)
            return s + (": " + self.detail if self.detail else "")
        if self.etype == "Required":
            return "Required value" + (": " + self.detail if self.detail else "")
        if self.etype == "Forbidden":
            return "Forbidden" + (": " + self.detail if self.detail else "")
        if self.etype == "NotSupported":
            s = "Unsupported value: %s" % gofmt(self.value)
            if self.supported:
                s += ": supported values: " + ", ".join(json.dumps(x) for x in self.supported)
            return s
        if self.etype == "Duplicate":
            return "Duplicate value: %s" % gofmt(self.value)
        if self.etype == "TooLong":
            return "Too long: " + self.detail
        return self.detail

    def __str__(self):
        return "%s: %s" % (self.field, self.body()) if self.field else self.body()


def err_invalid(group, kind, name, errs):
    gk = "%s.%s" % (kind, group) if group else kind
    if len(errs) == 1:
        agg = str(errs[0])
    else:
        agg = "[" + ", ".join(str(e) for e in errs) + "]"
    causes = []
    for e in errs:
        c = {"reason": FieldError.REASONS.get(e.etype, "FieldValueInvalid"), "message": e.body()}
        if e.field:
            c["field"] = e.field
        causes.append(c)
    details = status_details(name, group, kind, causes=causes)
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (gk, name, agg), details)


# ---------------------------------------------------------------------------------------------
# Names, labels and selectors

SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
QUALIFIED_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                      "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                      "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


def validate_label_key(key):
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not SUBDOMAIN_RE.match(prefix)):
        return "prefix part " + SUBDOMAIN_MSG
    if not name or len(name) > 63 or not QUALIFIED_NAME_RE.match(name):
        return QUALIFIED_NAME_MSG
    return None


def validate_labels(labels, field):
    errs = []
    if not isinstance(labels, dict):
        return errs
    for k in sorted(labels):
        v = labels[k]
        msg = validate_label_key(k)
        if msg:
            errs.append(FieldError("Invalid", field, k, msg))
        if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE_RE.match(v):
            errs.append(FieldError("Invalid", field, v, LABEL_VALUE_MSG))
    return errs


def validate_name(name, field, label=False):
    if label:
        if len(name) > 63:
            return [FieldError("Invalid", field, name, "must be no more than 63 characters")]
        if not LABEL_RE.match(name):
            return [FieldError("Invalid", field, name, LABEL_MSG)]
        return []
    errs = []
    if len(name) > 253:
        errs.append(FieldError("Invalid", field, name, "must be no more than 253 characters"))
    if not SUBDOMAIN_RE.match(name):
        errs.append(FieldError("Invalid", field, name, SUBDOMAIN_MSG))
    return errs


class SelectorError(Exception):
    pass


def _split_top(s):
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_label_selector(s):
    """labelSelector query syntax -> [(key, op, [values])]."""
    reqs = []
    s = (s or "").strip()
    if not s:
        return reqs
    for part in _split_top(s):
        p = part.strip()
        if not p:
            raise SelectorError("found ',', expected: !, identifier, or 'end of string'")
        m = re.match(r"^(\S+)\s+(in|notin)\s*\((.*)\)$", p)
        if m:
            key, op = m.group(1), m.group(2)
            vals = [v.strip() for v in m.group(3).split(",")]
            vals = [v for v in vals if v != ""] if m.group(3).strip() else []
        elif p.startswith("!"):
            key, op, vals = p[1:].strip(), "!", []
        elif "!=" in p:
            key, v = p.split("!=", 1)
            key, op, vals = key.strip(), "!=", [v.strip()]
        elif "==" in p:
            key, v = p.split("==", 1)
            key, op, vals = key.strip(), "=", [v.strip()]
        elif "=" in p:
            key, v = p.split("=", 1)
            key, op, vals = key.strip(), "=", [v.strip()]
        elif ">" in p or "<" in p:
            op = "gt" if ">" in p else "lt"
            key, v = p.split(">" if op == "gt" else "<", 1)
            key = key.strip()
            try:
                vals = [str(int(v.strip()))]
            except ValueError:
                raise SelectorError("for 'Gt', 'Lt' operators, the value must be an integer")
        else:
            if re.search(r"\s", p):
                raise SelectorError("found '%s', expected: ',' or 'end of string'" % p.split()[-1])
            key, op, vals = p, "exists", []
        msg = validate_label_key(key) if key else "name part must be non-empty"
        if msg:
            raise SelectorError("key: Invalid value: %s: %s" % (json.dumps(key), msg))
        for v in vals:
            if op in ("=", "!=", "in", "notin") and (len(v) > 63 or not LABEL_VALUE_RE.match(v)):
                raise SelectorError("values[0][%s]: Invalid value: %s: %s" % (key, json.dumps(v), LABEL_VALUE_MSG))
        if op in ("in", "notin") and not vals:
            raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
        reqs.append((key, op, vals))
    return reqs


def match_label_reqs(reqs, labels):
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=" and not (has and v == vals[0]):
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and not (has and v in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
        if op in ("gt", "lt"):
            try:
                n = int(v)
            except (TypeError, ValueError):
                return False
            if op == "gt" and not n > int(vals[0]):
                return False
            if op == "lt" and not n < int(vals[0]):
                return False
    return True


def selector_matches(sel, labels):
    """metav1.LabelSelector against labels. None matches nothing; {} matches everything."""
    if sel is None:
        return False
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def selector_empty(sel):
    return sel is None or (not sel.get("matchLabels") and not sel.get("matchExpressions"))


def selector_string(sel):
    """metav1.LabelSelectorAsSelector(sel).String()."""
    if sel is None:
        return ""
    reqs = []
    for k, v in (sel.get("matchLabels") or {}).items():
        reqs.append((k, "%s=%s" % (k, v)))
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), sorted(e.get("values") or [])
        if op == "In":
            reqs.append((k, "%s in (%s)" % (k, ",".join(vals))))
        elif op == "NotIn":
            reqs.append((k, "%s notin (%s)" % (k, ",".join(vals))))
        elif op == "Exists":
            reqs.append((k, k))
        elif op == "DoesNotExist":
            reqs.append((k, "!" + k))
    reqs.sort(key=lambda r: r[0])
    return ",".join(r[1] for r in reqs)


def selector_gofmt(sel):
    ml = (sel or {}).get("matchLabels")
    me = (sel or {}).get("matchExpressions")
    mls = gofmt(ml) if ml else "map[string]string(nil)"
    mes = dumps(me) if me else "[]v1.LabelSelectorRequirement(nil)"
    return "v1.LabelSelector{MatchLabels:%s, MatchExpressions:%s}" % (mls, mes)


def parse_field_selector(s):
    reqs = []
    s = (s or "").strip()
    if not s:
        return reqs
    for part in s.split(","):
        p = part.strip()
        if "!=" in p:
            k, v = p.split("!=", 1)
            reqs.append((k.strip(), "!=", v.strip()))
        elif "==" in p:
            k, v = p.split("==", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif "=" in p:
            k, v = p.split("=", 1)
            reqs.append((k.strip(), "=", v.strip()))
        else:
            raise SelectorError("invalid selector: '%s'; can't understand '%s'" % (s, p))
    return reqs


def _dig(obj, path, default=""):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return default
        cur = cur.get(p)
    if cur is None:
        return default
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


# ---------------------------------------------------------------------------------------------
# Patches


class PatchError(Exception):
    """A patch that cannot be applied (422 for JSON patch, 400 for the others)."""


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return deep(patch)
    result = deep(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


SMP_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "hostAliases": "ip", "conditions": "type", "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey", "resourceClaims": "name", "ports": None,
}
SMP_PRIMITIVE_MERGE = {"finalizers"}
_DELETE = object()


def _smp_clean(v):
    """Strips $patch directives from a value added as is."""
    if isinstance(v, dict):
        return {k: _smp_clean(x) for k, x in v.items() if not k.startswith("$")}
    if isinstance(v, list):
        return [_smp_clean(x) for x in v if not (isinstance(x, dict) and x.get("$patch") == "delete")]
    return v


def _smp_list(key, cur, patch):
    cur = deep(cur) if isinstance(cur, list) else []
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [_smp_clean(x) for x in patch if not (isinstance(x, dict) and x.get("$patch") == "replace")]
    mk = SMP_MERGE_KEYS[key]
    if mk is None:  # ports: containerPort in containers, port elsewhere
        mk = "containerPort" if any(isinstance(x, dict) and "containerPort" in x for x in patch + cur) else "port"
    if not all(isinstance(x, dict) for x in patch):
        return [_smp_clean(x) for x in patch]
    for item in patch:
        if mk not in item:
            raise PatchError("map: %s does not contain declared merge key: %s" % (gofmt(item), mk))
        idx = next((i for i, c in enumerate(cur) if isinstance(c, dict) and c.get(mk) == item[mk]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del cur[idx]
            continue
        if idx is None:
            cur.append(_smp_clean(item))
        else:
            cur[idx] = strategic_merge_patch(cur[idx], item)
    return cur


def strategic_merge_patch(target, patch):
    """Strategic merge patch: a merge patch whose known lists merge by key."""
    if not isinstance(patch, dict):
        return _smp_clean(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _smp_clean(patch)
    if directive == "delete":
        return _DELETE
    result = deep(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    orders = {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [x for x in result[field] if x not in (v or [])]
            continue
        if k.startswith("$"):
            continue
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            sub = strategic_merge_patch(result.get(k), v)
            if sub is _DELETE:
                result.pop(k, None)
            else:
                result[k] = sub
        elif isinstance(v, list) and k in SMP_MERGE_KEYS:
            result[k] = _smp_list(k, result.get(k), v)
        elif isinstance(v, list) and k in SMP_PRIMITIVE_MERGE:
            merged = list(result.get(k) or [])
            for x in v:
                if x not in merged:
                    merged.append(x)
            result[k] = merged
        else:
            result[k] = _smp_clean(v)
    for field, order in orders.items():
        if isinstance(result.get(field), list) and isinstance(order, list) and field in SMP_MERGE_KEYS:
            mk = SMP_MERGE_KEYS[field] or "containerPort"
            pos = {canonical(o.get(mk)) if isinstance(o, dict) else canonical(o): i for i, o in enumerate(order)}
            result[field].sort(key=lambda x: pos.get(canonical(x.get(mk)) if isinstance(x, dict) else canonical(x),
                                                     len(pos)))
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("JSON pointer must be empty or start with a \"/\": %s" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc, parts, op, path, create=False):
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise PatchError("%s operation does not apply: doc is missing path: \"%s\": missing value" % (op, path))
    return cur


def json_patch(doc, ops):
    """RFC 6902 JSON patch."""
    if not isinstance(ops, list):
        raise ValueError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = deep(doc)

    def get(path):
        parts = _pointer(path)
        cur = doc
        for p in parts:
            if isinstance(cur, dict) and p in cur:
                cur = cur[p]
            elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
                cur = cur[int(p)]
            else:
                return MISSING
        return cur

    def add(path, value, opname):
        nonlocal doc
        parts = _pointer(path)
        if not parts:
            doc = deep(value)
            return
        parent = _container(doc, parts, opname, path)
        last = parts[-1]
        if isinstance(parent, dict):
            parent[last] = deep(value)
        elif isinstance(parent, list):
            if last == "-":
                parent.append(deep(value))
            elif last.isdigit() and int(last) <= len(parent):
                parent.insert(int(last), deep(value))
            else:
                raise PatchError("%s operation does not apply: doc is missing path: \"%s\": missing value" % (opname, path))
        else:
            raise PatchError("%s operation does not apply: doc is missing path: \"%s\": missing value" % (opname, path))

    def remove(path, opname):
        parts = _pointer(path)
        parent = _container(doc, parts, opname, path)
        last = parts[-1] if parts else ""
        if isinstance(parent, dict) and last in parent:
            return parent.pop(last)
        if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
            return parent.pop(int(last))
        raise PatchError("%s operation does not apply: doc is missing key: %s: missing value" % (opname, path))

    for op in ops:
        if not isinstance(op, dict):
            raise ValueError("json: cannot unmarshal %s into Go value of type jsonpatch.Operation" % type(op).__name__)
        kind = op.get("op")
        path = op.get("path")
        if not isinstance(path, str):
            raise PatchError("%s operation does not apply: doc is missing path: \"\": missing value" % kind)
        if kind == "add":
            if "value" not in op:
                raise PatchError("add operation does not apply: doc is missing value: missing value")
            add(path, op["value"], "add")
        elif kind == "remove":
            remove(path, "remove")
        elif kind == "replace":
            if "value" not in op:
                raise PatchError("replace operation does not apply: doc is missing value: missing value")
            parts = _pointer(path)
            if not parts:
                doc = deep(op["value"])
                continue
            parent = _container(doc, parts, "replace", path)
            last = parts[-1]
            if isinstance(parent, dict) and last in parent:
                parent[last] = deep(op["value"])
            elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
                parent[int(last)] = deep(op["value"])
            else:
                raise PatchError("replace operation does not apply: doc is missing key: %s: missing value" % path)
        elif kind in ("move", "copy"):
            frm = op.get("from")
            if not isinstance(frm, str):
                raise PatchError("%s operation does not apply: doc is missing from path: missing value" % kind)
            val = get(frm)
            if val is MISSING:
                raise PatchError("%s operation does not apply: doc is missing from path: %s: missing value" % (kind, frm))
            if kind == "move":
                remove(frm, "move")
            add(path, val, kind)
        elif kind == "test":
            val = get(path)
            if val is MISSING or canonical(val) != canonical(op.get("value")):
                raise PatchError("testing value %s failed: test failed" % path)
        else:
            raise PatchError("Unexpected kind: %s" % kind)
    return doc


# ---------------------------------------------------------------------------------------------
# Resource types

POD_FIELDS = ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
              "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"]
EVENT_FIELDS = ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                "reason", "reportingComponent", "source", "type"]


class ResourceType:
    def __init__(self, plural, kind, group, namespaced, short, categories, subresources, has_status,
                 has_generation, field_labels, storage_version, verbs=None):
        self.plural = plural
        self.singular = kind.lower()
        self.kind = kind
        self.group = group
        self.namespaced = namespaced
        self.short = short
        self.categories = categories
        self.subresources = subresources
        self.has_status = has_status
        self.has_generation = has_generation
        self.field_labels = ["metadata.name", "metadata.namespace"] + field_labels
        self.storage_version = storage_version
        self.verbs = verbs or ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    @property
    def storage_api_version(self):
        return "%s/%s" % (self.group, self.storage_version) if self.group else self.storage_version

    def api_version(self, version):
        return "%s/%s" % (self.group, version) if self.group else version


RESOURCE_TYPES = [
    ResourceType("events", "Event", "", True, ["ev"], [], [], False, False, EVENT_FIELDS, "v1"),
    ResourceType("namespaces", "Namespace", "", False, ["ns"], [], ["status"], True, False, ["status.phase"], "v1",
                 verbs=["create", "delete", "get", "list", "patch", "update", "watch"]),
    ResourceType("nodes", "Node", "", False, ["no"], [], ["status"], True, False, ["spec.unschedulable"], "v1"),
    ResourceType("pods", "Pod", "", True, ["po"], ["all"], ["eviction", "log", "status"], True, False,
                 POD_FIELDS, "v1"),
    ResourceType("daemonsets", "DaemonSet", "apps", True, ["ds"], ["all"], ["status"], True, True, [], "v1"),
    ResourceType("deployments", "Deployment", "apps", True, ["deploy"], ["all"], ["scale", "status"], True, True,
                 [], "v1"),
    ResourceType("replicasets", "ReplicaSet", "apps", True, ["rs"], ["all"], ["scale", "status"], True, True,
                 ["status.replicas"], "v1"),
    ResourceType("statefulsets", "StatefulSet", "apps", True, ["sts"], ["all"], ["scale", "status"], True, True,
                 [], "v1"),
    ResourceType("horizontalpodautoscalers", "HorizontalPodAutoscaler", "autoscaling", True, ["hpa"], ["all"],
                 ["status"], True, True, [], "v2"),
    ResourceType("poddisruptionbudgets", "PodDisruptionBudget", "policy", True, ["pdb"], [], ["status"], True, True,
                 [], "v1"),
    ResourceType("networkpolicies", "NetworkPolicy", "networking.k8s.io", True, ["netpol"], [], [], False, True,
                 [], "v1"),
]
RT_BY_PLURAL = {rt.plural: rt for rt in RESOURCE_TYPES}


def request_attributes(method, path, params):
    """(verb, group, resource, subresource, namespace, name) of a resource request, as the
    apiserver's RequestInfoFactory finds them; None for other paths."""
    segs = [urllib.parse.unquote(x) for x in path.split("/") if x]
    if len(segs) >= 3 and segs[0] == "api":
        group, rest = "", segs[2:]
    elif len(segs) >= 4 and segs[0] == "apis":
        group, rest = segs[1], segs[3:]
    else:
        return None
    watch = False
    if rest and rest[0] == "watch":
        watch, rest = True, rest[1:]
    ns = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        ns, rest = rest[1], rest[2:]
    elif len(rest) == 2 and rest[0] == "namespaces":
        ns = rest[1]
    if not rest:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if (params.get("watch") or [""])[-1] in ("true", "1"):
        watch = True
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method)
    if verb is None:
        if method in ("GET", "HEAD"):
            verb = "watch" if watch else ("get" if name else "list")
        elif method == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            verb = method.lower()
    return verb, group, resource, sub, ns, name
RT_BY_KIND = {rt.kind: rt for rt in RESOURCE_TYPES}
SUBRESOURCE_VERBS = {"scale": ["get", "patch", "update"], "status": ["get", "patch", "update"],
                     "log": ["get"], "eviction": ["create"]}
WORKLOADS = ("deployments", "replicasets", "statefulsets", "daemonsets")

# Fields whose JSON type is checked the way Go's decoder would (path, python type, Go type).
TYPE_CHECKS = {
    "*": [("metadata", dict, "v1.ObjectMeta"), ("metadata.name", str, "string"),
          ("metadata.namespace", str, "string"), ("metadata.labels", dict, "map[string]string"),
          ("metadata.annotations", dict, "map[string]string"), ("metadata.resourceVersion", str, "string"),
          ("spec", dict, "Spec"), ("status", dict, "Status")],
    "deployments": [("spec.replicas", int, "int32"), ("spec.paused", bool, "bool"),
                    ("spec.minReadySeconds", int, "int32"), ("spec.progressDeadlineSeconds", int, "int32"),
                    ("spec.revisionHistoryLimit", int, "int32"), ("spec.template", dict, "v1.PodTemplateSpec"),
                    ("spec.template.spec.containers", list, "[]v1.Container"), ("spec.selector", dict, "v1.LabelSelector")],
    "replicasets": [("spec.replicas", int, "int32"), ("spec.template", dict, "v1.PodTemplateSpec"),
                    ("spec.template.spec.containers", list, "[]v1.Container")],
    "statefulsets": [("spec.replicas", int, "int32"), ("spec.template", dict, "v1.PodTemplateSpec"),
                     ("spec.template.spec.containers", list, "[]v1.Container")],
    "daemonsets": [("spec.template", dict, "v1.PodTemplateSpec"),
                   ("spec.template.spec.containers", list, "[]v1.Container")],
    "pods": [("spec.containers", list, "[]v1.Container"), ("spec.nodeName", str, "string")],
    "nodes": [("spec.unschedulable", bool, "bool")],
    "horizontalpodautoscalers": [("spec.minReplicas", int, "int32"), ("spec.maxReplicas", int, "int32")],
    "Scale": [("spec.replicas", int, "int32")],
}


def json_type_name(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def type_check(key, kind, obj):
    """Returns a Go-decoder-like error message for a field of the wrong JSON type, or None."""
    if not isinstance(obj, dict):
        return "json: cannot unmarshal %s into Go value of type struct" % json_type_name(obj)
    for path, ptype, gotype in TYPE_CHECKS["*"] + TYPE_CHECKS.get(key, []):
        cur = obj
        parts = path.split(".")
        for p in parts:
            if not isinstance(cur, dict):
                cur = None
                break
            cur = cur.get(p)
        if cur is None:
            continue
        ok = is_int(cur) if ptype is int else isinstance(cur, ptype)
        if ptype is dict and ok and gotype == "map[string]string":
            bad = [x for x in cur.values() if not isinstance(x, str)]
            if bad:
                return ("json: cannot unmarshal %s into Go struct field ObjectMeta.%s of type string"
                        % (json_type_name(bad[0]), path))
        if not ok:
            struct = "ObjectMeta" if parts[0] == "metadata" else "%s%s" % (kind, parts[0].capitalize())
            return ("json: cannot unmarshal %s into Go struct field %s.%s of type %s"
                    % (json_type_name(cur), struct, path, gotype))
    return None


# ---------------------------------------------------------------------------------------------
# Defaults


def default_container(c):
    if not isinstance(c, dict):
        return
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if "imagePullPolicy" not in c:
        img = c.get("image") or ""
        last = img.rsplit("/", 1)[-1]
        if "@" in img or (":" in last and not last.endswith(":latest")):
            c["imagePullPolicy"] = "IfNotPresent"
        else:
            c["imagePullPolicy"] = "Always"
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")


def default_pod_spec(spec):
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        default_container(c)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")


def default_template(t):
    if not isinstance(t, dict):
        return
    m = t.setdefault("metadata", {})
    m.setdefault("creationTimestamp", None)
    spec = t.setdefault("spec", {})
    if isinstance(spec, dict):
        default_pod_spec(spec)


DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


def apply_defaults(plural, obj, server_version):
    spec = obj.get("spec")
    if plural == "networkpolicies":
        # pkg/apis/networking/v1/defaults.go: policyTypes from the rules given, TCP ports
        if not spec.get("policyTypes"):
            spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
        for direction in ("ingress", "egress"):
            for rule in spec.get(direction) or []:
                for port in (rule or {}).get("ports") or []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")
    if plural == "deployments":
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        st = spec.setdefault("strategy", {})
        st.setdefault("type", "RollingUpdate")
        if st["type"] == "RollingUpdate":
            ru = st.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", "25%")
            ru.setdefault("maxSurge", "25%")
        default_template(spec.get("template"))
    elif plural == "replicasets":
        spec.setdefault("replicas", 1)
        default_template(spec.get("template"))
    elif plural == "statefulsets":
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        us = spec.setdefault("updateStrategy", {})
        if not us.get("type"):
            us["type"] = "RollingUpdate"
            us.setdefault("rollingUpdate", {})
        if us["type"] == "RollingUpdate" and isinstance(us.get("rollingUpdate"), dict):
            us["rollingUpdate"].setdefault("partition", 0)
        spec.setdefault("revisionHistoryLimit", 10)
        if server_version != "1.20":
            spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
        default_template(spec.get("template"))
    elif plural == "daemonsets":
        us = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if us.get("type") == "RollingUpdate":
            ru = us.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", 1)
            if server_version != "1.20":
                ru.setdefault("maxSurge", 0)
        spec.setdefault("revisionHistoryLimit", 10)
        default_template(spec.get("template"))
    elif plural == "pods":
        default_pod_spec(spec)
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        tols = spec.setdefault("tolerations", [])
        for t in DEFAULT_TOLERATIONS:
            if not any(x.get("key") == t["key"] and x.get("effect") == t["effect"] for x in tols if isinstance(x, dict)):
                tols.append(deep(t))
    elif plural == "horizontalpodautoscalers":
        spec.setdefault("minReplicas", 1)
        if not spec.get("metrics"):
            spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 80}}}]
    elif plural == "namespaces":
        spec.setdefault("finalizers", ["kubernetes"])


def normalize_template(t):
    """A pod template as compared by the deployment controller (EqualIgnoreHash)."""
    t = deep(t or {})
    lab = (t.get("metadata") or {}).get("labels")
    if isinstance(lab, dict):
        lab.pop("pod-template-hash", None)
    return canonical(strip_none(t))


def pod_template_hash(template, collision=0):
    data = normalize_template(template)
    if collision:
        data += str(collision)
    return safe_encode(str(fnv32a(data.encode())))


# ---------------------------------------------------------------------------------------------
# Validation


def validate_template(plural, spec, errs, prefix="spec.template"):
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        errs.append(FieldError("Required", prefix))
        return
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    errs.extend(validate_labels(labels, prefix + ".metadata.labels"))
    validate_pod_spec(tmpl.get("spec") or {}, errs, prefix + ".spec", workload=True)


def validate_pod_spec(pspec, errs, prefix, workload=False):
    containers = pspec.get("containers")
    if not containers:
        errs.append(FieldError("Required", prefix + ".containers"))
    seen = set()
    for i, c in enumerate(containers or []):
        f = "%s.containers[%d]" % (prefix, i)
        if not isinstance(c, dict):
            errs.append(FieldError("Invalid", f, c, "must be an object"))
            continue
        name = c.get("name")
        if not name:
            errs.append(FieldError("Required", f + ".name"))
        else:
            errs.extend(validate_name(str(name), f + ".name", label=True))
            if name in seen:
                errs.append(FieldError("Duplicate", f + ".name", name))
            seen.add(name)
        if not c.get("image"):
            errs.append(FieldError("Required", f + ".image"))
    rp = pspec.get("restartPolicy")
    if workload and rp not in (None, "Always"):
        errs.append(FieldError("NotSupported", prefix + ".restartPolicy", rp, supported=["Always"]))
    elif rp not in (None, "Always", "OnFailure", "Never"):
        errs.append(FieldError("NotSupported", prefix + ".restartPolicy", rp, supported=["Always", "Never", "OnFailure"]))


def validate_int_or_percent(val, field, errs, max_pct=False):
    if val is None:
        return
    if is_int(val):
        if val < 0:
            errs.append(FieldError("Invalid", field, val, "must be greater than or equal to 0"))
        return
    if isinstance(val, str) and re.match(r"^[0-9]+%$", val):
        if max_pct and int(val[:-1]) > 100:
            errs.append(FieldError("Invalid", field, val, "must not be greater than 100%"))
        return
    errs.append(FieldError("Invalid", field, val, "a valid percent string must be a numeric string followed by an "
                           "ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"))


def validate_object(plural, obj, old):
    """Kind-specific validation; returns a list of FieldErrors."""
    errs = []
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if plural in ("deployments", "replicasets", "statefulsets"):
        r = spec.get("replicas")
        if is_int(r) and r < 0:
            errs.append(FieldError("Invalid", "spec.replicas", r, "must be greater than or equal to 0"))
    if plural in WORKLOADS:
        sel = spec.get("selector")
        if sel is None:
            errs.append(FieldError("Required", "spec.selector"))
        elif selector_empty(sel):
            errs.append(FieldError("Invalid", "spec.selector", GoRepr(selector_gofmt(sel)),
                                   "empty selector is invalid for deployment"))
        tmpl = spec.get("template") or {}
        labels = (tmpl.get("metadata") or {}).get("labels") or {}
        if sel is not None and not selector_empty(sel) and not selector_matches(sel, labels):
            errs.append(FieldError("Invalid", "spec.template.metadata.labels", labels,
                                   "`selector` does not match template `labels`"))
        validate_template(plural, spec, errs)
        if old is not None and plural != "replicasets":
            if canonical((old.get("spec") or {}).get("selector")) != canonical(sel):
                errs.append(FieldError("Invalid", "spec.selector", GoRepr(selector_gofmt(sel)), "field is immutable"))
    if plural == "deployments":
        st = spec.get("strategy") or {}
        if st.get("type") not in ("RollingUpdate", "Recreate"):
            errs.append(FieldError("NotSupported", "spec.strategy.type", st.get("type"),
                                   supported=["Recreate", "RollingUpdate"]))
        elif st.get("type") == "Recreate" and st.get("rollingUpdate") is not None:
            errs.append(FieldError("Forbidden", "spec.strategy.rollingUpdate",
                                   detail="may not be specified when strategy `type` is 'Recreate'"))
        else:
            ru = st.get("rollingUpdate") or {}
            validate_int_or_percent(ru.get("maxSurge"), "spec.strategy.rollingUpdate.maxSurge", errs)
            validate_int_or_percent(ru.get("maxUnavailable"), "spec.strategy.rollingUpdate.maxUnavailable", errs,
                                    max_pct=True)
            if st.get("type") == "RollingUpdate" and int_or_percent(ru.get("maxSurge"), 100, True) == 0 and \
                    int_or_percent(ru.get("maxUnavailable"), 100, False) == 0 and \
                    ru.get("maxUnavailable") is not None and ru.get("maxSurge") is not None:
                errs.append(FieldError("Invalid", "spec.strategy.rollingUpdate.maxUnavailable",
                                       ru.get("maxUnavailable"), "may not be 0 when `maxSurge` is 0"))
        pds = spec.get("progressDeadlineSeconds")
        mrs = spec.get("minReadySeconds") or 0
        if is_int(pds) and pds <= mrs:
            errs.append(FieldError("Invalid", "spec.progressDeadlineSeconds", pds,
                                   "must be greater than minReadySeconds"))
        rhl = spec.get("revisionHistoryLimit")
        if is_int(rhl) and rhl < 0:
            errs.append(FieldError("Invalid", "spec.revisionHistoryLimit", rhl, "must be greater than or equal to 0"))
    if plural == "statefulsets" and old is not None:
        allowed = {"replicas", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                   "minReadySeconds", "ordinals"}
        ospec = old.get("spec") or {}
        changed = {k for k in set(spec) | set(ospec) if canonical(spec.get(k)) != canonical(ospec.get(k))}
        if changed - allowed:
            errs.append(FieldError("Forbidden", "spec", detail=(
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")))
    if plural == "pods":
        validate_pod_spec(spec, errs, "spec")
        if old is not None:
            def strip_images(s):
                s = deep(s or {})
                for key in ("containers", "initContainers"):
                    for c in s.get(key) or []:
                        if isinstance(c, dict):
                            c.pop("image", None)
                for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
                    s.pop(key, None)
                return canonical(s)
            if strip_images(spec) != strip_images(old.get("spec")):
                errs.append(FieldError("Forbidden", "spec", detail=(
                    "pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                    "(allow it to be set to 1 if it was previously negative)")))
    if plural == "poddisruptionbudgets":
        ma, mu = spec.get("minAvailable"), spec.get("maxUnavailable")
        if ma is not None and mu is not None:
            errs.append(FieldError("Invalid", "spec", spec, "minAvailable and maxUnavailable cannot be both set"))
        validate_int_or_percent(ma, "spec.minAvailable", errs, max_pct=True)
        validate_int_or_percent(mu, "spec.maxUnavailable", errs, max_pct=True)
    if plural == "horizontalpodautoscalers":
        mn, mx = spec.get("minReplicas"), spec.get("maxReplicas")
        if is_int(mn) and mn < 1:
            errs.append(FieldError("Invalid", "spec.minReplicas", mn, "must be greater than or equal to 1"))
        if mx is None:
            errs.append(FieldError("Required", "spec.maxReplicas"))
        elif is_int(mx) and mx < 1:
            errs.append(FieldError("Invalid", "spec.maxReplicas", mx, "must be greater than 0"))
        if is_int(mn) and is_int(mx) and mx < mn:
            errs.append(FieldError("Invalid", "spec.maxReplicas", mx, "must be greater than or equal to `minReplicas`"))
        ref = spec.get("scaleTargetRef") or {}
        if not ref.get("kind"):
            errs.append(FieldError("Required", "spec.scaleTargetRef.kind"))
        if not ref.get("name"):
            errs.append(FieldError("Required", "spec.scaleTargetRef.name"))
    if plural == "networkpolicies":
        for i, t in enumerate(spec.get("policyTypes") or []):
            if t not in ("Ingress", "Egress"):
                errs.append(FieldError("NotSupported", "spec.policyTypes[%d]" % i, t, supported=["Egress", "Ingress"]))
        for direction in ("ingress", "egress"):
            for i, rule in enumerate(spec.get(direction) or []):
                for j, port in enumerate((rule or {}).get("ports") or []):
                    proto = (port or {}).get("protocol")
                    if proto not in ("TCP", "UDP", "SCTP"):
                        errs.append(FieldError("NotSupported", "spec.%s[%d].ports[%d].protocol" % (direction, i, j),
                                               proto, supported=["SCTP", "TCP", "UDP"]))
    if plural == "events":
        io = obj.get("involvedObject") or {}
        if io.get("namespace") and io.get("namespace") != ns_of(obj):
            errs.append(FieldError("Invalid", "involvedObject.namespace", io.get("namespace"),
                                   "does not match event.namespace"))
    return errs


# ---------------------------------------------------------------------------------------------
# Version conversion (only the HPA differs between served versions)


def hpa_to_v1(obj):
    out = deep(obj)
    spec = out.get("spec") or {}
    metrics = spec.pop("metrics", None) or []
    spec.pop("behavior", None)
    for m in metrics:
        res = m.get("resource") or {}
        if m.get("type") == "Resource" and res.get("name") == "cpu" and \
                (res.get("target") or {}).get("type") == "Utilization":
            spec["targetCPUUtilizationPercentage"] = res["target"].get("averageUtilization")
    st = out.get("status")
    if isinstance(st, dict):
        cur = st.pop("currentMetrics", None) or []
        st.pop("conditions", None)
        for m in cur:
            res = m.get("resource") or {}
            if m.get("type") == "Resource" and res.get("name") == "cpu":
                v = (res.get("current") or {}).get("averageUtilization")
                if v is not None:
                    st["currentCPUUtilizationPercentage"] = v
    return out


def hpa_from_v1(obj, old):
    out = deep(obj)
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    cpu = spec.pop("targetCPUUtilizationPercentage", None)
    keep = [m for m in ((old or {}).get("spec") or {}).get("metrics") or []
            if not (m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu")]
    metrics = []
    if cpu is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": cpu}}})
    spec["metrics"] = metrics + keep
    if old is not None and (old.get("spec") or {}).get("behavior") is not None:
        spec["behavior"] = deep(old["spec"]["behavior"])
    st = out.get("status")
    if isinstance(st, dict):
        st.pop("currentCPUUtilizationPercentage", None)
        if old is not None:
            for k in ("conditions", "currentMetrics"):
                if (old.get("status") or {}).get(k) is not None:
                    st[k] = deep(old["status"][k])
    return out


def to_version(rt, obj, version):
    """Canonical stored object -> the representation served at version."""
    out = hpa_to_v1(obj) if (rt.plural == "horizontalpodautoscalers" and version == "v1") else deep(obj)
    out["apiVersion"] = rt.api_version(version)
    out["kind"] = rt.kind
    return out


def from_version(rt, obj, version, old=None):
    if rt.plural == "horizontalpodautoscalers" and version == "v1":
        obj = hpa_from_v1(obj, old)
    obj["apiVersion"] = rt.storage_api_version
    obj["kind"] = rt.kind
    return obj


# ---------------------------------------------------------------------------------------------
# Server-side printing (Accept: application/json;as=Table;g=meta.k8s.io;v=v1), as kubectl get asks


def human_duration(secs):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(secs)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    minutes = s // 60
    if minutes < 10:
        return "%dm" % minutes if s % 60 == 0 else "%dm%ds" % (minutes, s % 60)
    if minutes < 180:
        return "%dm" % minutes
    hours = s // 3600
    if hours < 8:
        return "%dh" % hours if minutes % 60 == 0 else "%dh%dm" % (hours, minutes % 60)
    if hours < 48:
        return "%dh" % hours
    if hours < 24 * 8:
        return "%dd" % (hours // 24) if hours % 24 == 0 else "%dd%dh" % (hours // 24, hours % 24)
    if hours < 24 * 365 * 2:
        return "%dd" % (hours // 24)
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return "%dy" % (hours // 24 // 365) if dy == 0 else "%dy%dd" % (hours // 24 // 365, dy)
    return "%dy" % (hours // 24 // 365)


def table_version(accept):
    for part in (accept or "").split(","):
        params = {}
        for item in part.split(";")[1:]:
            k, _, v = item.strip().partition("=")
            params[k] = v
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return params["v"]
    return None


def _age(obj, field="creationTimestamp"):
    ts = md(obj).get(field) if field == "creationTimestamp" else obj.get(field)
    return human_duration(time.time() - parse_ts(ts)) if ts else "<unknown>"


def _containers(obj):
    spec = (obj.get("spec") or {})
    tmpl = spec.get("template") or {}
    return (tmpl.get("spec") or {}).get("containers") or []


def _pod_status_reason(p):
    st = p.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Unknown"
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
    if md(p).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _node_status(n):
    ready = "Unknown"
    for c in (n.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            ready = "Ready" if c.get("status") == "True" else "NotReady"
    if (n.get("spec") or {}).get("unschedulable"):
        ready += ",SchedulingDisabled"
    return ready


def _node_roles(n):
    roles = sorted(k.split("/", 1)[1] for k in labels_of(n) if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def _addr(n, kind):
    for a in (n.get("status") or {}).get("addresses") or []:
        if a.get("type") == kind:
            return a.get("address")
    return "<none>"


def _hpa_targets(h):
    out = []
    for m in (h.get("spec") or {}).get("metrics") or []:
        t = ((m.get("resource") or {}).get("target") or {})
        if m.get("type") == "Resource" and t.get("averageUtilization") is not None:
            out.append("%s: <unknown>/%d%%" % (m["resource"].get("name"), t["averageUtilization"]))
        else:
            out.append("<unknown>")
    return ", ".join(out) or "<none>"


NAME_COL = ("Name", "string", "name", 0, lambda o: name_of(o))
AGE_COL = ("Age", "string", "", 0, _age)
TABLE_COLUMNS = {
    "pods": [NAME_COL,
             ("Ready", "string", "", 0, lambda p: "%d/%d" % (
                 sum(1 for c in (p.get("status") or {}).get("containerStatuses") or [] if c.get("ready")),
                 len((p.get("spec") or {}).get("containers") or []))),
             ("Status", "string", "", 0, _pod_status_reason),
             ("Restarts", "string", "", 0, lambda p: str(sum(c.get("restartCount", 0) for c in
                                                         (p.get("status") or {}).get("containerStatuses") or []))),
             AGE_COL,
             ("IP", "string", "", 1, lambda p: (p.get("status") or {}).get("podIP") or "<none>"),
             ("Node", "string", "", 1, lambda p: (p.get("spec") or {}).get("nodeName") or "<none>"),
             ("Nominated Node", "string", "", 1, lambda p: "<none>"),
             ("Readiness Gates", "string", "", 1, lambda p: "<none>")],
    "deployments": [NAME_COL,
                    ("Ready", "string", "", 0, lambda d: "%d/%d" % ((d.get("status") or {}).get("readyReplicas", 0),
                                                                    d["spec"].get("replicas", 1))),
                    ("Up-to-date", "integer", "", 0, lambda d: (d.get("status") or {}).get("updatedReplicas", 0)),
                    ("Available", "integer", "", 0, lambda d: (d.get("status") or {}).get("availableReplicas", 0)),
                    AGE_COL,
                    ("Containers", "string", "", 1, lambda d: ",".join(c.get("name", "") for c in _containers(d))),
                    ("Images", "string", "", 1, lambda d: ",".join(c.get("image", "") for c in _containers(d))),
                    ("Selector", "string", "", 1, lambda d: selector_string(d["spec"].get("selector")))],
    "replicasets": [NAME_COL,
                    ("Desired", "integer", "", 0, lambda r: r["spec"].get("replicas", 1)),
                    ("Current", "integer", "", 0, lambda r: (r.get("status") or {}).get("replicas", 0)),
                    ("Ready", "integer", "", 0, lambda r: (r.get("status") or {}).get("readyReplicas", 0)),
                    AGE_COL,
                    ("Containers", "string", "", 1, lambda r: ",".join(c.get("name", "") for c in _containers(r))),
                    ("Images", "string", "", 1, lambda r: ",".join(c.get("image", "") for c in _containers(r))),
                    ("Selector", "string", "", 1, lambda r: selector_string(r["spec"].get("selector")))],
    "statefulsets": [NAME_COL,
                     ("Ready", "string", "", 0, lambda s: "%d/%d" % ((s.get("status") or {}).get("readyReplicas", 0),
                                                                     s["spec"].get("replicas", 1))),
                     AGE_COL,
                     ("Containers", "string", "", 1, lambda s: ",".join(c.get("name", "") for c in _containers(s))),
                     ("Images", "string", "", 1, lambda s: ",".join(c.get("image", "") for c in _containers(s)))],
    "daemonsets": [NAME_COL,
                   ("Desired", "integer", "", 0, lambda d: (d.get("status") or {}).get("desiredNumberScheduled", 0)),
                   ("Current", "integer", "", 0, lambda d: (d.get("status") or {}).get("currentNumberScheduled", 0)),
                   ("Ready", "integer", "", 0, lambda d: (d.get("status") or {}).get("numberReady", 0)),
                   ("Up-to-date", "integer", "", 0, lambda d: (d.get("status") or {}).get("updatedNumberScheduled", 0)),
                   ("Available", "integer", "", 0, lambda d: (d.get("status") or {}).get("numberAvailable", 0)),
                   ("Node Selector", "string", "", 0, lambda d: ",".join(
                       "%s=%s" % kv for kv in sorted((((d["spec"].get("template") or {}).get("spec") or {})
                                                      .get("nodeSelector") or {}).items())) or "<none>"),
                   AGE_COL,
                   ("Containers", "string", "", 1, lambda d: ",".join(c.get("name", "") for c in _containers(d))),
                   ("Images", "string", "", 1, lambda d: ",".join(c.get("image", "") for c in _containers(d)))],
    "nodes": [NAME_COL,
              ("Status", "string", "", 0, _node_status),
              ("Roles", "string", "", 0, _node_roles),
              AGE_COL,
              ("Version", "string", "", 0, lambda n: ((n.get("status") or {}).get("nodeInfo") or {})
               .get("kubeletVersion", "")),
              ("Internal-IP", "string", "", 1, lambda n: _addr(n, "InternalIP")),
              ("External-IP", "string", "", 1, lambda n: _addr(n, "ExternalIP")),
              ("OS-Image", "string", "", 1, lambda n: ((n.get("status") or {}).get("nodeInfo") or {}).get("osImage", "")),
              ("Kernel-Version", "string", "", 1, lambda n: ((n.get("status") or {}).get("nodeInfo") or {})
               .get("kernelVersion", "")),
              ("Container-Runtime", "string", "", 1, lambda n: ((n.get("status") or {}).get("nodeInfo") or {})
               .get("containerRuntimeVersion", ""))],
    "namespaces": [NAME_COL, ("Status", "string", "", 0, lambda n: (n.get("status") or {}).get("phase", "")), AGE_COL],
    "events": [("Last Seen", "string", "", 0, lambda e: _age(e, "lastTimestamp")),
               ("Type", "string", "", 0, lambda e: e.get("type", "")),
               ("Reason", "string", "", 0, lambda e: e.get("reason", "")),
               ("Object", "string", "", 0, lambda e: "%s/%s" % ((e.get("involvedObject") or {}).get("kind", "").lower(),
                                                               (e.get("involvedObject") or {}).get("name", ""))),
               ("Message", "string", "", 0, lambda e: (e.get("message") or "").strip())],
    "poddisruptionbudgets": [NAME_COL,
                             ("Min Available", "string", "", 0, lambda p: str(p["spec"]["minAvailable"])
                              if p["spec"].get("minAvailable") is not None else "N/A"),
                             ("Max Unavailable", "string", "", 0, lambda p: str(p["spec"]["maxUnavailable"])
                              if p["spec"].get("maxUnavailable") is not None else "N/A"),
                             ("Allowed Disruptions", "integer", "", 0, lambda p: (p.get("status") or {})
                              .get("disruptionsAllowed", 0)),
                             AGE_COL],
    "networkpolicies": [NAME_COL,
                        ("Pod-Selector", "string", "", 0, lambda n: selector_string(
                            (n.get("spec") or {}).get("podSelector") or {}) or "<none>"),
                        AGE_COL],
    "horizontalpodautoscalers": [NAME_COL,
                                 ("Reference", "string", "", 0, lambda h: "%s/%s" % (
                                     h["spec"]["scaleTargetRef"].get("kind"), h["spec"]["scaleTargetRef"].get("name"))),
                                 ("Targets", "string", "", 0, _hpa_targets),
                                 ("MinPods", "string", "", 0, lambda h: str(h["spec"].get("minReplicas", 1))),
                                 ("MaxPods", "integer", "", 0, lambda h: h["spec"].get("maxReplicas", 0)),
                                 ("Replicas", "integer", "", 0, lambda h: (h.get("status") or {})
                                  .get("currentReplicas", 0)),
                                 AGE_COL],
}


def to_table(rt, objs, version, table_v, include, list_meta):
    cols = TABLE_COLUMNS[rt.plural]
    defs = [{"name": c[0], "type": c[1], "format": c[2], "description": c[0], "priority": c[3]} for c in cols]
    rows = []
    for o in objs:
        row = {"cells": [c[4](o) for c in cols]}
        if include == "Object":
            row["object"] = to_version(rt, o, version)
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/" + table_v,
                             "metadata": deep(md(o))}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/" + table_v, "metadata": list_meta,
            "columnDefinitions": defs, "rows": rows}



def table_events(events, rt, version, table_v, include):
    """A watch stream whose objects are one-row Tables; column definitions come with the first."""
    first = True
    try:
        for ev in events:
            if ev is None or ev.get("type") in ("ERROR", "BOOKMARK"):
                yield ev
                continue
            t = to_table(rt, [ev["object"]], version, table_v, include,
                         {"resourceVersion": md(ev["object"]).get("resourceVersion", "")})
            if not first:
                t["columnDefinitions"] = None
            first = False
            yield {"type": ev["type"], "object": t}
    finally:
        events.close()

# ---------------------------------------------------------------------------------------------
# Store


class Store:
    """Objects by resource and key, a global resourceVersion, and a watch history."""

    def __init__(self, history_limit=20000):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = 1000
        self.data = {rt.plural: {} for rt in RESOURCE_TYPES}
        self.history = collections.deque()
        self.history_limit = history_limit
        self.oldest_rv = self.rv
        self.closed = False

    def get(self, plural, ns, name):
        return self.data[plural].get((ns or "", name))

    def items(self, plural, ns=None):
        objs = self.data[plural]
        return [objs[k] for k in sorted(objs) if ns is None or k[0] == ns]

    def _record(self, rv, plural, etype, obj, old):
        self.history.append((rv, plural, etype, deep(obj), deep(old) if old is not None else None))
        while len(self.history) > self.history_limit:
            self.oldest_rv = self.history.popleft()[0]
        self.cond.notify_all()

    def put(self, plural, obj):
        self.rv += 1
        md(obj)["resourceVersion"] = str(self.rv)
        key = (ns_of(obj), name_of(obj))
        old = self.data[plural].get(key)
        self.data[plural][key] = obj
        self._record(self.rv, plural, "MODIFIED" if old is not None else "ADDED", obj, old)
        return obj

    def remove(self, plural, ns, name):
        old = self.data[plural].pop((ns or "", name))
        self.rv += 1
        final = deep(old)
        md(final)["resourceVersion"] = str(self.rv)
        self._record(self.rv, plural, "DELETED", final, old)
        return final

    def clear(self):
        for plural in self.data:
            for key in list(self.data[plural]):
                self.remove(plural, key[0], key[1])


# ---------------------------------------------------------------------------------------------
# The cluster: API operations and controllers


class Response:
    def __init__(self, code, body=None, ctype="application/json", headers=None, stream=None, dry_run=False):
        self.table_source = None
        self.code = code
        self.body = body
        self.ctype = ctype
        self.headers = headers or {}
        self.stream = stream
        self.dry_run = dry_run


class Cluster:
    def __init__(self, server_version="1.29", verbose=False):
        self.version = server_version
        self.minor = int(server_version.split(".")[1])
        self.verbose = verbose
        self.store = Store()
        self.lock = self.store.lock
        self.gvs = group_versions(server_version)
        self.served = {("", "v1")}
        for g, vs in self.gvs:
            for v in vs:
                self.served.add((g, v))
        self.pod_runtime = {}        # pod uid -> {"scheduled_at", "ready", "state", "override"}
        self.deploy_settings = {}    # (ns, name) -> {"rollout_delay": s, "broken": bool}
        self.bad_rs = set()          # ReplicaSet uids whose pods never become ready
        self.logs = {}               # (ns, pod, container, previous) -> text
        self.wakeups = []            # times at which controllers must run again
        self.woken = threading.Event()  # a wakeup was added: the timer thread looks again
        self.terminating = {}        # pod uid -> when the kubelet confirms it stopped
        self.reset_settings()
        self.ip_counter = 10
        self.event_counter = 0
        self.initial_objects = []

    # -- settings (POST /__fake/settings) ----------------------------------------------------------

    SETTINGS = ("controller_delay", "pod_termination", "rbac")

    def reset_settings(self):
        self.controller_delay = CONTROLLER_DELAY  # seconds from a write to its controllers' run
        self.pod_termination = 0.0    # seconds a deleted pod stays Terminating (0: gone at once)
        self.rbac = None              # rules for the token user (None: everything allowed)
        self.pending = 0              # async: requests to answer before the pending controller run

    def settings_now(self):
        return {"controller_delay": self.controller_delay, "pod_termination": self.pod_termination,
                "rbac": self.rbac}

    def set_settings(self, data):
        unknown = set(data) - set(self.SETTINGS)
        if unknown:
            raise ValueError("unknown keys: %s" % ", ".join(sorted(unknown)))
        d = data.get("controller_delay", self.controller_delay)
        if not isinstance(d, (int, float)) or isinstance(d, bool) or d < 0:
            raise ValueError("controller_delay must be a number of seconds >= 0")
        t = data.get("pod_termination", self.pod_termination)
        if not isinstance(t, (int, float)) or isinstance(t, bool) or t < 0:
            raise ValueError("pod_termination must be a number of seconds >= 0")
        rules = data.get("rbac", self.rbac)
        if rules is not None:
            if not isinstance(rules, list) or not all(
                    isinstance(r, dict) and all(isinstance(r.get(k, []), list) for k in
                                                ("verbs", "apiGroups", "resources", "namespaces", "resourceNames"))
                    for r in rules):
                raise ValueError("rbac must be a list of rules {verbs, apiGroups, resources[, namespaces, "
                                 "resourceNames]} or null")
        with self.lock:
            self.controller_delay = float(d)
            self.pod_termination = float(t)
            self.rbac = rules
            if self.pending:  # a shorter delay applies to the run still to come
                self.add_wakeup(time.time() + self.controller_delay)
            return self.settings_now()

    def after_write(self):
        """A write's controllers run asynchronously, as the real ones act on the watch event
        a moment after the write has been stored and answered: once the next API request has
        been answered or once controller_delay has passed, whichever comes first."""
        self.pending = 2
        self.add_wakeup(time.time() + self.controller_delay)

    def controllers_now(self):
        """GET /__fake/controllers: whether a controller run is still to come, and when."""
        with self.lock:
            due = min(self.wakeups) - time.time() if self.wakeups else None
            return {"pending": bool(self.pending) or (due is not None and due <= 0),
                    "next_run_in": round(max(0.0, due), 3) if due is not None else None}

    def next_wakeup_in(self, longest):
        with self.lock:
            if not self.wakeups:
                return longest
            return min(longest, max(0.0, min(self.wakeups) - time.time()))

    @contextlib.contextmanager
    def answering(self, hold=True):
        """Around sending an API request's answer. The first answer after a write starts the
        controllers once it is sent; the lock is then held from before the send until they are
        done, so the request after it sees their work whichever connection it comes on: the order
        of the requests decides, never a timing. A watch stream (hold False) does not hold it."""
        self.lock.acquire()
        held = hold and self.pending == 1
        if not held:
            self.lock.release()
        try:
            yield
        finally:
            try:
                with self.lock:
                    if self.pending:
                        self.pending -= 1
                        if not self.pending:
                            self.reconcile_all()
            finally:
                if held:
                    self.lock.release()

    def authorize(self, method, path, params, user):
        """A minimal RBAC authorizer for the token user: a 403 Response, or None when allowed.
        The certificate user is in system:masters and always allowed, as on a real cluster."""
        with self.lock:
            rules = self.rbac
        if rules is None or user != "salve-token":
            return None
        attrs = request_attributes(method, path, params)
        if attrs is None:
            return None  # discovery and non-resource paths: system:discovery allows them
        verb, group, resource, sub, ns, name = attrs
        full = resource + ("/" + sub if sub else "")

        def has(rule, key, value):
            vals = rule.get(key)
            if key in ("namespaces", "resourceNames") and not vals:
                return True
            return "*" in (vals or []) or value in (vals or [])

        for r in rules:
            if has(r, "verbs", verb) and has(r, "apiGroups", group) and has(r, "resources", full) and \
                    has(r, "namespaces", ns or "") and (not r.get("resourceNames") or has(r, "resourceNames", name)):
                return None
        where = ('in the namespace "%s"' % ns) if ns else "at the cluster scope"
        msg = 'User "%s" cannot %s resource "%s" in API group "%s" %s' % (user, verb, full, group, where)
        q = qualified(group, resource)
        text = ('%s "%s" is forbidden: %s' % (q, name, msg)) if name else ("%s is forbidden: %s" % (q, msg))
        return Response(403, ApiError(403, "Forbidden", text, status_details(name, group, resource)).body())

    # -- helpers ---------------------------------------------------------------------------------

    def served_version(self, rt, version):
        return (rt.group, version) in self.served

    def served_versions_of(self, rt):
        if rt.group == "":
            return ["v1"]
        return dict(self.gvs).get(rt.group, [])

    def settings(self, ns, name):
        return self.deploy_settings.setdefault((ns, name), {"rollout_delay": 0.0, "broken": False})

    def add_wakeup(self, t):
        self.wakeups.append(t)
        self.woken.set()

    def log(self, msg):
        if self.verbose:
            sys.stderr.write("fake-k8s: %s\n" % msg)

    def write(self, plural, obj):
        """Stores obj unless nothing but resourceVersion changed; returns True if written."""
        cur = self.store.get(plural, ns_of(obj), name_of(obj))
        if cur is not None:
            a, b = deep(cur), deep(obj)
            md(a).pop("resourceVersion", None)
            md(b).pop("resourceVersion", None)
            if canonical(a) == canonical(b):
                return False
        self.store.put(plural, obj)
        return True

    def namespace_exists(self, ns):
        return self.store.get("namespaces", "", ns) is not None

    # -- events ------------------------------------------------------------------------------------

    def emit_event(self, involved, etype, reason, message, component, host=None):
        rt = RT_BY_KIND.get(involved.get("kind"))
        ns = ns_of(involved) or "default"
        if not self.namespace_exists(ns):
            return
        self.event_counter += 1
        t = now_ts()
        ev = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "%s.%x" % (name_of(involved), time.time_ns() + self.event_counter),
                         "namespace": ns, "uid": str(uuid.uuid4()), "creationTimestamp": t},
            "involvedObject": {"kind": involved.get("kind"), "namespace": ns, "name": name_of(involved),
                               "uid": uid_of(involved),
                               "apiVersion": rt.storage_api_version if rt else involved.get("apiVersion"),
                               "resourceVersion": md(involved).get("resourceVersion", "")},
            "reason": reason, "message": message,
            "source": {"component": component} if host is None else {"component": component, "host": host},
            "firstTimestamp": t, "lastTimestamp": t, "count": 1, "type": etype, "eventTime": None,
            "reportingComponent": component if host is None else component, "reportingInstance": host or "",
        }
        if involved.get("kind") == "Pod" and reason in ("Failed", "BackOff", "Pulled", "Created", "Started"):
            ev["involvedObject"]["fieldPath"] = "spec.containers{%s}" % (
                ((involved.get("spec") or {}).get("containers") or [{}])[0].get("name", ""))
        self.store.put("events", ev)

    # -- object loading (fixtures and /__fake/objects) --------------------------------------------

    def load_objects(self, objs, replace_all=False):
        if isinstance(objs, dict):
            objs = objs.get("items") if isinstance(objs.get("items"), list) else [objs]
        if not isinstance(objs, list):
            raise ValueError("objects must be a JSON list, a List with items, or one object")
        with self.lock:
            if replace_all:
                self.store.clear()
                self.terminating.clear()
                self.pod_runtime.clear()
                self.bad_rs.clear()
                self.logs.clear()
                self.deploy_settings.clear()
                self.wakeups = []  # the old objects' timers; the controllers set the new ones
            prepared = []
            for raw in objs:
                prepared.append(self._prepare_loaded(deep(raw)))
            # Owner references may name their owner without its uid: resolve by kind and name.
            by_kind = {}
            for rt, obj, _extra in prepared:
                by_kind[(rt.kind, ns_of(obj), name_of(obj))] = obj
            for rt, obj, _extra in prepared:
                for ref in md(obj).get("ownerReferences") or []:
                    if not ref.get("uid"):
                        owner = by_kind.get((ref.get("kind"), ns_of(obj), ref.get("name")))
                        if owner is None:
                            ort = RT_BY_KIND.get(ref.get("kind"))
                            if ort:
                                owner = self.store.get(ort.plural, ns_of(obj) if ort.namespaced else "", ref.get("name"))
                        if owner is None:
                            raise ValueError("%s %s/%s: owner %s %s not found" % (
                                rt.kind, ns_of(obj), name_of(obj), ref.get("kind"), ref.get("name")))
                        ref["uid"] = uid_of(owner)
                    ref.setdefault("apiVersion", RT_BY_KIND[ref["kind"]].storage_api_version
                                   if ref.get("kind") in RT_BY_KIND else "v1")
            for rt, obj, _extra in prepared:
                if rt.namespaced and not self.namespace_exists(ns_of(obj)) and \
                        not any(r.plural == "namespaces" and name_of(o) == ns_of(obj) for r, o, _ in prepared):
                    self.store.put("namespaces", self._new_namespace(ns_of(obj)))
            for rt, obj, extra in prepared:
                old = self.store.get(rt.plural, ns_of(obj), name_of(obj))
                if old is not None and rt.plural == "pods":
                    self.pod_runtime.pop(uid_of(old), None)
                if rt.plural == "pods":
                    for key, prev in (("__logs", False), ("__previous_logs", True)):
                        for cname, text in (extra.get(key) or {}).items():
                            self.logs[(ns_of(obj), name_of(obj), cname, prev)] = text
                    if not obj.get("status"):
                        # The kubelet of this fake runs it: Running and Ready since its creation.
                        obj["status"] = {"phase": "Pending"}
                        scheduled = parse_ts(md(obj)["creationTimestamp"]) if obj["spec"].get("nodeName") else None
                        self.pod_runtime[uid_of(obj)] = {"scheduled_at": scheduled, "ready": True, "state": None,
                                                         "loaded": True}
                self.store.put(rt.plural, obj)
                if rt.plural == "deployments" and extra.get("__fake"):
                    self.set_deployment_settings(ns_of(obj), name_of(obj), extra["__fake"])
            self.reconcile_all()
            return len(prepared)

    def _new_namespace(self, name):
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": now_ts(),
                             "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    def _prepare_loaded(self, obj):
        if not isinstance(obj, dict):
            raise ValueError("object is not a JSON object: %s" % dumps(obj)[:80])
        extra = {k: obj.pop(k) for k in list(obj) if k.startswith("__")}
        rt = RT_BY_KIND.get(obj.get("kind"))
        if rt is None:
            raise ValueError("unsupported kind %r" % obj.get("kind"))
        api_version = obj.get("apiVersion") or rt.storage_api_version
        version = api_version.split("/")[-1]
        obj = from_version(rt, obj, version)
        m = md(obj)
        if not m.get("name"):
            raise ValueError("%s without metadata.name" % rt.kind)
        if rt.namespaced:
            m.setdefault("namespace", "default")
        else:
            m.pop("namespace", None)
        m.setdefault("uid", str(uuid.uuid4()))
        m.setdefault("creationTimestamp", now_ts())
        m.pop("resourceVersion", None)
        if rt.has_generation:
            m.setdefault("generation", 1)
        if rt.plural != "events":
            obj.setdefault("spec", {})
        if rt.plural == "namespaces":
            m.setdefault("labels", {})["kubernetes.io/metadata.name"] = m["name"]
            obj.setdefault("status", {"phase": "Active"})
        msg = type_check(rt.plural, rt.kind, obj)
        if msg:
            raise ValueError("%s %s: %s" % (rt.kind, m["name"], msg))
        apply_defaults(rt.plural, obj, self.version)
        errs = validate_object(rt.plural, obj, None)
        errs += validate_name(m["name"], "metadata.name", label=rt.plural == "namespaces")
        if errs:
            raise ValueError('%s "%s" is invalid: %s' % (rt.kind, m["name"], ", ".join(str(e) for e in errs)))
        return rt, obj, extra

    def all_objects(self):
        with self.lock:
            out = []
            for rt in RESOURCE_TYPES:
                out.extend(deep(o) for o in self.store.items(rt.plural))
            return out

    # -- control settings --------------------------------------------------------------------------

    def set_deployment_settings(self, ns, name, body):
        with self.lock:
            s = self.settings(ns, name)
            if "rollout_delay" in body:
                d = body["rollout_delay"]
                if not isinstance(d, (int, float)) or isinstance(d, bool) or d < 0:
                    raise ValueError("rollout_delay must be a number >= 0")
                s["rollout_delay"] = float(d)
            if "broken" in body:
                if not isinstance(body["broken"], bool):
                    raise ValueError("broken must be true or false")
                s["broken"] = body["broken"]
                dep = self.store.get("deployments", ns, name)
                rss = [rs for rs in self.store.items("replicasets", ns)
                       if dep is not None and (controller_ref(rs) or {}).get("uid") == uid_of(dep)]
                if s["broken"] and dep is not None:
                    # A rollout in progress gets the bad image too.
                    new_rs = self._find_new_rs(dep, rss)
                    if new_rs is not None and not self._deployment_complete(dep):
                        self.bad_rs.add(uid_of(new_rs))
                elif not s["broken"]:
                    for rs in rss:
                        self.bad_rs.discard(uid_of(rs))
            self.reconcile_all()
            return dict(s)

    def set_pod_override(self, ns, name, body):
        with self.lock:
            pod = self.store.get("pods", ns, name)
            if pod is None:
                raise KeyError('pods "%s" not found' % name)
            allowed = {"ready", "phase", "restart_count", "waiting_reason", "waiting_message", "clear"}
            unknown = set(body) - allowed
            if unknown:
                raise ValueError("unknown keys: %s" % ", ".join(sorted(unknown)))
            rt = self.pod_runtime.setdefault(uid_of(pod), {"scheduled_at": time.time(), "ready": True, "state": None})
            if body.get("clear"):
                rt.pop("override", None)
            else:
                rt["override"] = {k: v for k, v in body.items() if k != "clear"}
            rt["state"] = None
            self.reconcile_all()
            return deep(self.store.get("pods", ns, name))

    def set_log(self, ns, pod, container, text, previous=False):
        with self.lock:
            self.logs[(ns, pod, container, bool(previous))] = text

    # -- controllers -------------------------------------------------------------------------------

    def reconcile_all(self):
        now = time.time()
        self.pending = 0
        self.wakeups = [t for t in self.wakeups if t > now]
        for _ in range(200):
            changed = False
            changed |= self._kubelet_reap(now)
            changed |= self._node_controller()
            changed |= self._gc()
            changed |= self._scheduler(now)
            changed |= self._kubelet(now)
            changed |= self._hpa_controller()
            for d in list(self.store.items("deployments")):
                changed |= self._reconcile_deployment(d["metadata"]["namespace"], d["metadata"]["name"], now)
            for rs in list(self.store.items("replicasets")):
                changed |= self._reconcile_rs(ns_of(rs), name_of(rs))
            for s in list(self.store.items("statefulsets")):
                changed |= self._reconcile_sts(ns_of(s), name_of(s))
            for ds in list(self.store.items("daemonsets")):
                changed |= self._reconcile_ds(ns_of(ds), name_of(ds))
            changed |= self._pdb_controller()
            if not changed:
                return
        sys.stderr.write("fake-k8s: controllers did not settle after 200 passes\n")

    def tick(self):
        """Called by the timer thread: runs controllers when a wakeup is due."""
        with self.lock:
            now = time.time()
            if any(t <= now for t in self.wakeups):
                self.reconcile_all()

    def _node_controller(self):
        changed = False
        for node in list(self.store.items("nodes")):
            unsched = bool((node.get("spec") or {}).get("unschedulable"))
            taints = list((node.get("spec") or {}).get("taints") or [])
            has = any(t.get("key") == "node.kubernetes.io/unschedulable" for t in taints)
            if unsched and not has:
                n = deep(node)
                n["spec"]["taints"] = taints + [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                                                 "timeAdded": now_ts()}]
                changed |= self.write("nodes", n)
            elif not unsched and has:
                n = deep(node)
                rest = [t for t in taints if t.get("key") != "node.kubernetes.io/unschedulable"]
                if rest:
                    n["spec"]["taints"] = rest
                else:
                    n["spec"].pop("taints", None)
                changed |= self.write("nodes", n)
        return changed

    def _gc(self):
        """Deletes dependents whose owners (of kinds modelled here) are all gone."""
        changed = False
        uids = {}
        for rt in RESOURCE_TYPES:
            for o in self.store.items(rt.plural):
                uids[uid_of(o)] = o
        for rt in RESOURCE_TYPES:
            for o in list(self.store.items(rt.plural)):
                refs = md(o).get("ownerReferences") or []
                modelled = [r for r in refs if r.get("kind") in RT_BY_KIND]
                if modelled and len(modelled) == len(refs) and not any(r.get("uid") in uids for r in refs):
                    self._delete_object(rt, o)
                    changed = True
        # Pods bound to nodes that no longer exist are removed (pod GC).
        for p in list(self.store.items("pods")):
            node = (p.get("spec") or {}).get("nodeName")
            if node and uid_of(p) in self.pod_runtime and self.store.get("nodes", "", node) is None:
                self._delete_object(RT_BY_PLURAL["pods"], p)
                changed = True
        return changed

    def _node_ready(self, node):
        for c in (node.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready":
                return c.get("status") == "True"
        return True

    def _scheduler(self, now):
        changed = False
        nodes = [n for n in self.store.items("nodes")
                 if not (n.get("spec") or {}).get("unschedulable") and self._node_ready(n)
                 and not any(t.get("effect") in ("NoSchedule", "NoExecute")
                             for t in (n.get("spec") or {}).get("taints") or [])]
        all_nodes = self.store.items("nodes")
        for p in list(self.store.items("pods")):
            rt = self.pod_runtime.get(uid_of(p))
            if rt is None or (p.get("spec") or {}).get("nodeName"):
                continue
            sel = (p.get("spec") or {}).get("nodeSelector") or {}
            fits = [n for n in nodes if all(labels_of(n).get(k) == v for k, v in sel.items())]
            if not fits:
                msg = "0/%d nodes are available: %d node(s) were unschedulable." % (len(all_nodes), len(all_nodes))
                if not all_nodes:
                    msg = "no nodes available to schedule pods"
                st = {"phase": "Pending", "conditions": [{
                    "type": "PodScheduled", "status": "False", "lastProbeTime": None,
                    "lastTransitionTime": now_ts(), "reason": "Unschedulable", "message": msg}],
                    "qosClass": self._qos(p)}
                if canonical(p.get("status")) != canonical(st) and rt.get("state") != "unschedulable":
                    q = deep(p)
                    q["status"] = st
                    rt["state"] = "unschedulable"
                    changed |= self.write("pods", q)
                continue
            counts = {name_of(n): 0 for n in fits}
            for other in self.store.items("pods"):
                nn = (other.get("spec") or {}).get("nodeName")
                if nn in counts:
                    counts[nn] += 1
            target = min(fits, key=lambda n: (counts[name_of(n)], name_of(n)))
            q = deep(p)
            q["spec"]["nodeName"] = name_of(target)
            rt["scheduled_at"] = now
            rt["state"] = None
            self.store.put("pods", q)
            self.emit_event(q, "Normal", "Scheduled", "Successfully assigned %s/%s to %s"
                            % (ns_of(q), name_of(q), name_of(target)), "default-scheduler")
            changed = True
        return changed

    def _qos(self, pod):
        reqs, lims = [], []
        for c in (pod.get("spec") or {}).get("containers") or []:
            r = (c.get("resources") or {})
            reqs.append(r.get("requests") or {})
            lims.append(r.get("limits") or {})
        if not any(reqs) and not any(lims):
            return "BestEffort"
        if all(l.get("cpu") and l.get("memory") and (not r or r == {k: l[k] for k in r})
               for r, l in zip(reqs, lims)):
            return "Guaranteed"
        return "Burstable"

    def _pod_owner_deployment(self, pod):
        ref = controller_ref(pod)
        if not ref or ref.get("kind") != "ReplicaSet":
            return None, None
        rs = self.store.get("replicasets", ns_of(pod), ref.get("name"))
        if rs is None:
            return None, None
        dref = controller_ref(rs)
        if not dref or dref.get("kind") != "Deployment":
            return rs, None
        return rs, self.store.get("deployments", ns_of(pod), dref.get("name"))

    def _pod_state(self, pod, rt, now):
        if rt.get("override"):
            return "override"
        rs, dep = self._pod_owner_deployment(pod)
        if rs is not None and uid_of(rs) in self.bad_rs:
            return "bad-image"
        if rt.get("ready"):
            return "ready"
        delay = self.settings(ns_of(dep), name_of(dep))["rollout_delay"] if dep is not None else 0.0
        start = rt.get("scheduled_at") or now
        if now >= start + delay:
            rt["ready"] = True
            return "ready"
        self.add_wakeup(start + delay)
        return "creating"

    def _node_ip(self, node_name):
        node = self.store.get("nodes", "", node_name)
        for a in ((node or {}).get("status") or {}).get("addresses") or []:
            if a.get("type") == "InternalIP":
                return a.get("address")
        return "10.0.0.1"

    def _pod_status(self, pod, state, rt):
        t = now_ts(rt["scheduled_at"]) if rt.get("loaded") and state == "ready" and rt.get("scheduled_at") else now_ts()
        spec = pod.get("spec") or {}
        node_ip = self._node_ip(spec.get("nodeName"))
        if "pod_ip" not in rt:
            self.ip_counter += 1
            rt["pod_ip"] = "10.244.%d.%d" % (self.ip_counter // 250, self.ip_counter % 250 + 2)
        ov = rt.get("override") or {}
        ready = state == "ready" or (state == "override" and ov.get("ready", False))
        cstats = []
        for c in spec.get("containers") or []:
            img = c.get("image", "")
            cs = {"name": c.get("name"), "ready": ready, "restartCount": 0, "image": img,
                  "imageID": "", "started": ready}
            if state == "ready" or (state == "override" and ov.get("ready", False) and not ov.get("waiting_reason")):
                digest = hashlib.sha256(img.encode()).hexdigest()
                cs["imageID"] = "docker.io/library/%s@sha256:%s" % (img.split(":")[0].split("/")[-1], digest)
                cs["containerID"] = "containerd://" + hashlib.sha256((uid_of(pod) + c.get("name", "")).encode()).hexdigest()
                cs["state"] = {"running": {"startedAt": t}}
                cs["lastState"] = {}
            elif state == "bad-image":
                cs["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                           "message": 'Back-off pulling image "%s"' % img}}
                cs["lastState"] = {}
            elif state == "override":
                reason = ov.get("waiting_reason")
                if reason:
                    cs["state"] = {"waiting": {"reason": reason, "message": ov.get("waiting_message", "")}}
                    if not ov.get("waiting_message"):
                        del cs["state"]["waiting"]["message"]
                else:
                    cs["state"] = {"running": {"startedAt": t}}
                rc = ov.get("restart_count", 0)
                cs["restartCount"] = rc
                if rc:
                    cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": t, "finishedAt": t}}
                else:
                    cs["lastState"] = {}
                cs["containerID"] = "containerd://" + hashlib.sha256((uid_of(pod) + c.get("name", "")).encode()).hexdigest()
            else:
                cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
                cs["lastState"] = {}
            cstats.append(cs)
        names = [c.get("name") for c in spec.get("containers") or []]
        phase = "Running" if state in ("ready", "override") else "Pending"
        if state == "override" and ov.get("phase"):
            phase = ov["phase"]
        cond_ready = {"type": "Ready", "status": "True" if ready else "False", "lastProbeTime": None,
                      "lastTransitionTime": t}
        cond_cready = {"type": "ContainersReady", "status": "True" if ready else "False", "lastProbeTime": None,
                       "lastTransitionTime": t}
        if not ready:
            for c in (cond_ready, cond_cready):
                c["reason"] = "ContainersNotReady"
                c["message"] = "containers with unready status: [%s]" % " ".join(names)
        conds = [{"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": t},
                 cond_ready, cond_cready,
                 {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": t}]
        if self.minor >= 29:
            conds.insert(0, {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": None,
                             "lastTransitionTime": t})
        st = {"phase": phase, "conditions": conds, "hostIP": node_ip}
        if self.minor >= 29:
            st["hostIPs"] = [{"ip": node_ip}]
        st["podIP"] = rt["pod_ip"]
        st["podIPs"] = [{"ip": rt["pod_ip"]}]
        st["startTime"] = now_ts(rt.get("scheduled_at") or time.time())
        st["containerStatuses"] = cstats
        st["qosClass"] = self._qos(pod)
        return st

    def _kubelet(self, now):
        changed = False
        for p in list(self.store.items("pods")):
            rt = self.pod_runtime.get(uid_of(p))
            if rt is None or not (p.get("spec") or {}).get("nodeName"):
                continue
            if rt.get("scheduled_at") is None:
                rt["scheduled_at"] = now
            state = self._pod_state(p, rt, now)
            if state == rt.get("state"):
                continue
            prev = rt.get("state")
            rt["state"] = state
            q = deep(p)
            q["status"] = self._pod_status(p, state, rt)
            self.store.put("pods", q)
            changed = True
            node = (p.get("spec") or {}).get("nodeName")
            if state == "bad-image" and prev != "bad-image":
                img = ((p.get("spec") or {}).get("containers") or [{}])[0].get("image", "")
                self.emit_event(q, "Warning", "Failed", 'Failed to pull image "%s": rpc error: code = NotFound desc = '
                                'failed to pull and unpack image "docker.io/library/%s": not found' % (img, img),
                                "kubelet", node)
                self.emit_event(q, "Normal", "BackOff", 'Back-off pulling image "%s"' % img, "kubelet", node)
            elif state == "ready" and prev in (None, "creating") and not rt.get("loaded"):
                self.emit_event(q, "Normal", "Started", "Started container %s" % (
                    ((p.get("spec") or {}).get("containers") or [{}])[0].get("name", "")), "kubelet", node)
        return changed

    # deployment controller (pkg/controller/deployment, RollingUpdate and Recreate)

    def _find_new_rs(self, d, rss):
        want = normalize_template((d.get("spec") or {}).get("template"))
        matches = [rs for rs in rss if normalize_template((rs.get("spec") or {}).get("template")) == want]
        if not matches:
            return None
        return sorted(matches, key=lambda rs: (md(rs).get("creationTimestamp", ""), name_of(rs)))[0]

    @staticmethod
    def _revision(rs):
        try:
            return int(annotations_of(rs).get("deployment.kubernetes.io/revision", "0"))
        except ValueError:
            return 0

    @staticmethod
    def _surge_unavailable(d):
        spec = d.get("spec") or {}
        replicas = spec.get("replicas", 1)
        st = spec.get("strategy") or {}
        if st.get("type") != "RollingUpdate":
            return 0, 0
        ru = st.get("rollingUpdate") or {}
        surge = int_or_percent(ru.get("maxSurge", "25%"), replicas, True)
        unavail = int_or_percent(ru.get("maxUnavailable", "25%"), replicas, False)
        if surge == 0 and unavail == 0:
            unavail = 1
        return surge, unavail

    def _max_unavailable(self, d):
        spec = d.get("spec") or {}
        replicas = spec.get("replicas", 1)
        if (spec.get("strategy") or {}).get("type") != "RollingUpdate" or replicas == 0:
            return 0
        return min(self._surge_unavailable(d)[1], replicas)

    def _deployment_complete(self, d):
        spec, st = d.get("spec") or {}, d.get("status") or {}
        r = spec.get("replicas", 1)
        return (st.get("updatedReplicas", 0) == r and st.get("replicas", 0) == r and
                st.get("availableReplicas", 0) == r and
                st.get("observedGeneration", 0) >= md(d).get("generation", 1))

    def _scale_rs(self, rs, n, d):
        old = (rs.get("spec") or {}).get("replicas", 0)
        surge, _ = self._surge_unavailable(d)
        r = deep(rs)
        r["spec"]["replicas"] = n
        ann = md(r).setdefault("annotations", {})
        dreplicas = (d.get("spec") or {}).get("replicas", 1)
        ann["deployment.kubernetes.io/desired-replicas"] = str(dreplicas)
        ann["deployment.kubernetes.io/max-replicas"] = str(dreplicas + surge)
        self.write("replicasets", r)
        if n != old:
            op = "up" if n > old else "down"
            if self.minor >= 26:
                msg = "Scaled %s replica set %s to %d from %d" % (op, name_of(rs), n, old)
            else:
                msg = "Scaled %s replica set %s to %d" % (op, name_of(rs), n)
            self.emit_event(d, "Normal", "ScalingReplicaSet", msg, "deployment-controller")
        return r

    def _copy_annotations(self, d, ann):
        skip = {"kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
                "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
                "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to"}
        for k, v in annotations_of(d).items():
            if k not in skip:
                ann[k] = v

    def _create_new_rs(self, d, revision, replicas, collision):
        spec = d["spec"]
        tmpl = deep(spec["template"])
        h = pod_template_hash(tmpl, collision)
        tmpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
        sel = deep(spec["selector"])
        sel.setdefault("matchLabels", {})["pod-template-hash"] = h
        surge, _ = self._surge_unavailable(d)
        ann = {}
        self._copy_annotations(d, ann)
        ann["deployment.kubernetes.io/desired-replicas"] = str(spec.get("replicas", 1))
        ann["deployment.kubernetes.io/max-replicas"] = str(spec.get("replicas", 1) + surge)
        ann["deployment.kubernetes.io/revision"] = str(revision)
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": "%s-%s" % (name_of(d), h), "namespace": ns_of(d), "uid": str(uuid.uuid4()),
                           "generation": 1, "creationTimestamp": now_ts(),
                           "labels": deep(tmpl["metadata"]["labels"]), "annotations": ann,
                           "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name_of(d),
                                                "uid": uid_of(d), "controller": True, "blockOwnerDeletion": True}]},
              "spec": {"replicas": replicas, "selector": sel, "template": tmpl},
              "status": {"replicas": 0}}
        if spec.get("minReadySeconds"):
            rs["spec"]["minReadySeconds"] = spec["minReadySeconds"]
        self.store.put("replicasets", rs)
        if replicas > 0:
            if self.minor >= 26:
                msg = "Scaled up replica set %s to %d from 0" % (name_of(rs), replicas)
            else:
                msg = "Scaled up replica set %s to %d" % (name_of(rs), replicas)
            self.emit_event(d, "Normal", "ScalingReplicaSet", msg, "deployment-controller")
        return rs

    @staticmethod
    def _set_condition(conds, ctype, status, reason, message, t, keep_update_time=False):
        cur = next((c for c in conds if c.get("type") == ctype), None)
        if cur is not None and cur.get("status") == status and cur.get("reason") == reason:
            return conds
        cond = {"type": ctype, "status": status, "lastUpdateTime": t, "lastTransitionTime": t,
                "reason": reason, "message": message}
        if cur is not None and cur.get("status") == status:
            cond["lastTransitionTime"] = cur.get("lastTransitionTime")
        return [c for c in conds if c.get("type") != ctype] + [cond]

    def _reconcile_deployment(self, ns, name, now):
        d = self.store.get("deployments", ns, name)
        if d is None:
            return False
        changed = False
        spec = d["spec"]
        replicas = spec.get("replicas", 1)
        paused = bool(spec.get("paused"))
        has_deadline = spec.get("progressDeadlineSeconds") is not None and \
            spec.get("progressDeadlineSeconds") != 2147483647
        status = deep(d.get("status") or {})
        conds = list(status.get("conditions") or [])
        t = now_ts(now)
        rss = [rs for rs in self.store.items("replicasets", ns)
               if (controller_ref(rs) or {}).get("uid") == uid_of(d)]
        new_rs = self._find_new_rs(d, rss)
        max_rev = max([self._revision(rs) for rs in rss] or [0])
        settings = self.settings(ns, name)
        if new_rs is None and not paused:
            old_count = sum((rs["spec"].get("replicas", 0)) for rs in rss)
            surge, _ = self._surge_unavailable(d)
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                first = 0 if old_count > 0 else replicas
            else:
                first = max(0, min(replicas + surge - old_count, replicas))
            collision = status.get("collisionCount", 0)
            while True:
                h = pod_template_hash(spec["template"], collision)
                clash = self.store.get("replicasets", ns, "%s-%s" % (name, h))
                if clash is None:
                    break
                collision += 1
            if collision != status.get("collisionCount", 0):
                status["collisionCount"] = collision
            new_rs = self._create_new_rs(d, max_rev + 1, first, collision)
            if settings["broken"]:
                self.bad_rs.add(uid_of(new_rs))
            rss.append(new_rs)
            changed = True
            if has_deadline:
                conds = self._set_condition(conds, "Progressing", "True", "NewReplicaSetCreated",
                                            'Created new replica set "%s"' % name_of(new_rs), t)
        elif new_rs is not None and self._revision(new_rs) < max_rev and not paused:
            # Rolling back to an old template: the old ReplicaSet is reused with a new revision.
            r = deep(new_rs)
            ann = md(r).setdefault("annotations", {})
            old_rev = ann.get("deployment.kubernetes.io/revision")
            ann["deployment.kubernetes.io/revision"] = str(max_rev + 1)
            if old_rev:
                hist = [x for x in ann.get("deployment.kubernetes.io/revision-history", "").split(",") if x]
                ann["deployment.kubernetes.io/revision-history"] = ",".join(hist + [old_rev])
            self._copy_annotations(d, ann)
            self.write("replicasets", r)
            new_rs = r
            rss = [r if uid_of(x) == uid_of(r) else x for x in rss]
            changed = True
        elif new_rs is not None and has_deadline and not any(c.get("type") == "Progressing" for c in conds):
            conds = self._set_condition(conds, "Progressing", "True", "FoundNewReplicaSet",
                                        'Found new replica set "%s"' % name_of(new_rs), t)
        # The deployment carries its new ReplicaSet's revision.
        if new_rs is not None:
            rev = annotations_of(new_rs).get("deployment.kubernetes.io/revision")
            if rev and annotations_of(d).get("deployment.kubernetes.io/revision") != rev:
                nd = deep(d)
                md(nd).setdefault("annotations", {})["deployment.kubernetes.io/revision"] = rev
                self.store.put("deployments", nd)
                d = nd
                changed = True
        old_rss = [rs for rs in rss if new_rs is None or uid_of(rs) != uid_of(new_rs)]

        def cur_rs(rs):
            return self.store.get("replicasets", ns, name_of(rs)) or rs

        active = [rs for rs in rss if cur_rs(rs)["spec"].get("replicas", 0) > 0]
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        if new_rs is not None and (not active or active == [new_rs] or
                                   (len(active) == 1 and uid_of(active[0]) == uid_of(new_rs))):
            if cur_rs(new_rs)["spec"].get("replicas", 0) != replicas:
                self._scale_rs(cur_rs(new_rs), replicas, d)
                changed = True
        elif new_rs is None or paused:
            if len(active) == 1 and cur_rs(active[0])["spec"].get("replicas", 0) != replicas:
                self._scale_rs(cur_rs(active[0]), replicas, d)
                changed = True
        elif strategy == "Recreate":
            if any(cur_rs(rs)["spec"].get("replicas", 0) > 0 for rs in old_rss):
                for rs in old_rss:
                    if cur_rs(rs)["spec"].get("replicas", 0) > 0:
                        self._scale_rs(cur_rs(rs), 0, d)
                        changed = True
            elif all(cur_rs(rs).get("status", {}).get("replicas", 0) == 0 for rs in old_rss) and \
                    cur_rs(new_rs)["spec"].get("replicas", 0) != replicas:
                self._scale_rs(cur_rs(new_rs), replicas, d)
                changed = True
        else:
            changed |= self._rolling(d, new_rs, old_rss, cur_rs)
        # Old ReplicaSets beyond revisionHistoryLimit are deleted once the rollout is done.
        rss = [cur_rs(rs) for rs in rss if self.store.get("replicasets", ns, name_of(rs)) is not None]
        limit = spec.get("revisionHistoryLimit", 10)
        idle = sorted([rs for rs in rss if (new_rs is None or uid_of(rs) != uid_of(new_rs))
                       and rs["spec"].get("replicas", 0) == 0 and (rs.get("status") or {}).get("replicas", 0) == 0],
                      key=lambda rs: self._revision(rs))
        while len(idle) > limit:
            victim = idle.pop(0)
            self._delete_object(RT_BY_PLURAL["replicasets"], victim)
            rss = [rs for rs in rss if uid_of(rs) != uid_of(victim)]
            changed = True
        # Status.
        new_cur = cur_rs(new_rs) if new_rs is not None else None
        spec_total = sum(rs["spec"].get("replicas", 0) for rs in rss)
        available = sum((rs.get("status") or {}).get("availableReplicas", 0) for rs in rss)
        ns_status = {}
        ns_status["observedGeneration"] = md(d).get("generation", 1)
        vals = {
            "replicas": sum((rs.get("status") or {}).get("replicas", 0) for rs in rss),
            "updatedReplicas": (new_cur.get("status") or {}).get("replicas", 0) if new_cur else 0,
            "readyReplicas": sum((rs.get("status") or {}).get("readyReplicas", 0) for rs in rss),
            "availableReplicas": available,
            "unavailableReplicas": max(0, spec_total - available),
        }
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
            if vals[k]:
                ns_status[k] = vals[k]
        if available >= replicas - self._max_unavailable(d):
            conds = self._set_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                                        "Deployment has minimum availability.", t)
        else:
            conds = self._set_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                                        "Deployment does not have minimum availability.", t)
        if not has_deadline:
            conds = [c for c in conds if c.get("type") != "Progressing"]
        cur_prog = next((c for c in (d.get("status") or {}).get("conditions") or [] if c.get("type") == "Progressing"),
                        None)
        old_st = d.get("status") or {}
        if paused and has_deadline:
            conds = self._set_condition(conds, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", t)
        elif has_deadline and not (vals["replicas"] == vals["updatedReplicas"] and cur_prog is not None and
                                   cur_prog.get("reason") == "NewReplicaSetAvailable"):
            rsname = name_of(new_rs) if new_rs is not None else None
            complete = (vals["updatedReplicas"] == replicas and vals["replicas"] == replicas and
                        vals["availableReplicas"] == replicas)
            progressing = (vals["updatedReplicas"] > old_st.get("updatedReplicas", 0) or
                           (vals["replicas"] - vals["updatedReplicas"]) <
                           (old_st.get("replicas", 0) - old_st.get("updatedReplicas", 0)) or
                           vals["readyReplicas"] > old_st.get("readyReplicas", 0) or
                           vals["availableReplicas"] > old_st.get("availableReplicas", 0))
            prog = next((c for c in conds if c.get("type") == "Progressing"), None)
            if complete:
                msg = ('ReplicaSet "%s" has successfully progressed.' % rsname) if rsname else \
                    'Deployment "%s" has successfully progressed.' % name
                conds = self._set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable", msg, t)
            elif progressing:
                msg = ('ReplicaSet "%s" is progressing.' % rsname) if rsname else 'Deployment "%s" is progressing.' % name
                cond = {"type": "Progressing", "status": "True", "lastUpdateTime": t, "lastTransitionTime": t,
                        "reason": "ReplicaSetUpdated", "message": msg}
                if prog is not None and prog.get("status") == "True":
                    cond["lastTransitionTime"] = prog.get("lastTransitionTime")
                conds = [c for c in conds if c.get("type") != "Progressing"] + [cond]
            elif prog is not None and prog.get("reason") != "NewReplicaSetAvailable":
                deadline = parse_ts(prog.get("lastUpdateTime")) + spec["progressDeadlineSeconds"]
                if prog.get("reason") == "ProgressDeadlineExceeded" or now > deadline:
                    msg = ('ReplicaSet "%s" has timed out progressing.' % rsname) if rsname else \
                        'Deployment "%s" has timed out progressing.' % name
                    conds = self._set_condition(conds, "Progressing", "False", "ProgressDeadlineExceeded", msg, t)
                else:
                    self.add_wakeup(deadline + 0.05)
        if conds:
            ns_status["conditions"] = conds
        if status.get("collisionCount"):
            ns_status["collisionCount"] = status["collisionCount"]
        d = self.store.get("deployments", ns, name)
        if canonical(d.get("status") or {}) != canonical(ns_status):
            nd = deep(d)
            nd["status"] = ns_status
            self.store.put("deployments", nd)
            changed = True
        return changed

    def _rolling(self, d, new_rs, old_rss, cur_rs):
        spec = d["spec"]
        replicas = spec.get("replicas", 1)
        changed = False
        surge, _ = self._surge_unavailable(d)
        new = cur_rs(new_rs)
        allrs = [cur_rs(rs) for rs in old_rss] + [new]
        # reconcileNewReplicaSet
        nrep = new["spec"].get("replicas", 0)
        if nrep > replicas:
            self._scale_rs(new, replicas, d)
            return True
        if nrep < replicas:
            current = sum(rs["spec"].get("replicas", 0) for rs in allrs)
            max_total = replicas + surge
            if current < max_total:
                up = min(max_total - current, replicas - nrep)
                self._scale_rs(new, nrep + up, d)
                return True
        # reconcileOldReplicaSets
        olds = sorted([cur_rs(rs) for rs in old_rss], key=lambda rs: (md(rs).get("creationTimestamp", ""),
                                                                        self._revision(rs)))
        if sum(rs["spec"].get("replicas", 0) for rs in olds) == 0:
            return changed
        new = cur_rs(new_rs)
        allrs = olds + [new]
        all_count = sum(rs["spec"].get("replicas", 0) for rs in allrs)
        min_available = replicas - self._max_unavailable(d)
        new_unavail = new["spec"].get("replicas", 0) - (new.get("status") or {}).get("availableReplicas", 0)
        max_down = all_count - min_available - new_unavail
        if max_down <= 0:
            return changed
        done = 0
        for i, rs in enumerate(olds):
            if done >= max_down:
                break
            r = rs["spec"].get("replicas", 0)
            avail = (rs.get("status") or {}).get("availableReplicas", 0)
            if r == 0 or r == avail:
                continue
            n = min(max_down - done, r - avail)
            olds[i] = self._scale_rs(rs, r - n, d)
            done += n
            changed = True
        allrs = olds + [cur_rs(new_rs)]
        available = sum((rs.get("status") or {}).get("availableReplicas", 0) for rs in allrs)
        if available <= min_available:
            return changed
        total_down = available - min_available
        scaled = 0
        for rs in olds:
            if scaled >= total_down:
                break
            r = rs["spec"].get("replicas", 0)
            if r == 0:
                continue
            n = min(r, total_down - scaled)
            self._scale_rs(rs, r - n, d)
            scaled += n
            changed = True
        return changed

    # replica set controller

    def _new_pod_from_template(self, owner, owner_kind, name, template, node=None, extra_labels=None):
        tmpl = deep(template or {})
        tm = tmpl.get("metadata") or {}
        labels = deep(tm.get("labels") or {})
        labels.update(extra_labels or {})
        meta = {"name": name, "namespace": ns_of(owner), "uid": str(uuid.uuid4()), "creationTimestamp": now_ts(),
                "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner_kind, "name": name_of(owner),
                                     "uid": uid_of(owner), "controller": True, "blockOwnerDeletion": True}]}
        if owner_kind in ("ReplicaSet", "DaemonSet"):
            meta = {"name": name, "generateName": name_of(owner) + "-", **{k: v for k, v in meta.items() if k != "name"}}
        if tm.get("annotations"):
            meta["annotations"] = deep(tm["annotations"])
        pspec = deep(tmpl.get("spec") or {})
        if node:
            pspec["nodeName"] = node
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pspec, "status": {"phase": "Pending"}}
        apply_defaults("pods", pod, self.version)
        pod["status"]["qosClass"] = self._qos(pod)
        self.store.put("pods", pod)
        self.pod_runtime[uid_of(pod)] = {"scheduled_at": time.time() if node else None, "ready": False, "state": None}
        return pod

    @staticmethod
    def _pod_ready(pod):
        if md(pod).get("deletionTimestamp"):
            return False
        for c in (pod.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready":
                return c.get("status") == "True"
        return False

    def _owned_pods(self, owner):
        return [p for p in self.store.items("pods", ns_of(owner))
                if (controller_ref(p) or {}).get("uid") == uid_of(owner)]

    def _reconcile_rs(self, ns, name):
        rs = self.store.get("replicasets", ns, name)
        if rs is None:
            return False
        changed = False
        want = rs["spec"].get("replicas", 1)
        # ControllerRefManager: a pod whose labels no longer match the selector is released
        # (its controller ownerReference removed); the pod keeps running and is replaced.
        for p in self._owned_pods(rs):
            if not md(p).get("deletionTimestamp") and not selector_matches(rs["spec"].get("selector"), labels_of(p)):
                q = deep(p)
                refs = [r for r in md(q).get("ownerReferences") or [] if r.get("uid") != uid_of(rs)]
                if refs:
                    md(q)["ownerReferences"] = refs
                else:
                    md(q).pop("ownerReferences", None)
                self.store.put("pods", q)
                changed = True
        # ... and a pod without a controller whose labels match is adopted (e.g. a quarantined
        # pod whose labels are put back), unless either is being deleted.
        if not md(rs).get("deletionTimestamp"):
            for p in self.store.items("pods", ns):
                if (controller_ref(p) is None and not md(p).get("deletionTimestamp")
                        and selector_matches(rs["spec"].get("selector"), labels_of(p))):
                    q = deep(p)
                    md(q)["ownerReferences"] = (md(q).get("ownerReferences") or []) + [{
                        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name, "uid": uid_of(rs),
                        "controller": True, "blockOwnerDeletion": True}]
                    self.store.put("pods", q)
                    changed = True
        pods = [p for p in self._owned_pods(rs) if not md(p).get("deletionTimestamp")]
        while len(pods) < want:
            pname = "%s-%s" % (name, rand_suffix())
            if self.store.get("pods", ns, pname) is not None:
                continue
            p = self._new_pod_from_template(rs, "ReplicaSet", pname, rs["spec"].get("template"))
            self.emit_event(rs, "Normal", "SuccessfulCreate", "Created pod: %s" % pname, "replicaset-controller")
            pods.append(p)
            changed = True
        if len(pods) > want:
            def rank(p):
                st = p.get("status") or {}
                phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(st.get("phase"), 3)
                return (bool((p.get("spec") or {}).get("nodeName")), phase_rank, self._pod_ready(p),
                        -parse_ts(md(p).get("creationTimestamp")), name_of(p))
            for p in sorted(pods, key=rank)[:len(pods) - want]:
                self._delete_object(RT_BY_PLURAL["pods"], p)
                self.emit_event(rs, "Normal", "SuccessfulDelete", "Deleted pod: %s" % name_of(p),
                                "replicaset-controller")
                changed = True
            pods = [p for p in self._owned_pods(rs) if not md(p).get("deletionTimestamp")]
        ready = sum(1 for p in pods if self._pod_ready(p))
        tlabels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        st = {"replicas": len(pods)}
        fully = sum(1 for p in pods if all(labels_of(p).get(k) == v for k, v in tlabels.items()))
        if fully:
            st["fullyLabeledReplicas"] = fully
        if ready:
            st["readyReplicas"] = ready
            st["availableReplicas"] = ready
        st["observedGeneration"] = md(rs).get("generation", 1)
        rs = self.store.get("replicasets", ns, name)
        if canonical(rs.get("status") or {}) != canonical(st):
            r = deep(rs)
            r["status"] = st
            self.store.put("replicasets", r)
            changed = True
        return changed

    # stateful set controller (simplified: creates missing ordinals, replaces outdated pods)

    def _reconcile_sts(self, ns, name):
        s = self.store.get("statefulsets", ns, name)
        if s is None:
            return False
        changed = False
        spec = s["spec"]
        want = spec.get("replicas", 1)
        update_rev = "%s-%s" % (name, pod_template_hash(spec.get("template")))
        pods = {}
        for p in self._owned_pods(s):
            m = re.match(r"^%s-(\d+)$" % re.escape(name), name_of(p))
            if m:
                pods[int(m.group(1))] = p
        for i in sorted(pods, reverse=True):
            if i >= want:
                self._delete_object(RT_BY_PLURAL["pods"], pods.pop(i))
                self.emit_event(s, "Normal", "SuccessfulDelete", "delete Pod %s-%d in StatefulSet %s successful"
                                % (name, i, name), "statefulset-controller")
                changed = True
        outdated = [i for i in sorted(pods, reverse=True)
                    if labels_of(pods[i]).get("controller-revision-hash") != update_rev]
        if outdated and (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
            partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
            i = outdated[0]
            if i >= partition and all(self._pod_ready(pods[j]) for j in pods if j != i):
                self._delete_object(RT_BY_PLURAL["pods"], pods.pop(i))
                changed = True
        for i in range(want):
            if i not in pods:
                if spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady" and \
                        not all(self._pod_ready(pods[j]) for j in pods if j < i):
                    break
                extra = {"controller-revision-hash": update_rev, "statefulset.kubernetes.io/pod-name": "%s-%d" % (name, i)}
                if self.minor >= 28:
                    extra["apps.kubernetes.io/pod-index"] = str(i)
                tmpl = deep(spec.get("template") or {})
                tmpl.setdefault("spec", {})["hostname"] = "%s-%d" % (name, i)
                if spec.get("serviceName"):
                    tmpl["spec"]["subdomain"] = spec["serviceName"]
                pods[i] = self._new_pod_from_template(s, "StatefulSet", "%s-%d" % (name, i), tmpl,
                                                      extra_labels=extra)
                self.emit_event(s, "Normal", "SuccessfulCreate", "create Pod %s-%d in StatefulSet %s successful"
                                % (name, i, name), "statefulset-controller")
                changed = True
        plist = list(pods.values())
        updated = sum(1 for p in plist if labels_of(p).get("controller-revision-hash") == update_rev)
        cur_rev = (s.get("status") or {}).get("currentRevision") or update_rev
        if updated == len(plist) == want:
            cur_rev = update_rev
        current = sum(1 for p in plist if labels_of(p).get("controller-revision-hash") == cur_rev)
        ready = sum(1 for p in plist if self._pod_ready(p))
        st = {"observedGeneration": md(s).get("generation", 1), "replicas": len(plist)}
        if ready:
            st["readyReplicas"] = ready
        if current:
            st["currentReplicas"] = current
        if updated:
            st["updatedReplicas"] = updated
        st["currentRevision"] = cur_rev
        st["updateRevision"] = update_rev
        st["collisionCount"] = 0
        st["availableReplicas"] = ready
        s = self.store.get("statefulsets", ns, name)
        if canonical(s.get("status") or {}) != canonical(st):
            n = deep(s)
            n["status"] = st
            self.store.put("statefulsets", n)
            changed = True
        return changed

    # daemon set controller

    def _reconcile_ds(self, ns, name):
        ds = self.store.get("daemonsets", ns, name)
        if ds is None:
            return False
        changed = False
        spec = ds["spec"]
        rev = pod_template_hash(spec.get("template"))
        sel = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
        nodes = [n for n in self.store.items("nodes") if all(labels_of(n).get(k) == v for k, v in sel.items())]
        node_names = {name_of(n) for n in nodes}
        pods = self._owned_pods(ds)
        for p in pods:
            node = (p.get("spec") or {}).get("nodeName")
            if node not in node_names or labels_of(p).get("controller-revision-hash") != rev:
                self._delete_object(RT_BY_PLURAL["pods"], p)
                self.emit_event(ds, "Normal", "SuccessfulDelete", "Deleted pod: %s" % name_of(p), "daemonset-controller")
                changed = True
        pods = self._owned_pods(ds)
        have = {(p.get("spec") or {}).get("nodeName") for p in pods}
        for n in nodes:
            if name_of(n) in have:
                continue
            tmpl = deep(spec.get("template") or {})
            ts = tmpl.setdefault("spec", {})
            tols = ts.setdefault("tolerations", [])
            for key, effect in (("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
                                ("node.kubernetes.io/disk-pressure", "NoSchedule"),
                                ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                                ("node.kubernetes.io/pid-pressure", "NoSchedule"),
                                ("node.kubernetes.io/unschedulable", "NoSchedule")):
                tols.append({"key": key, "operator": "Exists", "effect": effect})
            ts["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [name_of(n)]}]}]}}}
            p = self._new_pod_from_template(ds, "DaemonSet", "%s-%s" % (name, rand_suffix()), tmpl, node=name_of(n),
                                            extra_labels={"controller-revision-hash": rev, "pod-template-generation":
                                                          str(md(ds).get("generation", 1))})
            self.emit_event(ds, "Normal", "SuccessfulCreate", "Created pod: %s" % name_of(p), "daemonset-controller")
            changed = True
        pods = self._owned_pods(ds)
        ready = sum(1 for p in pods if self._pod_ready(p))
        updated = sum(1 for p in pods if labels_of(p).get("controller-revision-hash") == rev)
        st = {"currentNumberScheduled": len(pods), "numberMisscheduled": 0, "desiredNumberScheduled": len(nodes),
              "numberReady": ready, "observedGeneration": md(ds).get("generation", 1)}
        if updated:
            st["updatedNumberScheduled"] = updated
        if ready:
            st["numberAvailable"] = ready
        if len(nodes) - ready > 0:
            st["numberUnavailable"] = len(nodes) - ready
        ds = self.store.get("daemonsets", ns, name)
        if canonical(ds.get("status") or {}) != canonical(st):
            n = deep(ds)
            n["status"] = st
            self.store.put("daemonsets", n)
            changed = True
        return changed

    # HPA controller: without metrics it only keeps the target within [minReplicas, maxReplicas]

    def _hpa_controller(self):
        changed = False
        for h in list(self.store.items("horizontalpodautoscalers")):
            spec = h.get("spec") or {}
            ref = spec.get("scaleTargetRef") or {}
            trt = {"Deployment": "deployments", "StatefulSet": "statefulsets", "ReplicaSet": "replicasets"}.get(
                ref.get("kind"))
            target = self.store.get(trt, ns_of(h), ref.get("name")) if trt else None
            st = deep(h.get("status") or {})
            conds = []
            t = now_ts()
            old_conds = {c.get("type"): c for c in st.get("conditions") or []}

            def cond(ctype, status, reason, message):
                oc = old_conds.get(ctype)
                ltt = oc.get("lastTransitionTime") if oc and oc.get("status") == status else t
                conds.append({"type": ctype, "status": status, "lastTransitionTime": ltt, "reason": reason,
                              "message": message})

            if target is None:
                cond("AbleToScale", "False", "FailedGetScale",
                     "the HPA controller was unable to get the target's current scale: %s" %
                     ('%s.apps "%s" not found' % (trt or (ref.get("kind") or "").lower(), ref.get("name"))))
                new_st = {"currentReplicas": st.get("currentReplicas", 0), "desiredReplicas": st.get("desiredReplicas", 0)}
            else:
                current = target["spec"].get("replicas", 1)
                mn, mx = spec.get("minReplicas", 1), spec.get("maxReplicas", 1)
                desired, limited = current, None
                if current == 0 and mn != 0:
                    desired = 0
                elif current > mx:
                    desired, limited = mx, ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
                elif current < mn:
                    desired, limited = mn, ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
                new_st = {}
                if desired != current:
                    tt = deep(target)
                    tt["spec"]["replicas"] = desired
                    md(tt)["generation"] = md(tt).get("generation", 1) + 1
                    self.store.put(trt, tt)
                    reason = "Current number of replicas above Spec.MaxReplicas" if desired < current else \
                        "Current number of replicas below Spec.MinReplicas"
                    self.emit_event(h, "Normal", "SuccessfulRescale", "New size: %d; reason: %s" % (desired, reason),
                                    "horizontal-pod-autoscaler")
                    new_st["lastScaleTime"] = t
                    changed = True
                elif st.get("lastScaleTime"):
                    new_st["lastScaleTime"] = st["lastScaleTime"]
                new_st["currentReplicas"] = (target.get("status") or {}).get("replicas", 0)
                new_st["desiredReplicas"] = desired
                cond("AbleToScale", "True", "SucceededRescale" if desired != current else "ReadyForNewScale",
                     "the HPA controller was able to update the target scale to %d" % desired
                     if desired != current else "recommended size matches current size")
                cond("ScalingActive", "False", "FailedGetResourceMetric",
                     "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get "
                     "metrics for resource cpu: unable to fetch metrics from resource metrics API: the server could not "
                     "find the requested resource (get pods.metrics.k8s.io)")
                if limited:
                    cond("ScalingLimited", "True", limited[0], limited[1])
                elif "ScalingLimited" in old_conds:
                    cond("ScalingLimited", "False", "DesiredWithinRange", "the desired count is within the acceptable range")
            new_st["observedGeneration"] = md(h).get("generation", 1)
            if st.get("currentMetrics") is not None:
                new_st["currentMetrics"] = st["currentMetrics"]
            new_st["conditions"] = conds
            h = self.store.get("horizontalpodautoscalers", ns_of(h), name_of(h))
            if canonical(h.get("status") or {}) != canonical(new_st):
                n = deep(h)
                n["status"] = new_st
                self.store.put("horizontalpodautoscalers", n)
                changed = True
        return changed

    # PDB controller

    def _pdb_pods(self, pdb):
        sel = (pdb.get("spec") or {}).get("selector")
        if sel is None:
            return []
        return [p for p in self.store.items("pods", ns_of(pdb)) if selector_matches(sel, labels_of(p))]

    def _expected_scale(self, pods):
        seen, total = set(), 0
        for p in pods:
            ref = controller_ref(p)
            if not ref or ref.get("uid") in seen:
                continue
            seen.add(ref.get("uid"))
            plural = {"ReplicaSet": "replicasets", "StatefulSet": "statefulsets"}.get(ref.get("kind"))
            owner = self.store.get(plural, ns_of(p), ref.get("name")) if plural else None
            if owner is None:
                continue
            if plural == "replicasets":
                dref = controller_ref(owner)
                dep = self.store.get("deployments", ns_of(p), dref.get("name")) if dref and dref.get("kind") == "Deployment" else None
                if dep is not None:
                    if ("d", uid_of(dep)) in seen:
                        continue
                    seen.add(("d", uid_of(dep)))
                    total += dep["spec"].get("replicas", 1)
                    continue
            total += owner["spec"].get("replicas", 1)
        return total

    def _pdb_controller(self):
        changed = False
        now = time.time()
        for pdb in list(self.store.items("poddisruptionbudgets")):
            spec = pdb.get("spec") or {}
            pods = self._pdb_pods(pdb)
            if spec.get("maxUnavailable") is not None:
                expected = self._expected_scale(pods)
                desired = max(0, expected - int_or_percent(spec["maxUnavailable"], expected, True))
            elif spec.get("minAvailable") is not None and is_int(spec.get("minAvailable")):
                expected = len(pods)
                desired = spec["minAvailable"]
            elif spec.get("minAvailable") is not None:
                expected = self._expected_scale(pods)
                desired = int_or_percent(spec["minAvailable"], expected, True)
            else:
                expected, desired = len(pods), 0
            st = pdb.get("status") or {}
            disrupted = {k: v for k, v in (st.get("disruptedPods") or {}).items()
                         if self.store.get("pods", ns_of(pdb), k) is not None and parse_ts(v) + 120 > now}
            healthy = sum(1 for p in pods if self._pod_ready(p) and name_of(p) not in disrupted)
            allowed = healthy - desired
            if expected <= 0 or allowed <= 0:
                allowed = 0
            new = {"observedGeneration": md(pdb).get("generation", 1)}
            if disrupted:
                new["disruptedPods"] = disrupted
            new["disruptionsAllowed"] = allowed
            new["currentHealthy"] = healthy
            new["desiredHealthy"] = desired
            new["expectedPods"] = expected
            old_cond = next((c for c in st.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
            cstatus, reason = ("True", "SufficientPods") if allowed > 0 else ("False", "InsufficientPods")
            ltt = old_cond.get("lastTransitionTime") if old_cond and old_cond.get("status") == cstatus else now_ts()
            new["conditions"] = [{"type": "DisruptionAllowed", "status": cstatus, "observedGeneration":
                                  md(pdb).get("generation", 1), "lastTransitionTime": ltt, "reason": reason,
                                  "message": ""}]
            if canonical(st) != canonical(new):
                n = deep(pdb)
                n["status"] = new
                self.store.put("poddisruptionbudgets", n)
                changed = True
        return changed

    # -- deletion ------------------------------------------------------------------------------------

    def _delete_object(self, rt, obj):
        ns, name = ns_of(obj), name_of(obj)
        if self.store.get(rt.plural, ns, name) is None:
            return None
        if rt.plural == "pods":
            self.pod_runtime.pop(uid_of(obj), None)
            for key in [k for k in self.logs if k[0] == ns and k[1] == name]:
                del self.logs[key]
        if rt.plural == "replicasets":
            self.bad_rs.discard(uid_of(obj))
        final = self.store.remove(rt.plural, ns, name)
        if rt.plural == "namespaces":
            for other in RESOURCE_TYPES:
                if other.namespaced:
                    for o in list(self.store.items(other.plural, name)):
                        self._delete_object(other, o)
        return final

    # -- API: common pieces ----------------------------------------------------------------------

    def dry_run(self, params, options_kind):
        vals = params.get("dryRun") or []
        if not vals:
            return False
        for v in vals:
            if v != "All":
                raise err_invalid("meta.k8s.io", options_kind, "", [FieldError(
                    "NotSupported", "dryRun", GoRepr("[]string{%s}" % ", ".join(json.dumps(x) for x in vals)),
                    supported=["All"])])
        return True

    def decode_incoming(self, rt, version, obj, ns, old=None, is_patch=False):
        """Checks a request body (or a patched object) and converts it to the stored form."""
        if not isinstance(obj, dict):
            msg = "json: cannot unmarshal %s into Go value of type %s" % (json_type_name(obj), rt.kind)
            if is_patch:
                raise err_invalid("", "", "", [FieldError("Invalid", "patch", dumps(obj), msg)])
            raise err_bad_request('%s in version "%s" cannot be handled as a %s: %s' % (rt.kind, version, rt.kind, msg))
        expected = rt.api_version(version)
        av = obj.get("apiVersion")
        body_version = version
        if av and av != expected:
            g, _, v = av.rpartition("/")
            if g == rt.group and v in ("v1", "v1beta1", "v2", "v2beta2") and \
                    (rt.plural in ("horizontalpodautoscalers", "poddisruptionbudgets")):
                body_version = v
            else:
                raise err_bad_request("the API version in the data (%s) does not match the expected API version (%s)"
                                      % (av, expected))
        kind = obj.get("kind")
        if kind and kind != rt.kind:
            raise err_bad_request('%s in version "%s" cannot be handled as a %s: no kind "%s" is registered for '
                                  'version "%s"' % (kind, version, rt.kind, kind, expected))
        msg = type_check(rt.plural, rt.kind, obj)
        if msg:
            if is_patch:
                raise err_invalid("", "", "", [FieldError("Invalid", "patch", dumps(obj), msg)])
            raise err_bad_request('%s in version "%s" cannot be handled as a %s: %s' % (rt.kind, version, rt.kind, msg))
        obj = deep(obj)
        m = md(obj)
        if rt.namespaced:
            if m.get("namespace") and ns is not None and m["namespace"] != ns:
                raise err_bad_request("the namespace of the provided object does not match the namespace sent on "
                                      "the request")
            m["namespace"] = ns
        else:
            m.pop("namespace", None)
        if rt.plural != "events" and not isinstance(obj.get("spec"), dict):
            obj["spec"] = {}
        return from_version(rt, obj, body_version, old)

    def field_value(self, rt, obj, key):
        if key == "metadata.name":
            return name_of(obj)
        if key == "metadata.namespace":
            return ns_of(obj)
        if rt.plural == "events" and key == "source":
            return _dig(obj, "source.component")
        if key == "spec.unschedulable" or key == "spec.hostNetwork":
            return _dig(obj, key, "false")
        return _dig(obj, key)

    def list_filter(self, rt, params):
        try:
            lreqs = parse_label_selector((params.get("labelSelector") or [""])[-1])
            freqs = parse_field_selector((params.get("fieldSelector") or [""])[-1])
        except SelectorError as e:
            raise err_bad_request("unable to parse requirement: %s" % e)
        for k, _op, _v in freqs:
            if k not in rt.field_labels:
                raise err_bad_request("field label not supported: %s" % k)

        def match(obj):
            if not match_label_reqs(lreqs, labels_of(obj)):
                return False
            for k, op, v in freqs:
                val = self.field_value(rt, obj, k)
                if (op == "=" and val != v) or (op == "!=" and val == v):
                    return False
            return True
        return match

    # -- API: reads ------------------------------------------------------------------------------

    def api_get(self, rt, version, ns, name):
        with self.lock:
            obj = self.store.get(rt.plural, ns, name)
            if obj is None:
                raise err_not_found(rt.group, rt.plural, name)
            resp = Response(200, to_version(rt, obj, version))
            resp.table_source = (rt, [deep(obj)], version, {"resourceVersion": md(obj)["resourceVersion"]})
            return resp

    def api_list(self, rt, version, ns, params):
        match = self.list_filter(rt, params)
        limit = 0
        if params.get("limit"):
            try:
                limit = int(params["limit"][-1])
            except ValueError:
                raise err_bad_request('strconv.ParseInt: parsing "%s": invalid syntax' % params["limit"][-1])
        start = None
        cont = (params.get("continue") or [""])[-1]
        if cont:
            try:
                tok = json.loads(base64.b64decode(cont.encode()).decode())
                start = tuple(tok["start"])
            except (ValueError, KeyError, TypeError):
                raise err_bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                      "(version meta.k8s.io/v1)")
        with self.lock:
            items = [deep(o) for o in self.store.items(rt.plural, ns if rt.namespaced else None) if match(o)]
            rv = str(self.store.rv)
            if start is not None:
                items = [o for o in items if (ns_of(o), name_of(o)) >= start]
            meta = {"resourceVersion": rv}
            if limit > 0 and len(items) > limit:
                nxt = items[limit]
                meta["continue"] = base64.b64encode(dumps(
                    {"v": "meta.k8s.io/v1", "rv": int(rv), "start": [ns_of(nxt), name_of(nxt)]}).encode()).decode()
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            out = []
            for o in items:
                x = to_version(rt, o, version)
                x.pop("apiVersion", None)
                x.pop("kind", None)
                out.append(x)
        resp = Response(200, {"kind": rt.kind + "List", "apiVersion": rt.api_version(version), "metadata": meta,
                              "items": out})
        resp.table_source = (rt, items, version, meta)
        return resp

    def api_watch(self, rt, version, ns, params):
        match = self.list_filter(rt, params)
        if params.get("sendInitialEvents"):
            raise err_invalid("meta.k8s.io", "ListOptions", "", [FieldError(
                "Forbidden", "sendInitialEvents",
                detail="sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled")])
        try:
            timeout = min(int((params.get("timeoutSeconds") or ["1800"])[-1]), 3600)
        except ValueError:
            raise err_bad_request("timeoutSeconds must be an integer")
        rv_param = (params.get("resourceVersion") or [""])[-1]
        initial, expired = [], None
        with self.lock:
            if rv_param in ("", "0"):
                initial = [deep(o) for o in self.store.items(rt.plural, ns if rt.namespaced else None) if match(o)]
                last = self.store.rv
            else:
                try:
                    last = int(rv_param)
                except ValueError:
                    raise err_bad_request('resourceVersion: Invalid value: "%s": must be a number' % rv_param)
                if last < self.store.oldest_rv:
                    expired = ApiError(410, "Expired", "too old resource version: %d (%d)" % (last, self.store.oldest_rv))
        store = self.store

        def event(etype, obj):
            return {"type": etype, "object": to_version(rt, obj, version)}

        def gen():
            deadline = time.time() + timeout
            for o in initial:
                yield event("ADDED", o)
            if expired is not None:
                yield {"type": "ERROR", "object": expired.body()}
                return
            pos = last
            while True:
                with store.cond:
                    pending = []
                    for h in reversed(store.history):
                        if h[0] <= pos:
                            break
                        pending.append(h)
                    pending.reverse()
                    if not pending:
                        remaining = deadline - time.time()
                        if remaining <= 0 or store.closed:
                            return
                        store.cond.wait(min(remaining, 1.0))
                        if not (store.history and store.history[-1][0] > pos):
                            idle = True
                        else:
                            continue
                    else:
                        idle = False
                if idle:
                    yield None  # nothing happened: lets the writer check that the client is still there
                    continue
                for rv, plural, etype, obj, old in pending:
                    pos = rv
                    if plural != rt.plural or (ns is not None and rt.namespaced and ns_of(obj) != ns):
                        continue
                    newm = match(obj)
                    oldm = old is not None and match(old)
                    if etype == "ADDED" and newm:
                        yield event("ADDED", obj)
                    elif etype == "MODIFIED":
                        if newm and oldm:
                            yield event("MODIFIED", obj)
                        elif newm:
                            yield event("ADDED", obj)
                        elif oldm:
                            yield event("DELETED", obj)
                    elif etype == "DELETED" and (newm or oldm):
                        yield event("DELETED", obj)
                if time.time() > deadline or store.closed:
                    return
        resp = Response(200, stream=gen())
        resp.table_source = (rt, None, version, None)
        return resp

    # -- API: writes -----------------------------------------------------------------------------

    def api_create(self, rt, version, ns, body, params):
        dry = self.dry_run(params, "CreateOptions")
        with self.lock:
            obj = self.decode_incoming(rt, version, body, ns)
            m = md(obj)
            if not m.get("name") and m.get("generateName"):
                m["name"] = m["generateName"] + rand_suffix()
            name = m.get("name", "")
            if rt.namespaced and not self.namespace_exists(ns):
                raise err_not_found("", "namespaces", ns)
            apply_defaults(rt.plural, obj, self.version)
            errs = []
            if not name:
                errs.append(FieldError("Required", "metadata.name", detail="name or generateName is required"))
            else:
                errs += validate_name(name, "metadata.name", label=rt.plural == "namespaces")
            errs += validate_labels(m.get("labels"), "metadata.labels")
            errs += validate_object(rt.plural, obj, None)
            if errs:
                raise err_invalid(rt.group, rt.kind, name, errs)
            if m.get("resourceVersion"):
                raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
            if self.store.get(rt.plural, ns if rt.namespaced else "", name) is not None:
                raise err_already_exists(rt.group, rt.plural, name)
            m["uid"] = str(uuid.uuid4())
            m["creationTimestamp"] = now_ts()
            for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
                m.pop(k, None)
            if rt.has_generation:
                m["generation"] = 1
            if rt.plural == "pods":
                obj["status"] = {"phase": "Pending", "qosClass": self._qos(obj)}
            elif rt.plural == "namespaces":
                m.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
                obj["status"] = {"phase": "Active"}
            elif rt.plural == "horizontalpodautoscalers":
                obj["status"] = {"currentReplicas": 0, "desiredReplicas": 0}
            elif rt.has_status and rt.plural != "nodes":
                obj["status"] = {}
            if dry:
                return Response(201, to_version(rt, obj, version))
            self.store.put(rt.plural, obj)
            if rt.plural == "pods":
                self.pod_runtime[m["uid"]] = {"scheduled_at": time.time() if obj["spec"].get("nodeName") else None,
                                              "ready": False, "state": None}
            out = to_version(rt, obj, version)
            self.after_write()
            return Response(201, out)

    def _apply_update(self, rt, version, old, new, dry, subresource=None):
        name = name_of(old)
        rv = md(new).get("resourceVersion")
        if rv and rv != md(old).get("resourceVersion"):
            raise err_conflict(rt.group, rt.plural, name)
        if subresource == "status":
            result = deep(old)
            result["status"] = deep(new.get("status")) if isinstance(new.get("status"), dict) else {}
        else:
            result = new
            m, om = md(result), md(old)
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
                if k in om:
                    m[k] = om[k]
                else:
                    m.pop(k, None)
            m["name"] = om["name"]
            if rt.namespaced:
                m["namespace"] = om["namespace"]
            if rt.has_status:
                if "status" in old:
                    result["status"] = deep(old["status"])
                else:
                    result.pop("status", None)
            apply_defaults(rt.plural, result, self.version)
            errs = validate_labels(m.get("labels"), "metadata.labels") + validate_object(rt.plural, result, old)
            if errs:
                raise err_invalid(rt.group, rt.kind, name, errs)
            if rt.has_generation and canonical(old.get("spec")) != canonical(result.get("spec")):
                m["generation"] = om.get("generation", 1) + 1
        md(result)["resourceVersion"] = md(old)["resourceVersion"]
        if canonical(result) == canonical(old):
            return Response(200, to_version(rt, old, version), dry_run=dry)
        if dry:
            return Response(200, to_version(rt, result, version), dry_run=True)
        self.store.put(rt.plural, result)
        out = to_version(rt, result, version)
        self.after_write()
        return Response(200, out)

    def api_update(self, rt, version, ns, name, body, params, subresource=None):
        dry = self.dry_run(params, "UpdateOptions")
        with self.lock:
            old = self.store.get(rt.plural, ns, name)
            if old is None:
                raise err_not_found(rt.group, rt.plural, name)
            new = self.decode_incoming(rt, version, body, ns, old=old)
            if name_of(new) != name:
                raise err_bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                      % (name_of(new), name))
            return self._apply_update(rt, version, old, new, dry, subresource)

    PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
                   "application/strategic-merge-patch+json"]

    def parse_patch(self, raw, ctype):
        ptype = ctype.split(";")[0].strip().lower()
        if ptype not in self.PATCH_TYPES:
            raise err_unsupported_media(self.PATCH_TYPES)
        try:
            patch = json.loads(raw.decode("utf-8") if raw else "")
        except (ValueError, UnicodeDecodeError) as e:
            raise err_bad_request("error decoding patch: %s" % e)
        if ptype == "application/json-patch+json" and not isinstance(patch, list):
            raise err_bad_request("error decoding patch: json: cannot unmarshal %s into Go value of type "
                                  "[]interface {}" % json_type_name(patch))
        if ptype != "application/json-patch+json" and not isinstance(patch, dict):
            raise err_bad_request("error decoding patch: json: cannot unmarshal %s into Go value of type "
                                  "map[string]interface {}" % json_type_name(patch))
        return ptype, patch

    @staticmethod
    def apply_patch(ptype, doc, patch):
        try:
            if ptype == "application/json-patch+json":
                return json_patch(doc, patch)
            if ptype == "application/merge-patch+json":
                return merge_patch(doc, patch)
            return strategic_merge_patch(doc, patch)
        except PatchError as e:
            if ptype == "application/json-patch+json":
                raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                               status_details(causes=[{"message": str(e)}]))
            raise err_bad_request(str(e))
        except ValueError as e:
            raise err_bad_request(str(e))

    def api_patch(self, rt, version, ns, name, raw, ctype, params, subresource=None):
        ptype, patch = self.parse_patch(raw, ctype)
        dry = self.dry_run(params, "PatchOptions")
        with self.lock:
            old = self.store.get(rt.plural, ns, name)
            if old is None:
                raise err_not_found(rt.group, rt.plural + ("/scale" if subresource == "scale" else ""), name)
            if subresource == "scale":
                patched = self.apply_patch(ptype, self.scale_of(rt, old), patch)
                return self._scale_update(rt, old, patched, dry, is_patch=True)
            patched = self.apply_patch(ptype, to_version(rt, old, version), patch)
            new = self.decode_incoming(rt, version, patched, ns, old=old, is_patch=True)
            if name_of(new) != name:
                raise err_bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                      % (name_of(new), name))
            return self._apply_update(rt, version, old, new, dry, subresource)

    def delete_options(self, body, params):
        opts = {}
        if body:
            try:
                opts = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise err_bad_request("couldn't get version/kind; json parse error: %s" % e)
            if not isinstance(opts, dict):
                raise err_bad_request("json: cannot unmarshal %s into Go value of type v1.DeleteOptions"
                                      % json_type_name(opts))
        for key in ("gracePeriodSeconds", "propagationPolicy", "orphanDependents"):
            if params.get(key):
                v = params[key][-1]
                if key == "gracePeriodSeconds":
                    try:
                        v = int(v)
                    except ValueError:
                        raise err_bad_request('strconv.ParseInt: parsing "%s": invalid syntax' % v)
                if key == "orphanDependents":
                    v = v in ("true", "1")
                opts[key] = v
        if params.get("dryRun"):
            opts["dryRun"] = params["dryRun"]
        dry = self.dry_run({"dryRun": opts.get("dryRun") or []}, "DeleteOptions")
        policy = opts.get("propagationPolicy")
        if policy is None and opts.get("orphanDependents") is not None:
            policy = "Orphan" if opts["orphanDependents"] else "Background"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise err_invalid("meta.k8s.io", "DeleteOptions", "", [FieldError(
                "NotSupported", "propagationPolicy", policy, supported=["Foreground", "Background", "Orphan", "nil"])])
        return opts, policy or "Background", dry

    def check_preconditions(self, rt, obj, pre):
        pre = pre or {}
        if pre.get("uid") and pre["uid"] != uid_of(obj):
            raise err_conflict(rt.group, rt.plural, name_of(obj), "Precondition failed: UID in precondition: %s, UID "
                               "in object meta: %s" % (pre["uid"], uid_of(obj)))
        rv = md(obj).get("resourceVersion")
        if pre.get("resourceVersion") and pre["resourceVersion"] != rv:
            raise err_conflict(rt.group, rt.plural, name_of(obj), "the ResourceVersion in the precondition (%s) does "
                               "not match the ResourceVersion in record (%s). The object might have been modified"
                               % (pre["resourceVersion"], rv))

    def _deleted_response(self, rt, obj, version, opts, final_rv=None):
        if rt.plural == "pods":
            out = to_version(rt, obj, version)
            grace = opts.get("gracePeriodSeconds")
            if grace is None:
                grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            md(out)["deletionTimestamp"] = now_ts(time.time() + max(0, grace))
            md(out)["deletionGracePeriodSeconds"] = max(0, grace)
            if final_rv:
                md(out)["resourceVersion"] = final_rv
            return out
        if rt.plural == "namespaces":
            out = to_version(rt, obj, version)
            md(out)["deletionTimestamp"] = now_ts()
            out["status"] = {"phase": "Terminating"}
            if final_rv:
                md(out)["resourceVersion"] = final_rv
            return out
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": status_details(name_of(obj), rt.group, rt.plural, uid_of(obj))}

    def api_delete(self, rt, version, ns, name, body, params):
        opts, policy, dry = self.delete_options(body, params)
        with self.lock:
            obj = self.store.get(rt.plural, ns, name)
            if obj is None:
                raise err_not_found(rt.group, rt.plural, name)
            self.check_preconditions(rt, obj, opts.get("preconditions"))
            if dry:
                return Response(200, self._deleted_response(rt, obj, version, opts), dry_run=True)
            if rt.plural == "pods" and md(obj).get("deletionTimestamp"):
                return Response(200, to_version(rt, obj, version))  # already terminating
            if policy == "Orphan":
                self._orphan_dependents(obj)
            if rt.plural == "pods":
                final = self._terminate_pod(obj, opts.get("gracePeriodSeconds"))
            else:
                final = self._delete_object(rt, obj)
            out = self._deleted_response(rt, obj, version, opts, md(final)["resourceVersion"])
            self.after_write()
            return Response(200, out)

    def _terminate_pod(self, pod, grace):
        """A graceful delete: the pod stays, Terminating, until the kubelet confirms it stopped
        (after min(grace, pod_termination) seconds); with pod_termination 0 it goes at once."""
        if grace is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        grace = max(0, int(grace))
        hold = min(grace, self.pod_termination)
        if hold <= 0:
            return self._delete_object(RT_BY_PLURAL["pods"], pod)
        p = deep(pod)
        md(p)["deletionTimestamp"] = now_ts(time.time() + grace)
        md(p)["deletionGracePeriodSeconds"] = grace
        self.store.put("pods", p)
        self.terminating[uid_of(p)] = time.time() + hold
        self.add_wakeup(time.time() + hold)
        return self.store.get("pods", ns_of(p), name_of(p))

    def _kubelet_reap(self, now):
        """Pods whose graceful termination the kubelet has confirmed are removed."""
        changed = False
        for p in list(self.store.items("pods")):
            due = self.terminating.get(uid_of(p))
            if due is not None and due <= now:
                self.terminating.pop(uid_of(p), None)
                self._delete_object(RT_BY_PLURAL["pods"], p)
                changed = True
        return changed

    def _orphan_dependents(self, owner):
        for ort in RESOURCE_TYPES:
            for o in list(self.store.items(ort.plural)):
                refs = md(o).get("ownerReferences") or []
                keep = [r for r in refs if r.get("uid") != uid_of(owner)]
                if len(keep) != len(refs):
                    n = deep(o)
                    if keep:
                        md(n)["ownerReferences"] = keep
                    else:
                        md(n).pop("ownerReferences", None)
                    self.store.put(ort.plural, n)

    def api_delete_collection(self, rt, version, ns, body, params):
        match = self.list_filter(rt, params)
        opts, policy, dry = self.delete_options(body, params)
        with self.lock:
            victims = [o for o in self.store.items(rt.plural, ns if rt.namespaced else None) if match(o)]
            items = []
            for o in victims:
                x = to_version(rt, o, version)
                if not dry:
                    if policy == "Orphan":
                        self._orphan_dependents(o)
                    final = self._delete_object(rt, o)
                    md(x)["resourceVersion"] = md(final)["resourceVersion"]
                x.pop("apiVersion", None)
                x.pop("kind", None)
                items.append(x)
            rv = str(self.store.rv)
            if not dry:
                self.after_write()
        return Response(200, {"kind": rt.kind + "List", "apiVersion": rt.api_version(version),
                              "metadata": {"resourceVersion": rv}, "items": items}, dry_run=dry)

    # -- API: scale subresource ------------------------------------------------------------------

    def scale_of(self, rt, obj):
        m = md(obj)
        sc = {"kind": "Scale", "apiVersion": "autoscaling/v1",
              "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                           "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
              "spec": {}, "status": {"replicas": (obj.get("status") or {}).get("replicas", 0)}}
        r = (obj.get("spec") or {}).get("replicas", 1)
        if r:
            sc["spec"]["replicas"] = r
        sel = selector_string((obj.get("spec") or {}).get("selector"))
        if sel:
            sc["status"]["selector"] = sel
        return sc

    def api_scale_get(self, rt, ns, name):
        with self.lock:
            obj = self.store.get(rt.plural, ns, name)
            if obj is None:
                raise err_not_found(rt.group, rt.plural + "/scale", name)
            return Response(200, self.scale_of(rt, obj))

    def api_scale_update(self, rt, ns, name, body, params):
        dry = self.dry_run(params, "UpdateOptions")
        with self.lock:
            old = self.store.get(rt.plural, ns, name)
            if old is None:
                raise err_not_found(rt.group, rt.plural + "/scale", name)
            return self._scale_update(rt, old, body, dry)

    def _scale_update(self, rt, old, scale, dry, is_patch=False):
        name = name_of(old)
        if not isinstance(scale, dict):
            raise err_bad_request("json: cannot unmarshal %s into Go value of type autoscaling.Scale"
                                  % json_type_name(scale))
        if scale.get("kind") not in (None, "Scale") or scale.get("apiVersion") not in (None, "autoscaling/v1"):
            raise err_bad_request('%s in version "%s" cannot be handled as a Scale' % (
                scale.get("kind"), scale.get("apiVersion")))
        msg = type_check("Scale", "Scale", scale)
        if msg:
            if is_patch:
                raise err_invalid("", "", "", [FieldError("Invalid", "patch", dumps(scale), msg)])
            raise err_bad_request('Scale in version "v1" cannot be handled as a Scale: %s' % msg)
        sm = scale.get("metadata") or {}
        if sm.get("name") != name:
            raise err_bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                  % (sm.get("name", ""), name))
        if sm.get("namespace") and sm["namespace"] != ns_of(old):
            raise err_bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if replicas < 0:
            raise err_invalid("autoscaling", "Scale", name, [FieldError(
                "Invalid", "spec.replicas", replicas, "must be greater than or equal to 0")])
        rv = sm.get("resourceVersion")
        if rv and rv != md(old)["resourceVersion"]:
            raise err_conflict(rt.group, rt.plural, name)
        if old["spec"].get("replicas", 1) == replicas:
            return Response(200, self.scale_of(rt, old), dry_run=dry)
        new = deep(old)
        new["spec"]["replicas"] = replicas
        md(new)["generation"] = md(old).get("generation", 1) + 1
        if dry:
            return Response(200, self.scale_of(rt, new), dry_run=True)
        self.store.put(rt.plural, new)
        out = self.scale_of(rt, new)
        self.after_write()
        return Response(200, out)

    # -- API: pods/log and pods/eviction ---------------------------------------------------------

    def api_log(self, ns, name, params):
        def p1(key):
            return (params.get(key) or [None])[-1]

        with self.lock:
            pod = self.store.get("pods", ns, name)
            if pod is None:
                raise err_not_found("", "pods", name)
            spec = pod.get("spec") or {}
            names = [c.get("name") for c in spec.get("containers") or []]
            inits = [c.get("name") for c in spec.get("initContainers") or []]
            cname = p1("container")
            if not cname:
                if len(names) == 1:
                    cname = names[0]
                else:
                    msg = "a container name must be specified for pod %s, choose one of: [%s]" % (name, " ".join(names))
                    if inits:
                        msg += " or one of the init containers: [%s]" % " ".join(inits)
                    raise err_bad_request(msg)
            elif cname not in names + inits:
                raise err_bad_request("container %s is not valid for pod %s" % (cname, name))
            errs = []
            tail = limit = None
            for key in ("tailLines", "limitBytes", "sinceSeconds"):
                v = p1(key)
                if v is None:
                    continue
                try:
                    n = int(v)
                except ValueError:
                    raise err_bad_request('strconv.ParseInt: parsing "%s": invalid syntax' % v)
                if key == "tailLines":
                    tail = n
                    if n < 0:
                        errs.append(FieldError("Invalid", "tailLines", n, "must be greater than or equal to 0"))
                elif n < 1:
                    errs.append(FieldError("Invalid", key, n, "must be greater than 0"))
                elif key == "limitBytes":
                    limit = n
            if errs:
                raise err_invalid("", "PodLogOptions", name, errs)
            previous = p1("previous") in ("true", "1")
            if not spec.get("nodeName"):
                return Response(204, b"", ctype="text/plain")  # as the real server answers
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (cs.get("state") or {}).get("waiting")
                if cs.get("name") == cname and waiting and not previous and \
                        waiting.get("reason") not in ("CrashLoopBackOff", "RunContainerError"):
                    reason = waiting.get("reason", "")
                    if reason in ("ImagePullBackOff", "ErrImagePull"):
                        reason = "trying and failing to pull image"
                    raise err_bad_request('container "%s" in pod "%s" is waiting to start: %s' % (cname, name, reason))
            text = self.logs.get((ns, name, cname, previous))
            if previous and text is None:
                raise err_bad_request('previous terminated container "%s" in pod "%s" not found' % (cname, name))
            text = text or ""
            start = (pod.get("status") or {}).get("startTime") or md(pod).get("creationTimestamp")
        if tail is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:]) if tail > 0 else ""
        if p1("timestamps") in ("true", "1"):
            stamp = start.replace("Z", ".000000000Z")
            text = "".join("%s %s" % (stamp, line) for line in text.splitlines(keepends=True))
        data = text.encode("utf-8")
        if limit is not None:
            data = data[:limit]
        return Response(200, data, ctype="text/plain")

    def api_evict(self, ns, name, body, params):
        if not isinstance(body, dict):
            raise err_bad_request("json: cannot unmarshal %s into Go value of type policy.Eviction" % json_type_name(body))
        if body.get("kind") not in (None, "Eviction") or \
                body.get("apiVersion") not in (None, "policy/v1", "policy/v1beta1"):
            raise err_bad_request('%s in version "%s" cannot be handled as a Eviction' % (
                body.get("kind"), body.get("apiVersion")))
        bm = body.get("metadata") or {}
        if bm.get("name") != name:
            raise err_bad_request("name in URL does not match name in Eviction object")
        if bm.get("namespace") and bm["namespace"] != ns:
            raise err_bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
        qdry = params.get("dryRun") or []
        self.dry_run(params, "CreateOptions")
        dopts = body.get("deleteOptions") or {}
        bdry = dopts.get("dryRun") or []
        self.dry_run({"dryRun": bdry}, "DeleteOptions")
        if qdry and bdry and qdry != bdry:
            raise ApiError(500, "", "Non-matching dry-run options in request and content: %s and %s" % (qdry, bdry))
        dry = bool(qdry or bdry)
        success = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        prt = RT_BY_PLURAL["pods"]
        with self.lock:
            pod = self.store.get("pods", ns, name)
            if pod is None:
                raise err_not_found("", "pods", name)
            self.check_preconditions(prt, pod, dopts.get("preconditions"))
            phase = (pod.get("status") or {}).get("phase")
            if md(pod).get("deletionTimestamp"):
                return Response(201, success, dry_run=dry)  # terminating already: nothing more to do
            if phase in ("Succeeded", "Failed", "Pending"):
                if not dry:
                    self._terminate_pod(pod, dopts.get("gracePeriodSeconds"))
                    self.after_write()
                return Response(201, success, dry_run=dry)
            pdbs = [p for p in self.store.items("poddisruptionbudgets", ns)
                    if not selector_empty((p.get("spec") or {}).get("selector"))
                    and selector_matches(p["spec"]["selector"], labels_of(pod))]
            if len(pdbs) > 1:
                return Response(500, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": "This pod has more than one PodDisruptionBudget, which the eviction "
                                                 "subresource does not support.", "code": 500}, dry_run=dry)
            if pdbs:
                pdb = pdbs[0]
                st = pdb.get("status") or {}
                if not (not self._pod_ready(pod) and st.get("currentHealthy", 0) >= st.get("desiredHealthy", 0)
                        and st.get("desiredHealthy", 0) > 0):
                    if st.get("observedGeneration", 0) < md(pdb).get("generation", 1):
                        raise ApiError(429, "TooManyRequests",
                                       "Cannot evict pod as it would violate the pod's disruption budget.",
                                       status_details(causes=[{"reason": "DisruptionBudget", "message":
                                                               "The disruption budget %s is still being processed "
                                                               "by the server." % name_of(pdb)}], retry=10),
                                       headers={"Retry-After": "10"})
                    allowed = st.get("disruptionsAllowed", 0)
                    if allowed < 0:
                        raise err_forbidden("policy", "poddisruptionbudget", name_of(pdb),
                                            "pdb disruptions allowed is negative")
                    if allowed == 0:
                        raise ApiError(429, "TooManyRequests",
                                       "Cannot evict pod as it would violate the pod's disruption budget.",
                                       status_details(causes=[{"reason": "DisruptionBudget", "message":
                                                               "The disruption budget %s needs %d healthy pods and has "
                                                               "%d currently" % (name_of(pdb), st.get("desiredHealthy", 0),
                                                                                 st.get("currentHealthy", 0))}]))
                    if not dry:
                        n = deep(pdb)
                        nst = n.setdefault("status", {})
                        nst["disruptionsAllowed"] = allowed - 1
                        nst.setdefault("disruptedPods", {})[name] = now_ts()
                        self.store.put("poddisruptionbudgets", n)
            if not dry:
                self._terminate_pod(pod, dopts.get("gracePeriodSeconds"))
                self.after_write()
            return Response(201, success, dry_run=dry)

    # -- discovery -------------------------------------------------------------------------------

    def api_resource(self, rt, sub=None):
        if sub is None:
            e = {"name": rt.plural, "singularName": rt.singular if self.minor >= 27 else "",
                 "namespaced": rt.namespaced, "kind": rt.kind, "verbs": rt.verbs}
            if rt.short:
                e["shortNames"] = rt.short
            if rt.categories:
                e["categories"] = rt.categories
            digest = hashlib.sha256(("%s/%s/%s" % (rt.group, rt.storage_version, rt.kind)).encode()).digest()
            e["storageVersionHash"] = base64.b64encode(digest[:8]).decode()
            return e
        e = {"name": "%s/%s" % (rt.plural, sub), "singularName": "", "namespaced": rt.namespaced}
        if sub == "scale":
            e.update({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        elif sub == "eviction":
            e.update({"group": "policy", "version": "v1beta1" if self.version == "1.20" else "v1", "kind": "Eviction"})
        else:
            e["kind"] = rt.kind
        e["verbs"] = SUBRESOURCE_VERBS[sub]
        return e

    def discovery_resources(self, group, version):
        res = []
        for rt in sorted(RESOURCE_TYPES, key=lambda r: r.plural):
            if rt.group != group or version not in self.served_versions_of(rt):
                continue
            res.append(self.api_resource(rt))
            for sub in sorted(rt.subresources):
                res.append(self.api_resource(rt, sub))
        gv = "%s/%s" % (group, version) if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}

    def discovery_group(self, group):
        versions = dict(self.gvs).get(group)
        if not versions:
            return None
        vs = [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions]
        return {"name": group, "versions": vs, "preferredVersion": vs[0]}

    def route(self, method, path, params, body, ctype, port, accept=""):
        try:
            resp = self._route(method, path, params, body, ctype, port)
            tv = table_version(accept) if method == "GET" and resp.code == 200 else None
            if tv and resp.table_source is not None:
                rt, objs, version, meta = resp.table_source
                include = (params.get("includeObject") or ["Metadata"])[-1]
                if resp.stream is not None:
                    return Response(200, stream=table_events(resp.stream, rt, version, tv, include))
                return Response(200, to_table(rt, objs, version, tv, include, meta))
            return resp
        except ApiError as e:
            return Response(e.code, e.body(), headers=e.headers)
        except Exception as e:  # a bug in the fake: answer like the apiserver does, and say so
            traceback.print_exc()
            return Response(500, err_internal("fake-k8s: %s: %s" % (type(e).__name__, e)).body())

    def not_found(self):
        if self.version == "1.20":
            return Response(404, b"404 page not found\n", ctype="text/plain; charset=utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})
        raise err_generic_not_found()

    def json_body(self, body, ctype):
        ct = ctype.split(";")[0].strip().lower()
        if ct not in ("", "application/json", "application/yaml", "*/*"):
            raise err_unsupported_media(["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"])
        try:
            return json.loads(body.decode("utf-8") if body else "")
        except (ValueError, UnicodeDecodeError) as e:
            raise err_bad_request("couldn't get version/kind; json parse error: %s" % e)

    def _route(self, method, path, params, body, ctype, port):
        segs = [urllib.parse.unquote(s) for s in path.split("/") if s]
        if method == "GET" and path.rstrip("/") == "/version":
            return Response(200, SERVER_VERSIONS[self.version])
        if method == "GET" and path in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", ctype="text/plain; charset=utf-8", headers={"X-Content-Type-Options": "nosniff"})
        if not segs:
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
            for g, vs in self.gvs:
                paths.append("/apis/" + g)
                paths.extend("/apis/%s/%s" % (g, v) for v in vs)
            return Response(200, {"paths": sorted(paths)})
        if segs[0] == "api":
            if len(segs) == 1:
                if method != "GET":
                    raise err_method_not_allowed()
                return Response(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % port}]})
            group, version, rest = "", segs[1], segs[2:]
        elif segs[0] == "apis":
            if len(segs) == 1:
                if method != "GET":
                    raise err_method_not_allowed()
                groups = [self.discovery_group(g) for g, _ in self.gvs]
                return Response(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
            group = segs[1]
            if len(segs) == 2:
                doc = self.discovery_group(group)
                if doc is None:
                    return self.not_found()
                return Response(200, dict({"kind": "APIGroup", "apiVersion": "v1"}, **doc))
            version, rest = segs[2], segs[3:]
        else:
            return self.not_found()
        if (group, version) not in self.served:
            return self.not_found()
        if not rest:
            if method != "GET":
                raise err_method_not_allowed()
            return Response(200, self.discovery_resources(group, version))
        watch = False
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
            if not rest:
                return self.not_found()
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            ns, rest = rest[1], rest[2:]
        rt = RT_BY_PLURAL.get(rest[0])
        if rt is None or rt.group != group or version not in self.served_versions_of(rt) or len(rest) > 3:
            return self.not_found()
        if ns is not None and not rt.namespaced:
            return self.not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rt.subresources:
            return self.not_found()
        if (params.get("watch") or [""])[-1] in ("true", "1"):
            watch = True
        if name is None:
            if method == "GET":
                return self.api_watch(rt, version, ns, params) if watch else self.api_list(rt, version, ns, params)
            if rt.namespaced and ns is None:
                raise err_method_not_allowed()
            if method == "POST":
                return self.api_create(rt, version, ns or "", self.json_body(body, ctype), params)
            if method == "DELETE" and "deletecollection" in rt.verbs:
                return self.api_delete_collection(rt, version, ns, body, params)
            raise err_method_not_allowed()
        if rt.namespaced and ns is None:
            return self.not_found()
        ns = ns or ""
        if watch:
            if method != "GET" or sub is not None:
                raise err_method_not_allowed()
            params = dict(params)
            fs = (params.get("fieldSelector") or [""])[-1]
            params["fieldSelector"] = ["metadata.name=%s" % name + ("," + fs if fs else "")]
            return self.api_watch(rt, version, ns if rt.namespaced else None, params)
        if sub is None:
            if method == "GET":
                return self.api_get(rt, version, ns, name)
            if method == "PUT":
                return self.api_update(rt, version, ns, name, self.json_body(body, ctype), params)
            if method == "PATCH":
                return self.api_patch(rt, version, ns, name, body, ctype, params)
            if method == "DELETE":
                return self.api_delete(rt, version, ns, name, body, params)
            raise err_method_not_allowed()
        if sub == "scale":
            if method == "GET":
                return self.api_scale_get(rt, ns, name)
            if method == "PUT":
                return self.api_scale_update(rt, ns, name, self.json_body(body, ctype), params)
            if method == "PATCH":
                return self.api_patch(rt, version, ns, name, body, ctype, params, subresource="scale")
            raise err_method_not_allowed()
        if sub == "status":
            if method == "GET":
                return self.api_get(rt, version, ns, name)
            if method == "PUT":
                return self.api_update(rt, version, ns, name, self.json_body(body, ctype), params, subresource="status")
            if method == "PATCH":
                return self.api_patch(rt, version, ns, name, body, ctype, params, subresource="status")
            raise err_method_not_allowed()
        if sub == "log":
            if method != "GET":
                raise err_method_not_allowed()
            return self.api_log(ns, name, params)
        if sub == "eviction":
            if method != "POST":
                raise err_method_not_allowed()
            return self.api_evict(ns, name, self.json_body(body, ctype), params)
        return self.not_found()


# ---------------------------------------------------------------------------------------------
# Faults and the request log


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []
        self.next_id = 1

    def add(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(spec) - {"method", "path_regex", "status", "times", "retry_after", "message", "delay",
                               "execute", "format", "close"}
        if unknown:
            raise ValueError("unknown fault keys: %s" % ", ".join(sorted(unknown)))
        status = spec.get("status")
        if not spec.get("close") and (not is_int(status) or not 400 <= status <= 599):
            raise ValueError("status must be an HTTP error code (400-599)")
        try:
            re.compile(spec.get("path_regex") or "")
        except re.error as e:
            raise ValueError("path_regex: %s" % e)
        times = spec.get("times", 1)
        if not is_int(times):
            raise ValueError("times must be an integer (0 or less: every matching request)")
        if spec.get("format") not in (None, "status", "text"):
            raise ValueError("format must be \"status\" or \"text\"")
        with self.lock:
            f = dict(spec)
            f["id"] = self.next_id
            f["times"] = times
            f["hits"] = 0
            self.next_id += 1
            self.items.append(f)
            return f["id"]

    def take(self, method, path):
        with self.lock:
            for f in self.items:
                if f.get("method") and f["method"] != "*" and f["method"].upper() != method:
                    continue
                if f.get("path_regex") and not re.search(f["path_regex"], path):
                    continue
                f["hits"] += 1
                if f["times"] > 0:
                    f["times"] -= 1
                    if f["times"] == 0:
                        self.items.remove(f)
                return dict(f)
        return None

    def list(self):
        with self.lock:
            return [dict(f) for f in self.items]

    def clear(self):
        with self.lock:
            n = len(self.items)
            self.items = []
            return n


def fault_response(fault):
    code = fault["status"]
    retry = fault.get("retry_after")
    headers = {}
    if retry is not None:
        headers["Retry-After"] = str(retry)
    fmt = fault.get("format") or ("text" if code == 429 else "status")
    if fmt == "text":
        msg = fault.get("message") or ("Too many requests, please try again later." if code == 429
                                       else http.HTTPStatus(code).phrase)
        headers["X-Content-Type-Options"] = "nosniff"
        return Response(code, (msg + "\n").encode(), ctype="text/plain; charset=utf-8", headers=headers)
    msg = fault.get("message")
    if code == 429:
        err = ApiError(429, "TooManyRequests", msg or "Too many requests, please try again later.",
                       status_details(retry=retry))
    elif code == 500:
        m = msg or "injected fault"
        err = ApiError(500, "InternalError", "Internal error occurred: %s" % m, status_details(causes=[{"message": m}]))
    elif code == 503:
        err = ApiError(503, "ServiceUnavailable", msg or "the server is currently unable to handle the request",
                       status_details(retry=retry) if retry else None)
    elif code == 504:
        err = ApiError(504, "Timeout", "Timeout: %s" % (msg or "request did not complete within the allotted timeout"),
                       status_details(retry=retry) if retry else None)
    else:
        reasons = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
                   409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid"}
        err = ApiError(code, reasons.get(code, "InternalError" if code >= 500 else ""),
                       msg or "injected fault (HTTP %d)" % code, {})
    return Response(code, err.body(), headers=headers)


class RequestLog:
    def __init__(self, path=None):
        self.lock = threading.Lock()
        self.items = []
        self.seq = 0
        self.file = open(path, "a", encoding="utf-8") if path else None

    def add(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.items.append(entry)
            if self.file:
                self.file.write(dumps(entry) + "\n")
                self.file.flush()

    def query(self, params):
        method = (params.get("method") or [None])[-1]
        regex = (params.get("path_regex") or [None])[-1]
        since = int((params.get("since") or ["0"])[-1] or 0)
        with self.lock:
            out = []
            for e in self.items:
                if e["seq"] <= since:
                    continue
                if method and e["method"] != method.upper():
                    continue
                if regex and not re.search(regex, e["path"]):
                    continue
                out.append(e)
            return out

    def clear(self):
        with self.lock:
            n = len(self.items)
            self.items = []
            return n


class App:
    def __init__(self, cluster, token, requests_path=None, verbose=False):
        self.cluster = cluster
        self.token = token
        self.faults = Faults()
        self.requests = RequestLog(requests_path)
        self.verbose = verbose
        self.port = 0


# ---------------------------------------------------------------------------------------------
# HTTP


def body_for_log(raw, ctype):
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode()
    try:
        return json.loads(text)
    except ValueError:
        return text


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300  # idle keep-alive connections

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY the body waits for
        # the client's delayed ACK (about 40 ms per response on a kept-alive connection).
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.app.verbose:
            sys.stderr.write("fake-k8s: %s - %s\n" % (self.address_string(), fmt % args))

    def send_response(self, code, message=None):
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def handle(self):
        try:
            super().handle()
        except (OSError, ssl.SSLError):
            self.close_connection = True

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def authenticate(self):
        cert = None
        try:
            cert = self.connection.getpeercert()
        except (ValueError, ssl.SSLError):
            cert = None
        if cert:
            cn = None
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
            return "cert", cn
        auth = self.headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            if auth[7:].strip() == self.server.app.token:
                return "token", "salve-token"
            return "invalid-token", None
        return "none", None

    def dispatch(self, method):
        app = self.server.app
        split = urllib.parse.urlsplit(self.path)
        path, query = split.path, split.query
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        ctype = self.headers.get("Content-Type") or ""
        if path == "/__fake" or path.startswith("/__fake/"):
            self.control(method, path, params, body)
            return
        auth, user = self.authenticate()
        fault = None
        if auth in ("none", "invalid-token"):
            resp = Response(401, err_unauthorized().body())
        else:
            fault = app.faults.take(method, path)
            forbidden = app.cluster.authorize(method, path, params, user)
            if fault is not None and not fault.get("execute"):
                resp = None
            elif forbidden is not None:
                resp = forbidden
            else:
                resp = app.cluster.route("GET" if method == "HEAD" else method, path, params, body, ctype, app.port,
                                         self.headers.get("Accept") or "")
            if fault is not None:
                if resp is not None and resp.stream is not None:
                    resp.stream.close()
                if fault.get("delay"):
                    time.sleep(float(fault["delay"]))
                resp = None if fault.get("close") else fault_response(fault)
        dry = resp.dry_run if resp is not None else False
        if resp is not None and not dry and (params.get("dryRun") or []) == ["All"] and method != "GET":
            dry = True
        entry = {"time": round(time.time(), 3), "method": method, "path": path, "query": query,
                 "params": {k: v[-1] for k, v in params.items()}, "content_type": ctype,
                 "body": body_for_log(body, ctype), "status": resp.code if resp is not None else 0,
                 "dry_run": dry, "auth": auth, "user": user,
                 "user_agent": self.headers.get("User-Agent") or "",
                 "watch": bool(resp is not None and resp.stream is not None), "fault": fault is not None,
                 "protocol": self.request_version}
        app.requests.add(entry)
        with self.answering(resp is None or resp.stream is None):
            if resp is None:
                self.close_connection = True
                return
            self.send(resp)

    def answering(self, hold):
        return self.server.app.cluster.answering(hold)

    def send(self, resp):
        if resp.stream is not None:
            self.send_stream(resp)
            return
        body = resp.body
        if isinstance(body, (dict, list)):
            data = dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body or b""
        self.send_response(resp.code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", resp.ctype)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def send_stream(self, resp):
        self.send_response(200)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            for ev in resp.stream:
                if ev is None:
                    if self.client_gone():
                        break
                    continue
                data = (dumps(ev) + "\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (OSError, ssl.SSLError):
            self.close_connection = True
        finally:
            resp.stream.close()

    def client_gone(self):
        """True when the peer of an open watch has closed its end."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            self.connection.setblocking(False)
            try:
                return self.connection.recv(1) == b""
            finally:
                self.connection.setblocking(True)
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except (OSError, ValueError):
            return True

    def send_control(self, code, obj):
        data = (json.dumps(obj, indent=1) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def control(self, method, path, params, body):
        """The fake's own API under /__fake/ (no authentication; loopback only)."""
        app = self.server.app
        cluster = app.cluster
        host = self.client_address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            self.send_control(403, {"error": "the control API answers loopback clients only"})
            return
        segs = [urllib.parse.unquote(s) for s in path.split("/") if s][1:]
        try:
            data = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError) as e:
            self.send_control(400, {"error": "body is not JSON: %s" % e})
            return
        try:
            if segs == ["requests"] and method == "GET":
                return self.send_control(200, app.requests.query(params))
            if segs == ["requests"] and method == "DELETE":
                return self.send_control(200, {"cleared": app.requests.clear()})
            if segs == ["faults"] and method == "POST":
                specs = data if isinstance(data, list) else [data]
                return self.send_control(200, {"ids": [app.faults.add(s) for s in specs]})
            if segs == ["faults"] and method == "GET":
                return self.send_control(200, app.faults.list())
            if segs == ["faults"] and method == "DELETE":
                return self.send_control(200, {"cleared": app.faults.clear()})
            if segs == ["objects"] and method == "POST":
                replace = (params.get("replace") or [""])[-1] in ("true", "1")
                return self.send_control(200, {"loaded": cluster.load_objects(data, replace_all=replace)})
            if segs == ["objects"] and method == "GET":
                return self.send_control(200, {"items": cluster.all_objects()})
            if segs == ["reset"] and method == "POST":
                objs = data if data is not None else cluster.initial_objects
                with cluster.lock:
                    cluster.reset_settings()
                app.faults.clear()
                app.requests.clear()
                return self.send_control(200, {"loaded": cluster.load_objects(deep(objs), replace_all=True)})
            if segs == ["controllers"] and method == "GET":
                return self.send_control(200, cluster.controllers_now())
            if segs == ["settings"] and method == "GET":
                with cluster.lock:
                    return self.send_control(200, cluster.settings_now())
            if segs == ["settings"] and method == "POST":
                if not isinstance(data, dict):
                    raise ValueError("body must be a JSON object")
                return self.send_control(200, cluster.set_settings(data))
            if len(segs) == 3 and segs[0] == "deployments" and method in ("POST", "GET"):
                if method == "GET":
                    with cluster.lock:
                        return self.send_control(200, dict(cluster.settings(segs[1], segs[2])))
                if not isinstance(data, dict):
                    raise ValueError("body must be a JSON object")
                unknown = set(data) - {"rollout_delay", "broken"}
                if unknown:
                    raise ValueError("unknown keys: %s" % ", ".join(sorted(unknown)))
                return self.send_control(200, cluster.set_deployment_settings(segs[1], segs[2], data))
            if len(segs) == 3 and segs[0] == "logs" and method == "POST":
                if not isinstance(data, dict) or not isinstance(data.get("container"), str) or \
                        not isinstance(data.get("log"), str):
                    raise ValueError('body must be {"container": NAME, "log": TEXT[, "previous": BOOL]}')
                cluster.set_log(segs[1], segs[2], data["container"], data["log"], data.get("previous", False))
                return self.send_control(200, {"ok": True})
            if len(segs) == 3 and segs[0] == "pods" and method == "POST":
                if not isinstance(data, dict):
                    raise ValueError("body must be a JSON object")
                return self.send_control(200, cluster.set_pod_override(segs[1], segs[2], data))
        except KeyError as e:
            return self.send_control(404, {"error": str(e).strip("'\"")})
        except (ValueError, TypeError) as e:
            return self.send_control(400, {"error": str(e)})
        self.send_control(404, {"error": "no control endpoint %s %s" % (method, path)})


class H2Exchange(Handler):
    """One HTTP/2 request run through Handler.dispatch, its answer captured for the stream."""

    def __init__(self, server, conn, client_address, stream, method, path, headers, body):
        # no BaseRequestHandler.__init__: there is no per-request socket to read from
        self.server = server
        self.connection = conn
        self.client_address = client_address
        self.stream = stream
        self.command = method
        self.path = path
        self.request_version = "HTTP/2.0"
        self.requestline = "%s %s HTTP/2.0" % (method, path)
        self.headers = headers
        self.rfile = io.BytesIO(body)
        self.wfile = io.BytesIO()
        self.close_connection = False
        self.status = None
        self.out_headers = []
        self.hold = None

    @contextlib.contextmanager
    def answering(self, hold):
        self.hold = hold  # H2Connection.answer sends the frames within Cluster.answering
        yield

    def send_response(self, code, message=None):
        self.log_request(code)
        self.status = code
        self.out_headers.append(("date", self.date_time_string()))

    def send_header(self, keyword, value):
        if keyword.lower() not in ("connection", "transfer-encoding", "keep-alive"):
            self.out_headers.append((keyword.lower(), str(value)))

    def end_headers(self):
        pass

    def send_stream(self, resp):
        self.send_response(200)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", "application/json")
        self.stream.respond(self.status, self.out_headers)
        try:
            for ev in resp.stream:
                if ev is not None:
                    self.stream.data((dumps(ev) + "\n").encode())
        finally:
            resp.stream.close()
        self.stream.data(b"", end=True)
        self.status = None  # answered

    def client_gone(self):
        return self.stream.conn.closed


class H2Stream:
    def __init__(self, conn, stream_id):
        self.conn = conn
        self.id = stream_id

    def respond(self, status, headers):
        self.conn.send_headers(self.id, [(":status", str(status))] + headers)

    def data(self, data, end=False):
        self.conn.send_data(self.id, data, end)


class H2Connection:
    """The fake's API over HTTP/2 (h2 from python3-h2), as a real apiserver negotiates it by
    ALPN. Requests on one connection are answered one after the other."""

    def __init__(self, server, sock, client_address):
        import h2.config
        import h2.connection
        self.server = server
        self.sock = sock
        self.client_address = client_address
        self.h2 = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        self.partial = {}   # stream id -> [headers, body]
        self.ready = []     # complete requests: (stream id, headers, body)
        self.closed = False

    def flush(self):
        out = self.h2.data_to_send()
        if out:
            self.sock.sendall(out)

    def pump(self):
        """Read from the peer once and sort what arrived; False when it is gone."""
        import h2.events
        try:
            data = self.sock.recv(65536)
        except (OSError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            return False
        for ev in self.h2.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                self.partial[ev.stream_id] = [ev.headers, bytearray()]
            elif isinstance(ev, h2.events.DataReceived):
                if ev.stream_id in self.partial:
                    self.partial[ev.stream_id][1] += ev.data
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                if ev.stream_id in self.partial:
                    hdrs, body = self.partial.pop(ev.stream_id)
                    self.ready.append((ev.stream_id, hdrs, bytes(body)))
            elif isinstance(ev, h2.events.StreamReset):
                self.partial.pop(ev.stream_id, None)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.closed = True
        self.flush()
        return not self.closed

    def send_headers(self, stream_id, headers):
        self.h2.send_headers(stream_id, headers)
        self.flush()

    def send_data(self, stream_id, data, end):
        while data:
            window = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
            if window <= 0:
                if not self.pump():
                    raise ConnectionError("peer gone")
                continue
            self.h2.send_data(stream_id, data[:window])
            data = data[window:]
            self.flush()
        if end:
            self.h2.end_stream(stream_id)
            self.flush()

    def serve(self):
        self.sock.settimeout(Handler.timeout)
        self.h2.initiate_connection()
        self.flush()
        while not self.closed:
            while self.ready and not self.closed:
                self.answer(*self.ready.pop(0))
            if not self.closed:
                self.pump()

    def answer(self, stream_id, hdrs, body):
        pseudo = {k: v for k, v in hdrs if k.startswith(":")}
        msg = http.client.HTTPMessage()
        for k, v in hdrs:
            if not k.startswith(":"):
                msg[k] = v
        if ":authority" in pseudo and "host" not in msg:
            msg["Host"] = pseudo[":authority"]
        del msg["Content-Length"]
        del msg["Transfer-Encoding"]
        msg["Content-Length"] = str(len(body))
        ex = H2Exchange(self.server, self.sock, self.client_address, H2Stream(self, stream_id),
                        pseudo.get(":method", "GET"), pseudo.get(":path", "/"), msg, body)
        ex.dispatch(ex.command)
        answering = self.server.app.cluster.answering(ex.hold) if ex.hold is not None else \
            contextlib.nullcontext()  # a control request
        with answering:
            if ex.status is None and not ex.out_headers:
                self.closed = True  # a fault that drops the connection
                return
            if ex.status is not None:
                data = ex.wfile.getvalue()
                self.send_headers(stream_id, [(":status", str(ex.status))] + ex.out_headers)
                self.send_data(stream_id, data, True) if data else self.h2.end_stream(stream_id)
                self.flush()


class TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, app, ctx, family=socket.AF_INET):
        self.address_family = family
        self.app = app
        self.ctx = ctx
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        request.settimeout(15)
        try:
            conn = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            if self.app.verbose:
                sys.stderr.write("fake-k8s: TLS handshake with %s failed: %s\n" % (client_address[0], e))
            try:
                request.close()
            except OSError:
                pass
            return
        try:
            if conn.selected_alpn_protocol() == "h2":
                H2Connection(self, conn, client_address).serve()
            else:
                self.RequestHandlerClass(conn, client_address, self)
        except (OSError, ssl.SSLError, ConnectionError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if self.app.verbose:
            traceback.print_exc()


# ---------------------------------------------------------------------------------------------
# Certificates and kubeconfigs

OPENSSL_CNF = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = fake-k8s-ca
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
"""
SERVER_EXT = """basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,IP:::1,DNS:localhost
authorityKeyIdentifier = keyid
"""
CLIENT_EXT = """basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
"""


def run_openssl(args, cwd):
    proc = subprocess.run(["openssl"] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), proc.stderr.strip()))


def generate_certs(d):
    os.makedirs(d, exist_ok=True)
    for name, text in (("openssl.cnf", OPENSSL_CNF), ("server.ext", SERVER_EXT), ("client.ext", CLIENT_EXT)):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    gen = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"]
    run_openssl(gen + ["ca.key"], d)
    run_openssl(["req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "3650", "-config", "openssl.cnf",
                 "-extensions", "v3_ca", "-out", "ca.crt"], d)
    for who, subj, ext in (("server", "/CN=kube-apiserver", "server.ext"),
                           ("client", "/O=system:masters/CN=salve-test", "client.ext")):
        run_openssl(gen + [who + ".key"], d)
        run_openssl(["req", "-new", "-key", who + ".key", "-subj", subj, "-config", "openssl.cnf",
                     "-out", who + ".csr"], d)
        run_openssl(["x509", "-req", "-in", who + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                     "-set_serial", "0x%x" % random.getrandbits(63), "-days", "825", "-sha256",
                     "-extfile", ext, "-out", who + ".crt"], d)
    for name in ("ca.key", "server.key", "client.key"):
        os.chmod(os.path.join(d, name), 0o600)


def write_private(path, text):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_kubeconfigs(d, server, token):
    q = json.dumps
    ca_path = os.path.abspath(os.path.join(d, "ca.crt"))

    def read_b64(name):
        with open(os.path.join(d, name), "rb") as f:
            return base64.b64encode(f.read()).decode()

    def config(cluster_lines, user_lines):
        return ("apiVersion: v1\nkind: Config\nclusters:\n- name: fake-k8s\n  cluster:\n    server: %s\n%s"
                "users:\n- name: salve\n  user:\n%s"
                "contexts:\n- name: fake-k8s\n  context:\n    cluster: fake-k8s\n    user: salve\n"
                "    namespace: default\ncurrent-context: fake-k8s\npreferences: {}\n"
                % (q(server), cluster_lines, user_lines))

    write_private(os.path.join(d, "kubeconfig-token"),
                  config("    certificate-authority: %s\n" % q(ca_path), "    token: %s\n" % q(token)))
    write_private(os.path.join(d, "kubeconfig-cert"),
                  config("    certificate-authority-data: %s\n" % read_b64("ca.crt"),
                         "    client-certificate-data: %s\n    client-key-data: %s\n"
                         % (read_b64("client.crt"), read_b64("client.key"))))
    write_private(os.path.join(d, "kubeconfig-insecure"),
                  config("    insecure-skip-tls-verify: true\n", "    token: %s\n" % q(token)))
    write_private(os.path.join(d, "token"), token + "\n")


def ssl_context(d, http2=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
    ctx.load_verify_locations(os.path.join(d, "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    return ctx


# ---------------------------------------------------------------------------------------------
# main


def parse_listen(s):
    m = re.match(r"^\[([^\]]+)\]:(\d+)$", s) or re.match(r"^([^:]+):(\d+)$", s)
    if not m:
        raise ValueError("--listen must be HOST:PORT, e.g. 127.0.0.1:0")
    host, port = m.group(1), int(m.group(2))
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("--listen needs an IP address, got %r" % host)
    if not ip.is_loopback:
        raise ValueError("--listen must be a loopback address (127.0.0.0/8 or ::1), got %s" % host)
    return host, port, (socket.AF_INET6 if ip.version == 6 else socket.AF_INET)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Kubernetes API server for salve's plugin tests.")
    ap.add_argument("--certs", required=True, help="directory for the CA, certificates and kubeconfigs")
    ap.add_argument("--port-file", required=True, help="file to write the port to once the server is ready")
    ap.add_argument("--listen", default="127.0.0.1:0", help="loopback HOST:PORT (default 127.0.0.1:0)")
    ap.add_argument("--token", default="salve-test-token", help="bearer token accepted (default salve-test-token)")
    ap.add_argument("--fixture", help="JSON list of objects to load at start")
    ap.add_argument("--requests", help="append every API request as a JSON line to this file")
    ap.add_argument("--version", default="1.29", choices=sorted(SERVER_VERSIONS), help="Kubernetes version to mimic")
    ap.add_argument("--verbose", action="store_true", help="log requests and TLS errors to stderr")
    ap.add_argument("--http2", action="store_true",
                    help="offer HTTP/2 by ALPN, as a real apiserver does (needs python3-h2)")
    args = ap.parse_args(argv)
    try:
        host, port, family = parse_listen(args.listen)
    except ValueError as e:
        ap.error(str(e))
    cluster = Cluster(args.version, verbose=args.verbose)
    if args.fixture:
        try:
            with open(args.fixture, encoding="utf-8") as f:
                objs = json.load(f)
            cluster.initial_objects = deep(objs)
            cluster.load_objects(objs)
        except (OSError, ValueError) as e:
            sys.stderr.write("fake-k8s: cannot load fixture %s: %s\n" % (args.fixture, e))
            return 2
    try:
        generate_certs(args.certs)
    except (OSError, RuntimeError) as e:
        sys.stderr.write("fake-k8s: cannot make certificates in %s: %s\n" % (args.certs, e))
        return 2
    app = App(cluster, args.token, args.requests, args.verbose)
    if args.http2:
        try:
            import h2.connection  # noqa: F401  (python3-h2)
        except ImportError:
            sys.stderr.write("fake-k8s: --http2 needs the h2 module (Debian: python3-h2)\n")
            return 2
    server = TLSServer((host, port), app, ssl_context(args.certs, args.http2), family)
    app.port = server.server_address[1]
    server_url = "https://%s:%d" % ("[%s]" % host if family == socket.AF_INET6 else host, app.port)
    write_kubeconfigs(args.certs, server_url, args.token)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def timer():
        while not stop.is_set():
            cluster.woken.clear()
            cluster.woken.wait(cluster.next_wakeup_in(0.5))
            try:
                cluster.tick()
            except Exception:  # keep serving; the traceback says what broke
                traceback.print_exc()
    threading.Thread(target=timer, daemon=True).start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % app.port)
    os.replace(tmp, args.port_file)
    if args.verbose:
        sys.stderr.write("fake-k8s: serving %s (Kubernetes %s)\n" % (server_url, args.version))
    while not stop.wait(0.5):
        pass
    server.shutdown()
    with cluster.lock:
        cluster.store.closed = True
        cluster.store.cond.notify_all()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
