/*
 * Package managers: the shell scripts pending/patch/undo run on a host, and the parsers for
 * what they print. apt (apt-get -s simulation) and dnf/yum (check-update plus rpm -qa).
 * Scripts are built per host because apt/dnf options may differ per host (inventory var
 * salve_apt_options / salve_dnf_options, after the plugin's apt_options / dnf_options).
 */
#include "act.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sp_pkglist_free(struct sp_pkglist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->pkgs[i].name);
		free(l->pkgs[i].from);
		free(l->pkgs[i].to);
	}
	free(l->pkgs);
	l->pkgs = NULL;
	l->n = 0;
}

static int pkglist_add(struct sp_pkglist *l, const char *name, size_t nlen, const char *from,
                       size_t flen, const char *to, size_t tlen)
{
	struct sp_pkg *grown = realloc(l->pkgs, (l->n + 1) * sizeof *l->pkgs);
	if (!grown)
		return -1;
	l->pkgs = grown;
	struct sp_pkg *p = &grown[l->n++];
	p->name = strndup(name, nlen);
	p->from = from ? strndup(from, flen) : NULL;
	p->to = strndup(to, tlen);
	return 0;
}

json_t *sp_pkglist_json(const struct sp_pkglist *l)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s?, s:s}", "name", l->pkgs[i].name,
		                                     "from", l->pkgs[i].from, "to", l->pkgs[i].to));
	return arr;
}

/* "Inst NAME [OLD] (NEW ORIGIN [ARCH])" -- OLD is missing for new installs. */
int sp_parse_apt_sim(const char *text, struct sp_pkglist *out)
{
	const char *p = text;
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		const char *end = eol ? eol : p + strlen(p);
		if (end - p > 5 && strncmp(p, "Inst ", 5) == 0) {
			const char *name = p + 5;
			const char *q = name;
			while (q < end && *q != ' ')
				q++;
			size_t nlen = (size_t)(q - name);
			while (q < end && *q == ' ')
				q++;
			const char *from = NULL;
			size_t flen = 0;
			if (q < end && *q == '[') {
				from = q + 1;
				const char *close = memchr(from, ']', (size_t)(end - from));
				if (!close)
					return -1;
				flen = (size_t)(close - from);
				q = close + 1;
				while (q < end && *q == ' ')
					q++;
			}
			if (q >= end || *q != '(')
				return -1;
			const char *to = q + 1;
			const char *te = to;
			while (te < end && *te != ' ' && *te != ')')
				te++;
			if (nlen == 0 || te == to)
				return -1;
			if (pkglist_add(out, name, nlen, from, flen, to, (size_t)(te - to)) < 0)
				return -1;
		}
		p = eol ? eol + 1 : NULL;
	}
	return 0;
}

/* rpm's "0:" epoch says nothing; dnf prints versions without it. */
static const char *drop_zero_epoch(const char *v)
{
	return strncmp(v, "0:", 2) == 0 ? v + 2 : v;
}

int sp_parse_dnf(const char *check_update, const char *rpmqa, struct sp_pkglist *out)
{
	char *copy = strdup(check_update ? check_update : "");
	char *carry = NULL; /* a long name dnf wrapped onto its own line */
	int rc = 0;
	for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "Obsoleting", 10) == 0 || strncmp(line, "Security:", 9) == 0)
			break;
		if (strncmp(line, "Last metadata", 13) == 0)
			continue;
		char *tok[4] = {0};
		int nt = 0;
		for (char *s2 = NULL, *t = strtok_r(line, " \t", &s2); t && nt < 4;
		     t = strtok_r(NULL, " \t", &s2))
			tok[nt++] = t;
		const char *name = NULL, *ver = NULL;
		if (nt == 1 && strchr(tok[0], '.')) {
			free(carry);
			carry = strdup(tok[0]);
			continue;
		}
		if (nt == 2 && carry) {
			name = carry;
			ver = tok[0];
		} else if (nt >= 3 && strchr(tok[0], '.')) {
			name = tok[0];
			ver = tok[1];
		} else {
			continue;
		}
		if (!isdigit((unsigned char)ver[0]))
			continue;
		/* Find the installed version of NAME.ARCH in the rpm -qa listing. */
		const char *from = NULL;
		size_t flen = 0;
		size_t nlen = strlen(name);
		for (const char *r = rpmqa; r && *r;) {
			const char *eol = strchr(r, '\n');
			const char *end = eol ? eol : r + strlen(r);
			if ((size_t)(end - r) > nlen + 1 && strncmp(r, name, nlen) == 0 &&
			    r[nlen] == ' ') {
				from = drop_zero_epoch(r + nlen + 1);
				flen = (size_t)(end - from);
				break;
			}
			r = eol ? eol + 1 : NULL;
		}
		if (pkglist_add(out, name, nlen, from, flen, ver, strlen(ver)) < 0) {
			rc = -1;
			break;
		}
		free(carry);
		carry = NULL;
	}
	free(carry);
	free(copy);
	return rc;
}

int sp_parse_pending(const char *text, struct sp_pkglist *out, char *err, size_t errlen)
{
	static const char marker[] = "@@salve-manager ";
	const char *m = strstr(text, marker);
	if (!m) {
		snprintf(err, errlen, "the pending script printed no package manager marker");
		return -1;
	}
	m += sizeof marker - 1;
	size_t len = strcspn(m, "\n");
	if (len == 0 || len >= sizeof out->manager) {
		snprintf(err, errlen, "unknown package manager in the pending output");
		return -1;
	}
	memcpy(out->manager, m, len);
	out->manager[len] = '\0';
	const char *body = m + len;
	if (strcmp(out->manager, "apt") == 0) {
		if (sp_parse_apt_sim(body, out) < 0) {
			snprintf(err, errlen, "cannot parse apt-get's simulated upgrade");
			return -1;
		}
		return 0;
	}
	if (strcmp(out->manager, "dnf") == 0 || strcmp(out->manager, "yum") == 0) {
		const char *inst = strstr(body, "@@salve-installed\n");
		char *cu = inst ? strndup(body, (size_t)(inst - body)) : strdup(body);
		int rc = sp_parse_dnf(cu, inst ? inst + 18 : "", out);
		free(cu);
		if (rc < 0)
			snprintf(err, errlen, "cannot parse %s check-update output", out->manager);
		return rc;
	}
	snprintf(err, errlen, "unsupported package manager '%s'", out->manager);
	return -1;
}

/* cfg options then the host's own (salve_apt_options / salve_dnf_options), in order. */
static json_t *collect_options(const json_t *cfg_opts, const struct sp_host *h, const char *var)
{
	json_t *all = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(cfg_opts, i, v) json_array_append(all, v);
	const json_t *hv = h ? json_object_get(h->vars, var) : NULL;
	if (json_is_string(hv)) {
		char *copy = strdup(json_string_value(hv));
		for (char *s = NULL, *t = strtok_r(copy, " \t", &s); t;
		     t = strtok_r(NULL, " \t", &s))
			json_array_append_new(all, json_string(t));
		free(copy);
	} else if (json_is_array(hv)) {
		json_array_foreach(hv, i, v) if (json_is_string(v)) json_array_append(all, v);
	}
	return all;
}

static void add_quoted_list(struct sp_buf *b, const json_t *list)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		sp_buf_addstr(b, " ");
		sp_shell_quote(b, json_string_value(v));
	}
}

static void add_options(struct sp_buf *b, const json_t *cfg_opts, const struct sp_host *h,
                        const char *var)
{
	json_t *all = collect_options(cfg_opts, h, var);
	add_quoted_list(b, all);
	json_decref(all);
}

static void apt_base(struct sp_buf *b, const struct sp_config *cfg, const struct sp_host *h)
{
	sp_buf_addstr(b, "LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get");
	add_options(b, cfg->apt_options, h, "salve_apt_options");
}

static void dnf_base(struct sp_buf *b, const struct sp_config *cfg, const struct sp_host *h)
{
	sp_buf_addstr(b, "LC_ALL=C \"$pm\"");
	add_options(b, cfg->dnf_options, h, "salve_dnf_options");
}

static void add_package_names(struct sp_buf *b, const json_t *packages)
{
	size_t i;
	json_t *v;
	json_array_foreach(packages, i, v)
	{
		sp_buf_addstr(b, " ");
		sp_shell_quote(b, json_string_value(v));
	}
}

/*
 * Waiting for a package manager's locks, in the remote shell (so it works the same over SSH
 * and locally). Every package script starts with these functions; salve_bound (seconds) and
 * salve_bound_text come first. The bound counts from the script's start, for all its locks.
 *
 * Two kinds of lock: `lock` files that apt and dpkg lock with fcntl (held when /proc/locks
 * lists a lock on the file's device:inode; the holder is the PID there), and `pid` files of
 * dnf and yum (held while the PID written in them is alive). For each new holder the script
 * prints "salve: waiting for the LABEL lock held by PID N (comm)" on stderr (the fan-out makes
 * it a progress line), then polls every second; past the bound it prints "salve: gave up
 * waiting ..." naming the lock, the holder and the bound, and exits 75.
 */
static const char lock_functions[] =
    "salve_t0=$(date +%s)\n"
    "salve_last=\n"
    "salve_name() {\n"
    "\tcase $1 in\n"
    "\t-1) printf 'an unknown process (open file description lock)' ;;\n"
    "\t'' | *[!0-9]*) ;;\n"
    "\t*) [ -d \"/proc/$1\" ] && printf 'PID %s (%s)' \"$1\" \"$(cat \"/proc/$1/comm\" "
    "2>/dev/null || echo '?')\" ;;\n"
    "\tesac\n"
    "}\n"
    "salve_lock_holder() {\n"
    "\t[ -e \"$1\" ] && [ -r /proc/locks ] || return 0\n"
    "\tsalve_s=$(stat -L -c '%d %i' -- \"$1\" 2>/dev/null) || return 0\n"
    "\tsalve_d=${salve_s% *}\n"
    "\tsalve_k=$(printf '%02x:%02x:%s' $(((salve_d >> 8) & 4095)) "
    "$(((salve_d & 255) | ((salve_d >> 12) & 1048320))) \"${salve_s#* }\")\n"
    "\tsalve_name \"$(awk -v k=\"$salve_k\" '$2 != \"->\" && $6 == k { print $5; exit }' "
    "/proc/locks)\"\n"
    "}\n"
    "salve_pid_holder() {\n"
    "\t[ -f \"$1\" ] || return 0\n"
    "\tsalve_p=$(head -c 32 -- \"$1\" 2>/dev/null | tr -dc 0-9)\n"
    "\t[ -n \"$salve_p\" ] && [ \"$salve_p\" != \"$$\" ] || return 0\n"
    "\tsalve_name \"$salve_p\"\n"
    "}\n"
    "salve_find() {\n"
    "\tsalve_kind=$1\n"
    "\tshift\n"
    "\tfor salve_f in \"$@\"; do\n"
    "\t\tsalve_h=$(salve_${salve_kind}_holder \"$salve_f\")\n"
    "\t\t[ -z \"$salve_h\" ] || return 0\n"
    "\tdone\n"
    "\treturn 1\n"
    "}\n"
    "salve_elapsed() { echo $(($(date +%s) - salve_t0)); }\n"
    "salve_left() {\n"
    "\tsalve_l=$((salve_bound - $(salve_elapsed)))\n"
    "\t[ \"$salve_l\" -gt 0 ] || salve_l=0\n"
    "\techo \"$salve_l\"\n"
    "}\n"
    "salve_held() {\n"
    "\tif [ \"$3\" != \"$salve_last\" ]; then\n"
    "\t\techo \"" SP_WAIT_LINE_PREFIX "the $1 lock held by $3\" >&2\n"
    "\t\tsalve_last=$3\n"
    "\tfi\n"
    "\tif [ \"$(salve_elapsed)\" -ge \"$salve_bound\" ]; then\n"
    "\t\techo \"salve: gave up waiting for the $1 lock ($2) held by $3 after "
    "$salve_bound_text (lock_timeout)\" >&2\n"
    "\t\texit 75\n"
    "\tfi\n"
    "}\n"
    "salve_wait() {\n"
    "\tsalve_wk=$1 salve_wl=$2\n"
    "\tshift 2\n"
    "\twhile salve_find \"$salve_wk\" \"$@\"; do\n"
    "\t\tsalve_held \"$salve_wl\" \"$salve_f\" \"$salve_h\"\n"
    "\t\tsleep 1\n"
    "\tdone\n"
    "}\n"
    "salve_after() {\n"
    "\tsalve_wk=$1 salve_wl=$2\n"
    "\tshift 2\n"
    "\tif salve_find \"$salve_wk\" \"$@\" && [ \"$(salve_elapsed)\" -ge \"$salve_bound\" ]; then\n"
    "\t\tsalve_held \"$salve_wl\" \"$salve_f\" \"$salve_h\"\n"
    "\tfi\n"
    "}\n";

static double lock_bound(const struct sp_config *cfg, const struct sp_host *h)
{
	return h && h->lock_timeout >= 0 ? h->lock_timeout : cfg->lock_timeout;
}

static void add_lock_functions(struct sp_buf *b, double bound)
{
	char text[32];
	sp_duration_text(bound, text, sizeof text);
	sp_buf_printf(b, "salve_bound=%ld salve_bound_text=", bound > 0 ? (long)ceil(bound) : 0L);
	sp_shell_quote(b, text);
	sp_buf_addstr(b, "\n");
	sp_buf_addstr(b, lock_functions);
}

/* Where this host's apt keeps its locks, honouring -o/-c options (the tests and people with
 * private roots move them): salve_A (dpkg admin dir), salve_L (lists), salve_C (archives). */
static void apt_lock_dirs(struct sp_buf *b, const struct sp_config *cfg, const struct sp_host *h)
{
	sp_buf_addstr(b, "salve_S=/var/lib/dpkg/status salve_L=/var/lib/apt/lists/ "
	                 "salve_C=/var/cache/apt/archives/\n"
	                 "eval \"$(apt-config");
	/* apt-config refuses apt-get's other options (-y, -q): pass only configuration. */
	json_t *all = collect_options(cfg->apt_options, h, "salve_apt_options");
	size_t n = json_array_size(all);
	for (size_t i = 0; i < n; i++) {
		const char *o = json_string_value(json_array_get(all, i));
		int pair = strcmp(o, "-o") == 0 || strcmp(o, "--option") == 0 ||
		           strcmp(o, "-c") == 0 || strcmp(o, "--config-file") == 0;
		int joined = (strncmp(o, "-o", 2) == 0 || strncmp(o, "-c", 2) == 0) && o[2];
		if (pair && i + 1 < n) {
			sp_buf_addstr(b, " ");
			sp_shell_quote(b, o);
			sp_buf_addstr(b, " ");
			sp_shell_quote(b, json_string_value(json_array_get(all, ++i)));
		} else if (joined) {
			sp_buf_addstr(b, " ");
			sp_shell_quote(b, o);
		}
	}
	json_decref(all);
	sp_buf_addstr(b, " shell salve_S Dir::State::status/f salve_L Dir::State::Lists/d salve_C "
	                 "Dir::Cache::Archives/d 2>/dev/null)\"\n"
	                 "salve_A=${salve_S%/*}\n");
}

/* Wait for what apt-get install/remove locks; apt itself then waits the rest of the bound
 * (DPkg::Lock::Timeout) should another process take the lock in between. */
#define APT_WAIT_DPKG                                                                              \
	"salve_wait lock dpkg \"${salve_A}/lock-frontend\" \"${salve_A}/lock\"\n"                  \
	"salve_wait lock 'apt archives' \"${salve_C}lock\"\n"
#define APT_LOCK_TIMEOUT " -o \"DPkg::Lock::Timeout=$(salve_left)\""
#define APT_AFTER_DPKG                                                                             \
	"salve_rc=$?\n"                                                                            \
	"[ \"$salve_rc\" -eq 0 ] || salve_after lock dpkg \"${salve_A}/lock-frontend\" "           \
	"\"${salve_A}/lock\"\n"                                                                    \
	"exit \"$salve_rc\"\n"

/* dnf and yum wait for each other's locks without end; wait here first, within the bound. */
#define RPM_WAIT                                                                                   \
	"salve_wait pid \"$pm\" /var/run/dnf.pid /var/lib/dnf/rpmdb_lock.pid "                     \
	"/var/cache/dnf/metadata_lock.pid /var/cache/dnf/download_lock.pid /var/run/yum.pid\n"

#define PICK_RPM_MANAGER "if command -v dnf >/dev/null 2>&1; then pm=dnf; else pm=yum; fi\n"

char *sp_pending_script_for(const struct sp_config *cfg, const struct sp_host *h, int refresh,
                            const json_t *packages)
{
	int some = json_is_array(packages) && json_array_size(packages) > 0;
	struct sp_buf b = {0};
	add_lock_functions(&b, lock_bound(cfg, h));
	sp_buf_addstr(&b, "if command -v apt-get >/dev/null 2>&1; then\n"
	                  "echo '@@salve-manager apt'\n");
	if (refresh) {
		/* apt-get update has no lock timeout of its own: wait for the lists lock, and
		 * retry when another update took it in between. */
		apt_lock_dirs(&b, cfg, h);
		sp_buf_addstr(&b, "while :; do\n"
		                  "salve_wait lock 'apt lists' \"${salve_L}lock\"\n"
		                  "if salve_o=$(");
		apt_base(&b, cfg, h);
		sp_buf_addstr(
		    &b,
		    " -q update 2>&1 >/dev/null); then break; fi\n"
		    "case $salve_o in\n"
		    "*'Could not get lock'*)\n"
		    "\tsalve_h=$(printf '%s\\n' \"$salve_o\" | sed -n 's/.*It is held by process "
		    "\\([0-9][0-9]*\\) (\\(.*\\)).*/PID \\1 (\\2)/p' | head -n 1)\n"
		    "\tsalve_held 'apt lists' \"${salve_L}lock\" \"${salve_h:-an unknown "
		    "process}\"\n"
		    "\tsleep 1\n"
		    "\tcontinue\n"
		    "\t;;\n"
		    "esac\n"
		    "printf '%s\\n' \"$salve_o\" >&2\n"
		    "echo 'salve: apt-get update failed' >&2\n"
		    "exit 2\n"
		    "done\n");
	}
	apt_base(&b, cfg, h);
	sp_buf_addstr(&b, " -s -o Debug::NoLocking=1");
	if (some) {
		sp_buf_addstr(&b, " install --only-upgrade --");
		add_package_names(&b, packages);
	} else {
		sp_buf_addstr(&b, " upgrade");
	}
	sp_buf_addstr(&b,
	              "\nelif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null "
	              "2>&1; then\n" PICK_RPM_MANAGER "echo \"@@salve-manager $pm\"\n" RPM_WAIT);
	if (refresh) {
		dnf_base(&b, cfg, h);
		sp_buf_addstr(&b, " -q makecache >&2 || exit 2\n");
	}
	dnf_base(&b, cfg, h);
	sp_buf_addstr(&b, " -q check-update");
	if (some) {
		sp_buf_addstr(&b, " --");
		add_package_names(&b, packages);
	}
	sp_buf_addstr(&b, "\nrc=$?\n"
	                  "if [ $rc -ne 0 ] && [ $rc -ne 100 ]; then exit $rc; fi\n"
	                  "echo '@@salve-installed'\n"
	                  "rpm -qa --qf '%{NAME}.%{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'\n"
	                  "else\n"
	                  "echo 'salve: no supported package manager (apt-get, dnf or yum) on "
	                  "this host' >&2\nexit 3\nfi\n");
	return sp_buf_take(&b);
}

/* NAME.ARCH + E:V-R -> NAME-E:V-R.ARCH, the spec dnf installs exactly. */
static void add_rpm_spec(struct sp_buf *b, const char *name_arch, const char *version)
{
	const char *dot = strrchr(name_arch, '.');
	struct sp_buf s = {0};
	if (dot)
		sp_buf_printf(&s, "%.*s-%s%s", (int)(dot - name_arch), name_arch, version, dot);
	else
		sp_buf_printf(&s, "%s-%s", name_arch, version);
	sp_buf_addstr(b, " ");
	sp_shell_quote(b, s.data);
	sp_buf_free(&s);
}

#define DPKG_CONF_OPTS " -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"

char *sp_upgrade_script_for(const struct sp_config *cfg, const struct sp_host *h,
                            const struct sp_pkglist *l)
{
	struct sp_buf b = {0};
	add_lock_functions(&b, lock_bound(cfg, h));
	if (strcmp(l->manager, "apt") == 0) {
		apt_lock_dirs(&b, cfg, h);
		sp_buf_addstr(&b, APT_WAIT_DPKG);
		apt_base(&b, cfg, h);
		sp_buf_addstr(&b, APT_LOCK_TIMEOUT " -y -q" DPKG_CONF_OPTS
		                                   " install --only-upgrade --");
		for (size_t i = 0; i < l->n; i++) {
			struct sp_buf spec = {0};
			sp_buf_printf(&spec, "%s=%s", l->pkgs[i].name, l->pkgs[i].to);
			sp_buf_addstr(&b, " ");
			sp_shell_quote(&b, spec.data);
			sp_buf_free(&spec);
		}
		sp_buf_addstr(&b, "\n" APT_AFTER_DPKG);
	} else {
		sp_buf_addstr(&b, "pm=");
		sp_shell_quote(&b, l->manager);
		sp_buf_addstr(&b, "\n" RPM_WAIT);
		dnf_base(&b, cfg, h);
		sp_buf_addstr(&b, " -y upgrade --");
		for (size_t i = 0; i < l->n; i++)
			add_rpm_spec(&b, l->pkgs[i].name, l->pkgs[i].to);
		sp_buf_addstr(&b, "\nrc=$?\n"
		                  "id=$(\"$pm\" -q history list 2>/dev/null | awk '$1 ~ /^[0-9]+$/ "
		                  "{print $1; exit}')\n"
		                  "echo \"@@salve-transaction $id\"\n"
		                  "exit $rc\n");
	}
	return sp_buf_take(&b);
}

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

char *sp_downgrade_script_for(const struct sp_config *cfg, const struct sp_host *h,
                              const json_t *entry)
{
	const char *manager = json_string_value(json_object_get(entry, "manager"));
	const json_t *pkgs = json_object_get(entry, "packages");
	struct sp_buf b = {0};
	if (!manager)
		return NULL;
	if (strcmp(manager, "apt") == 0) {
		struct sp_buf specs = {0};
		size_t i;
		json_t *p;
		json_array_foreach(pkgs, i, p)
		{
			const char *name = json_string_value(json_object_get(p, "name"));
			const char *from = json_string_value(json_object_get(p, "from"));
			if (!name || !from)
				continue; /* newly installed: nothing older to return to */
			struct sp_buf spec = {0};
			sp_buf_printf(&spec, "%s=%s", name, from);
			sp_buf_addstr(&specs, " ");
			sp_shell_quote(&specs, spec.data);
			sp_buf_free(&spec);
		}
		if (specs.len == 0) {
			sp_buf_free(&specs);
			return strdup("true\n");
		}
		add_lock_functions(&b, lock_bound(cfg, h));
		apt_lock_dirs(&b, cfg, h);
		sp_buf_addstr(&b, APT_WAIT_DPKG);
		apt_base(&b, cfg, h);
		sp_buf_addstr(&b, APT_LOCK_TIMEOUT " -y -q --allow-downgrades" DPKG_CONF_OPTS
		                                   " install --");
		sp_buf_addstr(&b, specs.data);
		sp_buf_free(&specs);
		sp_buf_addstr(&b, "\n" APT_AFTER_DPKG);
		return sp_buf_take(&b);
	}
	if (strcmp(manager, "dnf") == 0 || strcmp(manager, "yum") == 0) {
		const char *tx = json_string_value(json_object_get(entry, "transaction"));
		if (tx && *tx && !all_digits(tx))
			return NULL;
		add_lock_functions(&b, lock_bound(cfg, h));
		sp_buf_printf(&b, "pm=%s\n" RPM_WAIT, manager);
		dnf_base(&b, cfg, h);
		if (tx && *tx) {
			sp_buf_addstr(&b, " -y history undo -- ");
			sp_shell_quote(&b, tx);
		} else {
			sp_buf_addstr(&b, " -y downgrade --");
			size_t i;
			json_t *p;
			json_array_foreach(pkgs, i, p)
			{
				const char *name = json_string_value(json_object_get(p, "name"));
				const char *from = json_string_value(json_object_get(p, "from"));
				if (name && from)
					add_rpm_spec(&b, name, from);
			}
		}
		sp_buf_addstr(&b, "\n");
		return sp_buf_take(&b);
	}
	return NULL;
}

/* The lock wait alone, as the package scripts do it (for tests). */
char *sp_lock_wait_script(double bound, const char *kind, const char *label, const json_t *files)
{
	struct sp_buf b = {0};
	add_lock_functions(&b, bound);
	sp_buf_addstr(&b, "salve_wait ");
	sp_shell_quote(&b, kind);
	sp_buf_addstr(&b, " ");
	sp_shell_quote(&b, label);
	add_quoted_list(&b, files);
	sp_buf_addstr(&b, "\n");
	return sp_buf_take(&b);
}

char *sp_reboot_required_script(void)
{
	return strdup("if [ -e /var/run/reboot-required ]; then echo yes\n"
	              "elif command -v needs-restarting >/dev/null 2>&1; then\n"
	              "  if needs-restarting -r >/dev/null 2>&1; then echo no; else echo yes; fi\n"
	              "else echo no; fi\n");
}
