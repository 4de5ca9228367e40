/*
 * ssh-patch: run commands, check and apply package updates, reboot, edit lines and manage
 * services on many hosts over SSH (libssh2) or locally, from an Ansible-style inventory.
 *
 * This file holds the descriptor, the settings (the core checks salve.yaml against them and
 * fills in their defaults before init) and init/fini. See README.md beside it for what each action
 * does.
 */
#include "act.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh2.h>

#define DEFAULT_REBOOT_COMMAND                                                                     \
	"nohup sh -c 'sleep 2; shutdown -r now || systemctl reboot || reboot' >/dev/null 2>&1 &"

static const char *const engines[] = {"poll", "threads", NULL};

/* plugins: ssh-patch: in salve.yaml; the core checks it (ranges and the engine's name too) and
 * fills in the defaults. */
static const salve_setting settings[] = {
    {.name = "inventory",
     .type = SALVE_T_STRING,
     .description = "Ansible YAML inventory file (actions may pass inventory=)"},
    {.name = "known_hosts",
     .type = SALVE_T_STRING,
     .default_value = "~/.ssh/known_hosts",
     .description = "OpenSSH known_hosts file"},
    {.name = "accept_new",
     .type = SALVE_T_BOOL,
     .default_value = "false",
     .description =
         "add unknown host keys to known_hosts (audited); changed keys are always refused"},
    {.name = "agent",
     .type = SALVE_T_BOOL,
     .default_value = "true",
     .description = "try ssh-agent identities (SSH_AUTH_SOCK) after the key"},
    {.name = "user",
     .type = SALVE_T_STRING,
     .description = "SSH user when the inventory gives none (default: yours)"},
    {.name = "private_key_file",
     .type = SALVE_T_STRING,
     .description = "key file when the inventory gives none (ansible_ssh_private_key_file)"},
    {.name = "private_key_passphrase",
     .type = SALVE_T_SECRET_REF,
     .description = "the key's passphrase"},
    {.name = "forks",
     .type = SALVE_T_INT,
     .flags = SALVE_SETTING_MIN,
     .default_value = "50",
     .description = "hosts worked on at once",
     .min = 1},
    {.name = "connect_timeout",
     .type = SALVE_T_DURATION,
     .flags = SALVE_SETTING_MIN | SALVE_SETTING_ABOVE,
     .default_value = "10s",
     .description = "per-host connect timeout"},
    {.name = "command_timeout",
     .type = SALVE_T_DURATION,
     .flags = SALVE_SETTING_MIN | SALVE_SETTING_ABOVE,
     .default_value = "30m",
     .description = "per-host command timeout"},
    {.name = "max_output",
     .type = SALVE_T_INT,
     .flags = SALVE_SETTING_MIN,
     .default_value = "4194304",
     .description = "bytes of stdout/stderr kept per host",
     .min = 1024},
    {.name = "apt_options",
     .type = SALVE_T_LIST,
     .flags = SALVE_SETTING_STRINGS,
     .default_value = "[]",
     .description = "extra apt-get arguments, e.g. [\"-o\", \"Dir::...\"]"},
    {.name = "dnf_options",
     .type = SALVE_T_LIST,
     .flags = SALVE_SETTING_STRINGS,
     .default_value = "[]",
     .description = "extra dnf/yum arguments"},
    {.name = "reboot_command",
     .type = SALVE_T_STRING,
     .default_value = DEFAULT_REBOOT_COMMAND,
     .description = "shell command that reboots a host"},
    {.name = "systemctl",
     .type = SALVE_T_STRING,
     .default_value = "systemctl",
     .description = "the systemctl program"},
    {.name = "refresh",
     .type = SALVE_T_BOOL,
     .default_value = "true",
     .description = "refresh package lists before pending/patch"},
    {.name = "engine",
     .type = SALVE_T_STRING,
     .default_value = "poll",
     .description = "how hosts are multiplexed",
     .choices = engines},
    {.name = "lock_timeout",
     .type = SALVE_T_DURATION,
     .default_value = "10m",
     .description =
         "how long to wait for apt/dpkg/dnf/yum locks held by others (inventory hosts may set "
         "salve_lock_timeout)"},
    {.name = NULL},
};

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

/* A copy of path with a leading ~ made the home directory; NULL for NULL. */
static char *home_path(const char *path)
{
	if (path && path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
		const char *home = getenv("HOME");
		struct passwd *pw = home ? NULL : getpwuid(getuid());
		if (!home)
			home = pw ? pw->pw_dir : "/";
		size_t n = strlen(home) + strlen(path) + 1;
		char *out = malloc(n);
		snprintf(out, n, "%s%s", home, path + 1);
		return out;
	}
	return path ? strdup(path) : NULL;
}

static const char *str(const json_t *config, const char *key)
{
	return json_string_value(json_object_get(config, key));
}

static double num(const json_t *config, const char *key)
{
	return json_number_value(json_object_get(config, key));
}

/* Reads the values the core checked, finds what has no fixed default (the user) and resolves
 * the passphrase. */
static int config_read(const salve_host *host, const json_t *config, struct sp_config *c, char *err,
                       size_t errlen)
{
	c->inventory = home_path(str(config, "inventory"));
	c->known_hosts = home_path(str(config, "known_hosts"));
	c->private_key_file = home_path(str(config, "private_key_file"));
	c->accept_new = json_is_true(json_object_get(config, "accept_new"));
	c->use_agent = json_is_true(json_object_get(config, "agent"));
	c->refresh = json_is_true(json_object_get(config, "refresh"));
	c->forks = (long)num(config, "forks");
	c->connect_timeout = num(config, "connect_timeout");
	c->command_timeout = num(config, "command_timeout");
	c->lock_timeout = num(config, "lock_timeout");
	c->reboot_command = strdup(str(config, "reboot_command"));
	c->systemctl = strdup(str(config, "systemctl"));
	c->threads = strcmp(str(config, "engine"), "threads") == 0;
	c->max_output = (size_t)num(config, "max_output");
	c->apt_options = json_deep_copy(json_object_get(config, "apt_options"));
	c->dnf_options = json_deep_copy(json_object_get(config, "dnf_options"));
	const char *user = str(config, "user");
	struct passwd *pw = user ? NULL : getpwuid(getuid());
	if (!user)
		user = pw ? pw->pw_name : getenv("USER") ? getenv("USER") : "root";
	c->user = strdup(user);
	const char *passphrase_ref = str(config, "private_key_passphrase");
	if (passphrase_ref && !(c->passphrase = host->secret(NULL, passphrase_ref))) {
		snprintf(err, errlen,
		         "ssh-patch: private_key_passphrase: cannot resolve the secret reference");
		return -1;
	}
	return 0;
}

static int sp_init(const salve_host *host, const json_t *config, void **state, char *err,
                   size_t errlen)
{
	sp_api = host;
	struct sp_state *st = calloc(1, sizeof *st);
	if (!st) {
		snprintf(err, errlen, "ssh-patch: out of memory");
		return SALVE_ERR;
	}
	struct sp_config *c = &st->cfg;
	if (config_read(host, config, c, err, errlen) < 0)
		goto fail;
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

static const char *const service_states[] = {"started", "stopped", "restarted", NULL};
static const salve_arg_choices service_choices[] = {{"state", service_states}, {NULL, NULL}};
static const char *const reboot_policies[] = {"never", "if-required", "always", NULL};
static const salve_arg_choices patch_choices[] = {{"reboot", reboot_policies}, {NULL, NULL}};

static const salve_arg service_args[] = {
    HOST_ARGS,
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "systemd unit"},
    {"state", SALVE_T_STRING, SALVE_ARG_REQUIRED, "started, stopped or restarted"},
    {NULL, 0, 0, NULL},
};

/* What each action returns (README: Actions): per-host results and counts, and for pending and
 * patch their totals. */
#define HOST_RESULTS                                                                               \
	{"hosts", SALVE_T_MAP, 0,                                                                  \
	 "{NAME = {rc, stdout, stderr, duration, changed, error, ...}} per host; rc null when "    \
	 "the command did not run, error null when fine"},                                         \
	    {"ok", SALVE_T_INT, 0, "hosts that succeeded"},                                        \
	{                                                                                          \
		"failed", SALVE_T_INT, 0, "hosts that failed"                                      \
	}
static const salve_arg host_results[] = {HOST_RESULTS, {NULL, 0, 0, NULL}};
static const salve_arg pending_results[] = {
    HOST_RESULTS,
    {"pending", SALVE_T_INT, 0, "updates waiting on all hosts"},
    {"hosts_with_updates", SALVE_T_INT, 0, "hosts with at least one"},
    {NULL, 0, 0, NULL},
};
static const salve_arg patch_results[] = {
    HOST_RESULTS,
    {"batches", SALVE_T_ANY, 0, "plan: the hosts of each batch; apply: how many batches"},
    {"batches_run", SALVE_T_INT, 0, "batches that ran (apply)"},
    {"stopped", SALVE_T_BOOL, 0, "max_fail or a failure stopped the run (apply)"},
    {"max_fail", SALVE_T_INT, 0, "failed hosts tolerated (plan)"},
    {"reboot", SALVE_T_STRING, 0, "never, if-required or always (plan)"},
    {"health", SALVE_T_STRING, 0, "the health command, when given (plan)"},
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
     .undo = sp_exec_undo,
     .results = host_results},
    {.name = "query",
     .kind = SALVE_READ,
     .args = exec_args,
     .description = "Run a read-only command on hosts; runs in dry-run too (exec's read form)",
     .target_arg = "hosts",
     .run = sp_query_run,
     .results = host_results},
    {.name = "pending",
     .kind = SALVE_READ,
     .args = pending_args,
     .description = "Packages with updates waiting, per host (apt, dnf, yum)",
     .target_arg = "hosts",
     .run = sp_pending_run,
     .results = pending_results},
    {.name = "patch",
     .kind = SALVE_MUTATE,
     .args = patch_args,
     .description = "Upgrade packages in rolling batches with health checks and max_fail",
     .target_arg = "hosts",
     .check = sp_patch_check,
     .plan = sp_patch_plan,
     .apply = sp_patch_apply,
     .undo = sp_patch_undo,
     .results = patch_results,
     .choices = patch_choices},
    {.name = "reboot",
     .kind = SALVE_MUTATE,
     .args = reboot_args,
     .flags = SALVE_ACTION_NO_UNDO,
     .description = "Reboot hosts and wait until SSH answers with a new boot id",
     .target_arg = "hosts",
     .check = sp_reboot_check,
     .plan = sp_reboot_plan,
     .apply = sp_reboot_apply,
     .undo = sp_reboot_undo,
     .results = host_results},
    {.name = "ensure_line",
     .kind = SALVE_MUTATE,
     .args = line_args,
     .description = "Make a line present in a file (replacing the last regexp match)",
     .target_arg = "hosts",
     .check = sp_line_check,
     .plan = sp_line_plan,
     .apply = sp_line_apply,
     .undo = sp_line_undo,
     .results = host_results},
    {.name = "service",
     .kind = SALVE_MUTATE,
     .args = service_args,
     .description = "Start, stop or restart a systemd unit",
     .target_arg = "hosts",
     .check = sp_service_check,
     .plan = sp_service_plan,
     .apply = sp_service_apply,
     .undo = sp_service_undo,
     .results = host_results,
     .choices = service_choices},
    {.name = NULL},
};

static const salve_plugin descriptor = {
    SALVE_PLUGIN_HEADER,
    .name = "ssh-patch",
    .version = "0.1.0",
    .description = "Commands, patching, reboots, line edits and services over SSH (libssh2)",
    .actions = actions,
    .settings = settings,
    .init = sp_init,
    .fini = sp_fini,
};

SALVE_PLUGIN_DECLARE(descriptor)
