/*
 * ssh-patch: run commands, check and apply package updates, reboot, edit lines and manage
 * services on many hosts over SSH (libssh2) or locally, from an Ansible-style inventory.
 *
 * This file holds the descriptor, the configuration (one table gives schema and defaults)
 * and init/fini. See README.md beside it for what each action does.
 */
#include "act.h"

#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh2.h>

static const salve_arg config_schema[] = {
    {"inventory", SALVE_T_STRING, 0, "Ansible YAML inventory file (actions may pass inventory=)"},
    {"known_hosts", SALVE_T_STRING, 0, "OpenSSH known_hosts file (default ~/.ssh/known_hosts)"},
    {"accept_new", SALVE_T_BOOL, 0,
     "add unknown host keys to known_hosts (audited); changed keys are always refused"},
    {"agent", SALVE_T_BOOL, 0, "try ssh-agent identities (SSH_AUTH_SOCK) after the key file"},
    {"user", SALVE_T_STRING, 0, "SSH user when the inventory gives none (default: current user)"},
    {"private_key_file", SALVE_T_STRING, 0,
     "key file when the inventory gives none (ansible_ssh_private_key_file)"},
    {"private_key_passphrase", SALVE_T_STRING, SALVE_ARG_SECRET,
     "secret reference (env:NAME or file:/path) for the key's passphrase"},
    {"forks", SALVE_T_INT, 0, "hosts worked on at once (default 50)"},
    {"connect_timeout", SALVE_T_ANY, 0, "per-host connect timeout (default 10s)"},
    {"command_timeout", SALVE_T_ANY, 0, "per-host command timeout (default 30m)"},
    {"max_output", SALVE_T_INT, 0, "bytes of stdout/stderr kept per host (default 4 MiB)"},
    {"apt_options", SALVE_T_LIST, 0, "extra apt-get arguments, e.g. [\"-o\", \"Dir::...\"]"},
    {"dnf_options", SALVE_T_LIST, 0, "extra dnf/yum arguments"},
    {"reboot_command", SALVE_T_STRING, 0, "shell command that reboots a host"},
    {"systemctl", SALVE_T_STRING, 0, "systemctl program (default systemctl)"},
    {"refresh", SALVE_T_BOOL, 0, "refresh package lists before pending/patch (default true)"},
    {"engine", SALVE_T_STRING, 0, "poll (default) or threads: how hosts are multiplexed"},
    {"lock_timeout", SALVE_T_ANY, 0,
     "how long to wait for apt/dpkg/dnf/yum locks held by others (default 10m; inventory "
     "hosts may set salve_lock_timeout)"},
    {NULL, 0, 0, NULL},
};

#define DEFAULT_REBOOT_COMMAND                                                                     \
	"nohup sh -c 'sleep 2; shutdown -r now || systemctl reboot || reboot' >/dev/null 2>&1 &"

static void config_free(struct sp_config *c)
{
	free(c->inventory);
	free(c->known_hosts);
	free(c->user);
	free(c->private_key_file);
	if (c->passphrase) {
		memset(c->passphrase, 0, strlen(c->passphrase));
		free(c->passphrase);
	}
	free(c->reboot_command);
	free(c->systemctl);
	json_decref(c->apt_options);
	json_decref(c->dnf_options);
	memset(c, 0, sizeof *c);
}

static char *home_path(const char *path)
{
	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
		const char *home = getenv("HOME");
		struct passwd *pw = home ? NULL : getpwuid(getuid());
		if (!home)
			home = pw ? pw->pw_dir : "/";
		size_t n = strlen(home) + strlen(path) + 1;
		char *out = malloc(n);
		snprintf(out, n, "%s%s", home, path + 1);
		return out;
	}
	return strdup(path);
}

static int string_list(const json_t *v, const char *key, json_t **out, char *err, size_t errlen)
{
	if (!v || json_is_null(v)) {
		*out = json_array();
		return 0;
	}
	if (json_is_string(v)) {
		/* One string: split on spaces (options with spaces need the list form). */
		*out = json_array();
		char *copy = strdup(json_string_value(v));
		for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t;
		     t = strtok_r(NULL, " \t", &save))
			json_array_append_new(*out, json_string(t));
		free(copy);
		return 0;
	}
	size_t i;
	json_t *x;
	if (!json_is_array(v))
		goto bad;
	json_array_foreach(v, i, x) if (!json_is_string(x)) goto bad;
	*out = json_deep_copy(v);
	return 0;
bad:
	snprintf(err, errlen, "ssh-patch: %s must be a list of strings", key);
	return -1;
}

static int sp_init(const salve_host *host, const json_t *config, void **state, char *err,
                   size_t errlen)
{
	sp_api = host;
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)config, key, val)
	{
		int known = 0;
		for (const salve_arg *a = config_schema; a->name; a++)
			known |= strcmp(a->name, key) == 0;
		if (!known) {
			snprintf(err, errlen, "ssh-patch: unknown setting '%s'", key);
			return SALVE_ERR_INVALID;
		}
	}
	struct sp_state *st = calloc(1, sizeof *st);
	if (!st) {
		snprintf(err, errlen, "ssh-patch: out of memory");
		return SALVE_ERR;
	}
	struct sp_config *c = &st->cfg;
	const char *s;
	if ((s = json_string_value(json_object_get(config, "inventory"))))
		c->inventory = home_path(s);
	s = json_string_value(json_object_get(config, "known_hosts"));
	c->known_hosts = home_path(s ? s : "~/.ssh/known_hosts");
	c->accept_new = sp_bool(json_object_get(config, "accept_new"), 0);
	c->use_agent = sp_bool(json_object_get(config, "agent"), 1);
	if ((s = json_string_value(json_object_get(config, "user")))) {
		c->user = strdup(s);
	} else {
		struct passwd *pw = getpwuid(getuid());
		const char *env = getenv("USER");
		c->user = strdup(pw ? pw->pw_name : env ? env : "root");
	}
	if ((s = json_string_value(json_object_get(config, "private_key_file"))))
		c->private_key_file = home_path(s);
	if ((s = json_string_value(json_object_get(config, "private_key_passphrase")))) {
		c->passphrase = host->secret(NULL, s);
		if (!c->passphrase) {
			snprintf(err, errlen,
			         "ssh-patch: private_key_passphrase: cannot resolve the secret "
			         "reference");
			goto fail;
		}
	}
	c->forks = sp_long(json_object_get(config, "forks"), 50);
	c->connect_timeout = sp_duration(json_object_get(config, "connect_timeout"), 10);
	c->command_timeout = sp_duration(json_object_get(config, "command_timeout"), 1800);
	long max_output = sp_long(json_object_get(config, "max_output"), 4L << 20);
	if (c->forks < 1 || c->connect_timeout <= 0 || c->command_timeout <= 0 ||
	    max_output < 1024) {
		snprintf(err, errlen,
		         "ssh-patch: forks must be >= 1, timeouts positive durations, max_output "
		         ">= 1024");
		goto fail;
	}
	c->max_output = (size_t)max_output;
	if (string_list(json_object_get(config, "apt_options"), "apt_options", &c->apt_options, err,
	                errlen) < 0 ||
	    string_list(json_object_get(config, "dnf_options"), "dnf_options", &c->dnf_options, err,
	                errlen) < 0)
		goto fail;
	s = json_string_value(json_object_get(config, "reboot_command"));
	c->reboot_command = strdup(s ? s : DEFAULT_REBOOT_COMMAND);
	s = json_string_value(json_object_get(config, "systemctl"));
	c->systemctl = strdup(s ? s : "systemctl");
	c->refresh = sp_bool(json_object_get(config, "refresh"), 1);
	c->lock_timeout = sp_duration(json_object_get(config, "lock_timeout"), 600);
	if (c->lock_timeout < 0) {
		snprintf(err, errlen,
		         "ssh-patch: lock_timeout must be a duration (seconds, or 30s, 5m, 1h)");
		goto fail;
	}
	s = json_string_value(json_object_get(config, "engine"));
	if (s && strcmp(s, "threads") != 0 && strcmp(s, "poll") != 0) {
		snprintf(err, errlen, "ssh-patch: engine must be poll or threads, not '%s'", s);
		goto fail;
	}
	c->threads = s && strcmp(s, "threads") == 0;
	if (libssh2_init(0) != 0) {
		snprintf(err, errlen, "ssh-patch: libssh2_init failed");
		goto fail;
	}
	struct sp_fanout_settings fs = {
	    .known_hosts = c->known_hosts,
	    .accept_new = c->accept_new,
	    .use_agent = c->use_agent,
	    .user = c->user,
	    .private_key_file = c->private_key_file,
	    .passphrase = c->passphrase,
	    .forks = c->forks,
	    .connect_timeout = c->connect_timeout,
	    .command_timeout = c->command_timeout,
	    .max_output = c->max_output,
	    .threads = c->threads,
	};
	sp_fanout_init(&st->fanout, &fs);
	*state = st;
	return SALVE_OK;
fail:
	config_free(c);
	free(st);
	return SALVE_ERR_INVALID;
}

static void sp_fini(void *state)
{
	struct sp_state *st = state;
	if (!st)
		return;
	sp_fanout_destroy(&st->fanout);
	config_free(&st->cfg);
	free(st);
	libssh2_exit();
}

#define HOST_ARGS                                                                                  \
	{"hosts", SALVE_T_STRING, SALVE_ARG_REQUIRED,                                              \
	 "Ansible host pattern: group, host, a,b (or a:b), !x, g:&h, all"},                        \
	    {"inventory", SALVE_T_STRING, 0, "inventory file (default: the inventory setting)"},   \
	    {"forks", SALVE_T_INT, 0, "hosts worked on at once (default: the forks setting)"},     \
	    {"timeout", SALVE_T_DURATION, 0, "per-host command timeout: seconds or 30s, 5m, 1h"},  \
	{                                                                                          \
		"connect_timeout", SALVE_T_DURATION, 0, "per-host connect timeout"                 \
	}

static const salve_arg exec_args[] = {
    HOST_ARGS,
    {"argv", SALVE_T_LIST, 0, "command and arguments; each is quoted for the remote shell"},
    {"shell", SALVE_T_STRING, 0, "a shell command line, run as written (instead of argv)"},
    {"stdin", SALVE_T_STRING, 0, "text written to the command's standard input"},
    {"env", SALVE_T_MAP, 0,
     "environment {NAME = value} for the command; a local command gets only these, PATH and "
     "LANG=C"},
    {"allow_failures", SALVE_T_INT, 0, "hosts that may fail before the action fails (0)"},
    {NULL, 0, 0, NULL},
};

static const salve_arg pending_args[] = {
    HOST_ARGS,
    {"packages", SALVE_T_ANY, 0, "\"all\" (default) or a list of package names"},
    {"refresh", SALVE_T_BOOL, 0, "refresh package lists first (default: refresh setting)"},
    {NULL, 0, 0, NULL},
};

static const salve_arg patch_args[] = {
    HOST_ARGS,
    {"packages", SALVE_T_ANY, 0, "\"all\" (default) or a list of package names"},
    {"serial", SALVE_T_ANY, 0, "batch size: a count or a percentage like \"25%\" (all)"},
    {"max_fail", SALVE_T_ANY, 0, "failed hosts tolerated over the whole run: count or % (0)"},
    {"max_fail_per_batch", SALVE_T_INT, 0, "failed hosts tolerated within one batch"},
    {"health", SALVE_T_STRING, 0, "shell command run on each host after its batch; 0 = healthy"},
    {"reboot", SALVE_T_STRING, 0, "never (default), if-required or always"},
    {"reboot_wait", SALVE_T_DURATION, 0, "how long a rebooting host may take (default 10m)"},
    {"refresh", SALVE_T_BOOL, 0, "refresh package lists first (default: refresh setting)"},
    {NULL, 0, 0, NULL},
};

static const salve_arg reboot_args[] = {
    HOST_ARGS,
    {"wait", SALVE_T_DURATION, 0, "how long to wait for SSH and a new boot id (default 10m)"},
    {NULL, 0, 0, NULL},
};

static const salve_arg line_args[] = {
    HOST_ARGS,
    {"path", SALVE_T_STRING, SALVE_ARG_REQUIRED,
     "absolute path; {host} stands for the inventory host name"},
    {"line", SALVE_T_STRING, SALVE_ARG_REQUIRED, "the line that must be present"},
    {"regexp", SALVE_T_STRING, 0, "extended regex: the last matching line is replaced"},
    {"create", SALVE_T_BOOL, 0, "create the file when missing (default false)"},
    {NULL, 0, 0, NULL},
};

static const salve_arg service_args[] = {
    HOST_ARGS,
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "systemd unit"},
    {"state", SALVE_T_STRING, SALVE_ARG_REQUIRED, "started, stopped or restarted"},
    {NULL, 0, 0, NULL},
};

static const salve_action actions[] = {
    {.name = "exec",
     .kind = SALVE_MUTATE,
     .args = exec_args,
     .flags = SALVE_ACTION_NO_UNDO,
     .description = "Run a command on hosts (argv quoted safely, or shell=); cannot be undone",
     .target_arg = "hosts",
     .check = sp_exec_check,
     .plan = sp_exec_plan,
     .apply = sp_exec_apply,
     .undo = sp_exec_undo},
    {.name = "query",
     .kind = SALVE_READ,
     .args = exec_args,
     .description = "Run a read-only command on hosts; runs in dry-run too (exec's read form)",
     .target_arg = "hosts",
     .run = sp_query_run},
    {.name = "pending",
     .kind = SALVE_READ,
     .args = pending_args,
     .description = "Packages with updates waiting, per host (apt, dnf, yum)",
     .target_arg = "hosts",
     .run = sp_pending_run},
    {.name = "patch",
     .kind = SALVE_MUTATE,
     .args = patch_args,
     .description = "Upgrade packages in rolling batches with health checks and max_fail",
     .target_arg = "hosts",
     .check = sp_patch_check,
     .plan = sp_patch_plan,
     .apply = sp_patch_apply,
     .undo = sp_patch_undo},
    {.name = "reboot",
     .kind = SALVE_MUTATE,
     .args = reboot_args,
     .flags = SALVE_ACTION_NO_UNDO,
     .description = "Reboot hosts and wait until SSH answers with a new boot id",
     .target_arg = "hosts",
     .check = sp_reboot_check,
     .plan = sp_reboot_plan,
     .apply = sp_reboot_apply,
     .undo = sp_reboot_undo},
    {.name = "ensure_line",
     .kind = SALVE_MUTATE,
     .args = line_args,
     .description = "Make a line present in a file (replacing the last regexp match)",
     .target_arg = "hosts",
     .check = sp_line_check,
     .plan = sp_line_plan,
     .apply = sp_line_apply,
     .undo = sp_line_undo},
    {.name = "service",
     .kind = SALVE_MUTATE,
     .args = service_args,
     .description = "Start, stop or restart a systemd unit",
     .target_arg = "hosts",
     .check = sp_service_check,
     .plan = sp_service_plan,
     .apply = sp_service_apply,
     .undo = sp_service_undo},
    {.name = NULL},
};

static const salve_plugin descriptor = {
    SALVE_PLUGIN_HEADER,
    .name = "ssh-patch",
    .version = "0.1.0",
    .description = "Commands, patching, reboots, line edits and services over SSH (libssh2)",
    .actions = actions,
    .config = config_schema,
    .init = sp_init,
    .fini = sp_fini,
};

SALVE_PLUGIN_DECLARE(descriptor)
