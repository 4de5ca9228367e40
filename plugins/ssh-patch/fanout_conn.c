/*
 * Fan-out sessions: the connection cache, TCP connect, SSH handshake, the known_hosts check
 * and authentication, as non-blocking steps of a job (see fanout_int.h).
 *
 * Sessions are cached per user@address:port+key in struct sp_fanout and reused by later
 * calls; a cached session that turns out dead is replaced once, transparently.
 */
#include "fanout_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CACHED_SESSIONS 1024

void sp_fanout__fail(struct sp_job *j, int kind, const char *fmt, ...)
{
	struct sp_cmd *c = j->cmd;
	if (c->error_kind != SP_E_NONE)
		return; /* keep the first cause */
	struct sp_buf msg = {0};
	if (c->host->local)
		sp_buf_printf(&msg, "host %s (local): ", c->host->name);
	else
		sp_buf_printf(&msg, "host %s (%s port %d): ", c->host->name, c->host->address,
		              c->host->port);
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	sp_buf_addstr(&msg, why);
	/* Server messages (libssh2 passes some on) reach people through this text. */
	sp_escape_into(c->error, sizeof c->error, msg.data ? msg.data : "");
	sp_buf_free(&msg);
	c->error_kind = kind;
}

const char *sp_fanout__ssh_errmsg(LIBSSH2_SESSION *s)
{
	char *msg = NULL;
	if (!s)
		return "no session";
	libssh2_session_last_error(s, &msg, NULL, 0);
	return msg && *msg ? msg : "unknown libssh2 error";
}

static char *expand_home(const char *path)
{
	if (!path)
		return NULL;
	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
		const char *home = getenv("HOME");
		if (!home) {
			struct passwd *pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : "/";
		}
		size_t n = strlen(home) + strlen(path) + 1;
		char *out = malloc(n);
		if (out)
			snprintf(out, n, "%s%s", home, path + 1);
		return out;
	}
	return strdup(path);
}

/* ---- the connection cache -------------------------------------------------------------- */

static void conn_destroy(struct sp_conn *c, int orderly)
{
	if (!c)
		return;
	if (c->session) {
		if (orderly) {
			/* A bounded, blocking goodbye: only at fini or for idle sessions. */
			libssh2_session_set_timeout(c->session, 2000);
			libssh2_session_set_blocking(c->session, 1);
			libssh2_session_disconnect(c->session, "salve: closing");
		} else if (c->sock >= 0) {
			/* Broken or timed out: stop all traffic first so freeing cannot block or
			 * write into a reused descriptor. */
			shutdown(c->sock, SHUT_RDWR);
		}
		libssh2_session_free(c->session);
	}
	if (c->sock >= 0)
		close(c->sock);
	free(c->key);
	free(c);
}

static struct sp_conn *cache_take(struct sp_fanout *fo, const char *key)
{
	struct sp_conn *found = NULL;
	pthread_mutex_lock(&fo->lock);
	for (struct sp_conn **pp = &fo->cache; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) == 0) {
			found = *pp;
			*pp = found->next;
			found->next = NULL;
			fo->ncached--;
			break;
		}
	}
	pthread_mutex_unlock(&fo->lock);
	return found;
}

static void cache_put(struct sp_fanout *fo, struct sp_conn *c)
{
	struct sp_conn *drop = NULL;
	pthread_mutex_lock(&fo->lock);
	int dup = 0;
	for (struct sp_conn *p = fo->cache; p; p = p->next)
		dup |= strcmp(p->key, c->key) == 0;
	if (dup || fo->ncached >= MAX_CACHED_SESSIONS) {
		drop = c;
	} else {
		c->next = fo->cache;
		fo->cache = c;
		fo->ncached++;
	}
	pthread_mutex_unlock(&fo->lock);
	conn_destroy(drop, 0);
}

static void conn_key(struct sp_buf *b, const char *user, const struct sp_host *h,
                     const char *key_path)
{
	sp_buf_printf(b, "%s@%s:%d key=%s", user, h->address, h->port, key_path ? key_path : "");
}

void sp_fanout_forget(struct sp_fanout *fo, const struct sp_host *h)
{
	char needle[600];
	snprintf(needle, sizeof needle, "@%s:%d key=", h->address, h->port);
	struct sp_conn *doomed = NULL;
	pthread_mutex_lock(&fo->lock);
	for (struct sp_conn **pp = &fo->cache; *pp;) {
		if (strstr((*pp)->key, needle)) {
			struct sp_conn *c = *pp;
			*pp = c->next;
			c->next = doomed;
			doomed = c;
			fo->ncached--;
		} else {
			pp = &(*pp)->next;
		}
	}
	pthread_mutex_unlock(&fo->lock);
	while (doomed) {
		struct sp_conn *next = doomed->next;
		conn_destroy(doomed, 0);
		doomed = next;
	}
}

void sp_fanout__conn_close_all(struct sp_fanout *fo)
{
	pthread_mutex_lock(&fo->lock);
	struct sp_conn *all = fo->cache;
	fo->cache = NULL;
	fo->ncached = 0;
	pthread_mutex_unlock(&fo->lock);
	while (all) {
		struct sp_conn *next = all->next;
		conn_destroy(all, 1);
		all = next;
	}
}

/* ---- known_hosts ----------------------------------------------------------------------- */

struct keytype {
	int hostkey_type; /* LIBSSH2_HOSTKEY_TYPE_* */
	int kh_type;      /* LIBSSH2_KNOWNHOST_KEY_* */
	const char *name;
	const char *methods; /* hostkey algorithms for the preference list */
};

static const struct keytype keytypes[] = {
    {LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519", "ssh-ed25519"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256",
     "ecdsa-sha2-nistp256"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384",
     "ecdsa-sha2-nistp384"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521",
     "ecdsa-sha2-nistp521"},
    {LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa",
     "rsa-sha2-512,rsa-sha2-256,ssh-rsa"},
    {LIBSSH2_HOSTKEY_TYPE_DSS, LIBSSH2_KNOWNHOST_KEY_SSHDSS, "ssh-dss", "ssh-dss"},
};
#define NKEYTYPES (sizeof keytypes / sizeof *keytypes)

/* Load known_hosts line by line: libssh2's own readfile gives up on the first line it does
 * not understand (@cert-authority, sk- keys), which would refuse every host. */
static LIBSSH2_KNOWNHOSTS *known_hosts_load(LIBSSH2_SESSION *s, const char *path)
{
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(s);
	if (!kh || !path)
		return kh;
	FILE *f = fopen(path, "r");
	if (!f)
		return kh;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		const char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\0' || *p == '@')
			continue;
		libssh2_knownhost_readline(kh, line, (size_t)n, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	}
	free(line);
	fclose(f);
	return kh;
}

/* Put the host key types known_hosts has for this host first, as OpenSSH does, so a server
 * offering several keys is asked for one we can verify. */
static void prefer_known_key_types(LIBSSH2_SESSION *s, LIBSSH2_KNOWNHOSTS *kh,
                                   const struct sp_host *h)
{
	struct sp_buf pref = {0};
	int known[NKEYTYPES] = {0};
	int any = 0;
	for (size_t i = 0; i < NKEYTYPES; i++) {
		/* A key that cannot match: MISMATCH means an entry of this type exists. */
		int r =
		    libssh2_knownhost_checkp(kh, h->address, h->port, "salve-probe", 11,
		                             LIBSSH2_KNOWNHOST_TYPE_PLAIN |
		                                 LIBSSH2_KNOWNHOST_KEYENC_RAW | keytypes[i].kh_type,
		                             NULL);
		known[i] = r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH;
		any |= known[i];
	}
	if (!any)
		return;
	/* Only algorithms this libssh2 supports: 1.10 removes unsupported ones from the list
	 * with an overlapping memcpy. */
	const char **algs = NULL;
	int nalgs = libssh2_session_supported_algs(s, LIBSSH2_METHOD_HOSTKEY, &algs);
	if (nalgs <= 0)
		return;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < NKEYTYPES; i++) {
			if (known[i] != (pass == 0))
				continue;
			char *methods = strdup(keytypes[i].methods);
			for (char *save = NULL, *m = strtok_r(methods, ",", &save); m;
			     m = strtok_r(NULL, ",", &save))
				for (int k = 0; k < nalgs; k++)
					if (strcmp(algs[k], m) == 0) {
						if (pref.len)
							sp_buf_addstr(&pref, ",");
						sp_buf_addstr(&pref, m);
					}
			free(methods);
		}
	libssh2_free(s, algs);
	if (pref.len)
		libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY, pref.data);
	sp_buf_free(&pref);
}

static int append_known_host(struct sp_fanout *fo, LIBSSH2_KNOWNHOSTS *kh,
                             struct libssh2_knownhost *entry, char *why, size_t whylen)
{
	char line[8192];
	size_t outlen = 0;
	if (libssh2_knownhost_writeline(kh, entry, line, sizeof line, &outlen,
	                                LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
		snprintf(why, whylen, "cannot format the known_hosts line");
		return -1;
	}
	pthread_mutex_lock(&fo->lock);
	int fd = open(fo->set.known_hosts, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	int rc = -1;
	if (fd >= 0) {
		rc = write(fd, line, outlen) == (ssize_t)outlen ? 0 : -1;
		if (close(fd) != 0)
			rc = -1;
	}
	pthread_mutex_unlock(&fo->lock);
	if (rc < 0)
		snprintf(why, whylen, "cannot append to %s: %s", fo->set.known_hosts,
		         strerror(errno));
	return rc;
}

static int verify_host_key(struct sp_job *j, LIBSSH2_KNOWNHOSTS *kh)
{
	LIBSSH2_SESSION *s = j->conn->session;
	const struct sp_host *h = j->cmd->host;
	size_t len = 0;
	int type = 0;
	const char *key = libssh2_session_hostkey(s, &len, &type);
	if (!key) {
		sp_fanout__fail(j, SP_E_HOSTKEY, "the server sent no host key; refusing");
		return -1;
	}
	const struct keytype *kt = NULL;
	for (size_t i = 0; i < NKEYTYPES; i++)
		if (keytypes[i].hostkey_type == type)
			kt = &keytypes[i];
	if (!kt) {
		sp_fanout__fail(j, SP_E_HOSTKEY, "host key of unsupported type %d; refusing", type);
		return -1;
	}
	char fp[64] = "?";
	const char *hash = libssh2_hostkey_hash(s, LIBSSH2_HOSTKEY_HASH_SHA256);
	if (hash) {
		char *b64 = sp_base64(hash, 32);
		if (b64) {
			char *eq = strchr(b64, '=');
			if (eq)
				*eq = '\0';
			snprintf(fp, sizeof fp, "SHA256:%s", b64);
			free(b64);
		}
	}
	const char *path = j->fo->set.known_hosts;
	int typemask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | kt->kh_type;
	int r = libssh2_knownhost_checkp(kh, h->address, h->port, key, len, typemask, NULL);
	if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
		return 0;
	if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
		sp_fanout__fail(
		    j, SP_E_HOSTKEY,
		    "host key CHANGED: the server offers %s %s, which does not match the key "
		    "known_hosts %s holds for it; refusing (possible man-in-the-middle)",
		    kt->name, fp, path);
		return -1;
	}
	if (r != LIBSSH2_KNOWNHOST_CHECK_NOTFOUND) {
		sp_fanout__fail(j, SP_E_HOSTKEY,
		                "cannot check the %s host key against %s: %s; refusing", kt->name,
		                path, sp_fanout__ssh_errmsg(s));
		return -1;
	}
	if (!j->fo->set.accept_new) {
		sp_fanout__fail(
		    j, SP_E_HOSTKEY,
		    "unknown host key %s %s: not in known_hosts %s; refusing (verify it and "
		    "add it, or set accept_new)",
		    kt->name, fp, path);
		return -1;
	}
	char name[600];
	if (h->port == 22)
		snprintf(name, sizeof name, "%s", h->address);
	else
		snprintf(name, sizeof name, "[%s]:%d", h->address, h->port);
	struct libssh2_knownhost *entry = NULL;
	char why[300];
	if (libssh2_knownhost_addc(kh, name, NULL, key, len, NULL, 0, typemask, &entry) != 0 ||
	    append_known_host(j->fo, kh, entry, why, sizeof why) < 0) {
		if (!entry)
			snprintf(why, sizeof why, "%s", sp_fanout__ssh_errmsg(s));
		sp_fanout__fail(j, SP_E_HOSTKEY,
		                "accept_new: cannot record host key %s %s in %s: %s", kt->name, fp,
		                path, why);
		return -1;
	}
	json_decref(j->cmd->key_added);
	j->cmd->key_added = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "host", h->name, "address",
	                              h->address, "port", h->port, "key_type", kt->name,
	                              "fingerprint", fp, "known_hosts", path);
	return 0;
}

void sp_fanout__conn_release(struct sp_job *j, int reusable)
{
	if (j->agent) {
		libssh2_agent_disconnect(j->agent);
		libssh2_agent_free(j->agent);
		j->agent = NULL;
	}
	if (j->chan && !reusable) {
		/* Not reusable: the session goes with it; freeing the session frees the channel. */
		j->chan = NULL;
	}
	if (j->conn) {
		if (reusable)
			cache_put(j->fo, j->conn);
		else
			conn_destroy(j->conn, 0);
		j->conn = NULL;
	}
	if (j->ai) {
		freeaddrinfo(j->ai);
		j->ai = NULL;
	}
}

static int tcp_next_address(struct sp_job *j)
{
	int last_err = 0;
	for (; j->ai_cur; j->ai_cur = j->ai_cur->ai_next) {
		struct addrinfo *a = j->ai_cur;
		if (j->conn->sock >= 0) {
			close(j->conn->sock);
			j->conn->sock = -1;
		}
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		                a->ai_protocol);
		if (fd < 0) {
			last_err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		j->conn->sock = fd;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			j->state = J_HANDSHAKE;
			return 0;
		}
		if (errno == EINPROGRESS) {
			j->state = J_TCP;
			return 0;
		}
		last_err = errno;
	}
	sp_fanout__fail(j, SP_E_CONNECT, "cannot connect: %s",
	                strerror(last_err ? last_err : ECONNREFUSED));
	return -1;
}

static int ssh_begin(struct sp_job *j)
{
	struct sp_conn *cached = j->reconnected ? NULL : cache_take(j->fo, j->conn_key);
	if (cached) {
		j->conn = cached;
		j->from_cache = 1;
		j->state = J_CHAN_OPEN;
		return 0;
	}
	j->from_cache = 0;
	j->conn = calloc(1, sizeof *j->conn);
	if (!j->conn) {
		sp_fanout__fail(j, SP_E_CONNECT, "out of memory");
		return -1;
	}
	j->conn->sock = -1;
	j->conn->key = strdup(j->conn_key);
	char port[16];
	snprintf(port, sizeof port, "%d", j->cmd->host->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	int gai = getaddrinfo(j->cmd->host->address, port, &hints, &j->ai);
	if (gai != 0) {
		sp_fanout__fail(j, SP_E_CONNECT, "cannot resolve address: %s", gai_strerror(gai));
		return -1;
	}
	j->ai_cur = j->ai;
	return tcp_next_address(j);
}

static int ssh_start_session(struct sp_job *j)
{
	LIBSSH2_SESSION *s = libssh2_session_init();
	if (!s) {
		sp_fanout__fail(j, SP_E_CONNECT, "cannot create an SSH session");
		return -1;
	}
	j->conn->session = s;
	libssh2_session_set_blocking(s, 0);
	LIBSSH2_KNOWNHOSTS *kh = known_hosts_load(s, j->fo->set.known_hosts);
	if (kh) {
		prefer_known_key_types(s, kh, j->cmd->host);
		libssh2_knownhost_free(kh);
	}
	return 0;
}

/* A failure on a session taken from the cache before anything ran: the server closed it
 * while idle (restart, reboot, timeout). Start over once with a new connection. */
int sp_fanout__conn_retry(struct sp_job *j)
{
	if (!j->from_cache || j->reconnected)
		return 0;
	j->chan = NULL;
	conn_destroy(j->conn, 0);
	j->conn = NULL;
	j->reconnected = 1;
	j->from_cache = 0;
	j->connect_deadline = fmin(sp_now() + j->connect_timeout, j->step_deadline);
	if (ssh_begin(j) < 0)
		return -1;
	return 1;
}
int sp_fanout__conn_begin(struct sp_job *j)
{
	const struct sp_host *h = j->cmd->host;
	j->user = h->user ? h->user : j->fo->set.user;
	j->key_path = expand_home(h->key_file ? h->key_file : j->fo->set.private_key_file);
	struct sp_buf k = {0};
	conn_key(&k, j->user, h, j->key_path);
	j->conn_key = sp_buf_take(&k);
	return ssh_begin(j);
}

static enum sp_step conn_tcp(struct sp_job *j)
{
	struct pollfd p = {.fd = j->conn->sock, .events = POLLOUT};
	if (poll(&p, 1, 0) <= 0)
		return SP_STEP_BLOCKED;
	int err = 0;
	socklen_t len = sizeof err;
	getsockopt(j->conn->sock, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err != 0) {
		j->ai_cur = j->ai_cur->ai_next;
		if (!j->ai_cur) {
			sp_fanout__fail(j, SP_E_CONNECT, "cannot connect: %s", strerror(err));
			return SP_STEP_FAILED;
		}
		return tcp_next_address(j) < 0 ? SP_STEP_FAILED : SP_STEP_AGAIN;
	}
	j->state = J_HANDSHAKE;
	return SP_STEP_AGAIN;
}

static enum sp_step conn_handshake(struct sp_job *j)
{
	if (!j->conn->session && ssh_start_session(j) < 0)
		return SP_STEP_FAILED;
	LIBSSH2_SESSION *s = j->conn->session;
	int rc = libssh2_session_handshake(s, j->conn->sock);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return SP_STEP_BLOCKED;
	if (rc != 0) {
		sp_fanout__fail(j, SP_E_CONNECT, "SSH handshake failed: %s",
		                sp_fanout__ssh_errmsg(s));
		return SP_STEP_FAILED;
	}
	LIBSSH2_KNOWNHOSTS *kh = known_hosts_load(s, j->fo->set.known_hosts);
	if (!kh) {
		sp_fanout__fail(j, SP_E_HOSTKEY, "cannot load known_hosts; refusing");
		return SP_STEP_FAILED;
	}
	int ok = verify_host_key(j, kh);
	libssh2_knownhost_free(kh);
	if (ok < 0)
		return SP_STEP_FAILED;
	j->state = J_AUTH_KEY;
	return SP_STEP_AGAIN;
}

/* The key file first, then (when allowed) each ssh-agent identity. */
static enum sp_step conn_auth_key(struct sp_job *j)
{
	LIBSSH2_SESSION *s = j->conn->session;
	const char *key = j->key_path ? j->key_path : "none";
	if (j->key_path && !j->key_tried) {
		int rc = libssh2_userauth_publickey_fromfile_ex(s, j->user,
		                                                (unsigned)strlen(j->user), NULL,
		                                                j->key_path, j->fo->set.passphrase);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return SP_STEP_BLOCKED;
		j->key_tried = 1;
		if (rc == 0) {
			j->state = J_CHAN_OPEN;
			return SP_STEP_AGAIN;
		}
	}
	j->key_tried = 1;
	if (!j->fo->set.use_agent || !getenv("SSH_AUTH_SOCK")) {
		sp_fanout__fail(j, SP_E_AUTH, "authentication as %s failed (key file %s%s%s)",
		                j->user, key, j->key_path ? ": " : "",
		                j->key_path ? sp_fanout__ssh_errmsg(s) : "");
		return SP_STEP_FAILED;
	}
	j->agent = libssh2_agent_init(s);
	if (!j->agent || libssh2_agent_connect(j->agent) != 0 ||
	    libssh2_agent_list_identities(j->agent) != 0) {
		sp_fanout__fail(j, SP_E_AUTH,
		                "authentication as %s failed: key file %s rejected and ssh-agent "
		                "unusable (%s)",
		                j->user, key, sp_fanout__ssh_errmsg(s));
		return SP_STEP_FAILED;
	}
	j->identity = NULL;
	if (libssh2_agent_get_identity(j->agent, &j->identity, NULL) != 0)
		j->identity = NULL;
	j->state = J_AUTH_AGENT;
	return SP_STEP_AGAIN;
}

static enum sp_step conn_auth_agent(struct sp_job *j)
{
	if (!j->identity) {
		sp_fanout__fail(j, SP_E_AUTH,
		                "authentication as %s failed: key file %s and %d ssh-agent "
		                "identities were refused",
		                j->user, j->key_path ? j->key_path : "none", j->agent_identities);
		return SP_STEP_FAILED;
	}
	int rc = libssh2_agent_userauth(j->agent, j->user, j->identity);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return SP_STEP_BLOCKED;
	if (rc == 0) {
		libssh2_agent_disconnect(j->agent);
		libssh2_agent_free(j->agent);
		j->agent = NULL;
		j->state = J_CHAN_OPEN;
		return SP_STEP_AGAIN;
	}
	j->agent_identities++;
	struct libssh2_agent_publickey *prev = j->identity;
	if (libssh2_agent_get_identity(j->agent, &j->identity, prev) != 0)
		j->identity = NULL;
	return SP_STEP_AGAIN;
}

enum sp_step sp_fanout__conn_step(struct sp_job *j)
{
	switch (j->state) {
	case J_TCP:
		return conn_tcp(j);
	case J_HANDSHAKE:
		return conn_handshake(j);
	case J_AUTH_KEY:
		return conn_auth_key(j);
	case J_AUTH_AGENT:
		return conn_auth_agent(j);
	default:
		return SP_STEP_BLOCKED;
	}
}
