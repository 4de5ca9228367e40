/*
 * Package managers: the shell scripts pending/patch/undo run on a host, and the parsers for
 * what they print. apt (apt-get -s simulation) and dnf/yum (check-update plus rpm -qa).
 * Scripts are built per host because apt/dnf options may differ per host (inventory var
 * salve_apt_options / salve_dnf_options, after the plugin's apt_options / dnf_options).
 */
#include "act.h"

#include <ctype.h>
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

/* cfg options then the host's own (salve_apt_options / salve_dnf_options), quoted. */
static void add_options(struct sp_buf *b, const json_t *cfg_opts, const struct sp_host *h,
                        const char *var)
{
	size_t i;
	json_t *v;
	json_array_foreach(cfg_opts, i, v)
	{
		sp_buf_addstr(b, " ");
		sp_shell_quote(b, json_string_value(v));
	}
	const json_t *hv = h ? json_object_get(h->vars, var) : NULL;
	if (json_is_string(hv)) {
		char *copy = strdup(json_string_value(hv));
		for (char *s = NULL, *t = strtok_r(copy, " \t", &s); t;
		     t = strtok_r(NULL, " \t", &s)) {
			sp_buf_addstr(b, " ");
			sp_shell_quote(b, t);
		}
		free(copy);
	} else if (json_is_array(hv)) {
		json_array_foreach(hv, i, v) if (json_is_string(v))
		{
			sp_buf_addstr(b, " ");
			sp_shell_quote(b, json_string_value(v));
		}
	}
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

#define PICK_RPM_MANAGER "if command -v dnf >/dev/null 2>&1; then pm=dnf; else pm=yum; fi\n"

char *sp_pending_script_for(const struct sp_config *cfg, const struct sp_host *h, int refresh,
                            const json_t *packages)
{
	int some = json_is_array(packages) && json_array_size(packages) > 0;
	struct sp_buf b = {0};
	sp_buf_addstr(&b, "if command -v apt-get >/dev/null 2>&1; then\n"
	                  "echo '@@salve-manager apt'\n");
	if (refresh) {
		apt_base(&b, cfg, h);
		sp_buf_addstr(&b,
		              " -q update >/dev/null || { echo 'salve: apt-get update failed' >&2; "
		              "exit 2; }\n");
	}
	apt_base(&b, cfg, h);
	sp_buf_addstr(&b, " -s -o Debug::NoLocking=1");
	if (some) {
		sp_buf_addstr(&b, " install --only-upgrade");
		add_package_names(&b, packages);
	} else {
		sp_buf_addstr(&b, " upgrade");
	}
	sp_buf_addstr(&b, "\nelif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null "
	                  "2>&1; then\n" PICK_RPM_MANAGER "echo \"@@salve-manager $pm\"\n");
	if (refresh) {
		dnf_base(&b, cfg, h);
		sp_buf_addstr(&b, " -q makecache >&2 || exit 2\n");
	}
	dnf_base(&b, cfg, h);
	sp_buf_addstr(&b, " -q check-update");
	if (some)
		add_package_names(&b, packages);
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
	if (strcmp(l->manager, "apt") == 0) {
		apt_base(&b, cfg, h);
		sp_buf_addstr(&b, " -y -q" DPKG_CONF_OPTS " install --only-upgrade");
		for (size_t i = 0; i < l->n; i++) {
			struct sp_buf spec = {0};
			sp_buf_printf(&spec, "%s=%s", l->pkgs[i].name, l->pkgs[i].to);
			sp_buf_addstr(&b, " ");
			sp_shell_quote(&b, spec.data);
			sp_buf_free(&spec);
		}
		sp_buf_addstr(&b, "\n");
	} else {
		sp_buf_printf(&b, "pm=%s\n", l->manager);
		dnf_base(&b, cfg, h);
		sp_buf_addstr(&b, " -y upgrade");
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

char *sp_downgrade_script_for(const struct sp_config *cfg, const struct sp_host *h,
                              const json_t *entry)
{
	const char *manager = json_string_value(json_object_get(entry, "manager"));
	const json_t *pkgs = json_object_get(entry, "packages");
	struct sp_buf b = {0};
	if (!manager)
		return NULL;
	if (strcmp(manager, "apt") == 0) {
		apt_base(&b, cfg, h);
		sp_buf_addstr(&b, " -y -q --allow-downgrades" DPKG_CONF_OPTS " install");
		size_t i;
		json_t *p;
		size_t n = 0;
		json_array_foreach(pkgs, i, p)
		{
			const char *name = json_string_value(json_object_get(p, "name"));
			const char *from = json_string_value(json_object_get(p, "from"));
			if (!name || !from)
				continue; /* newly installed: nothing older to return to */
			struct sp_buf spec = {0};
			sp_buf_printf(&spec, "%s=%s", name, from);
			sp_buf_addstr(&b, " ");
			sp_shell_quote(&b, spec.data);
			sp_buf_free(&spec);
			n++;
		}
		if (n == 0) {
			sp_buf_free(&b);
			return strdup("true\n");
		}
		sp_buf_addstr(&b, "\n");
		return sp_buf_take(&b);
	}
	if (strcmp(manager, "dnf") == 0 || strcmp(manager, "yum") == 0) {
		const char *tx = json_string_value(json_object_get(entry, "transaction"));
		sp_buf_printf(&b, "pm=%s\n", manager);
		dnf_base(&b, cfg, h);
		if (tx && *tx) {
			sp_buf_addstr(&b, " -y history undo ");
			sp_shell_quote(&b, tx);
		} else {
			sp_buf_addstr(&b, " -y downgrade");
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

char *sp_reboot_required_script(void)
{
	return strdup("if [ -e /var/run/reboot-required ]; then echo yes\n"
	              "elif command -v needs-restarting >/dev/null 2>&1; then\n"
	              "  if needs-restarting -r >/dev/null 2>&1; then echo no; else echo yes; fi\n"
	              "else echo no; fi\n");
}
