/*
 * testkit: the plugin the core's tests drive. Every action kind, a file-backed key/value
 * store (SALVE_TESTKIT_DIR/kv/KEY) that tests inspect directly, and a call counter per
 * callback (SALVE_TESTKIT_DIR/calls/ACTION.CALLBACK, one byte appended per call) so a test
 * can prove, for example, that a dry-run never reached apply.
 */
#include <errno.h>
#include <fcntl.h>
#include <salve/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const salve_host *H;
static char dir[1024];

static void count(const char *action, const char *callback)
{
	char path[1400];
	snprintf(path, sizeof path, "%s/calls/%s.%s", dir, action, callback);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, ".", 1) != 1)
			H->log(NULL, SALVE_LOG_WARN, "cannot count a call in %s", path);
		close(fd);
	}
}

static int init(const salve_host *host, const json_t *config, void **state, char *err,
                size_t errlen)
{
	H = host;
	*state = NULL;
	const char *d = json_string_value(json_object_get(config, "dir"));
	if (!d)
		d = getenv("SALVE_TESTKIT_DIR");
	if (!d) {
		snprintf(err, errlen, "set SALVE_TESTKIT_DIR or plugins.testkit.dir");
		return -1;
	}
	snprintf(dir, sizeof dir, "%s", d);
	char sub[1200];
	snprintf(sub, sizeof sub, "%s/calls", dir);
	mkdir(dir, 0755);
	mkdir(sub, 0755);
	snprintf(sub, sizeof sub, "%s/kv", dir);
	mkdir(sub, 0755);
	return 0;
}

static int kv_read(const char *key, char *out, size_t len)
{
	char path[1400];
	snprintf(path, sizeof path, "%s/kv/%s", dir, key);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
	return 0;
}

static int kv_write(const char *key, const char *value)
{
	char path[1400];
	snprintf(path, sizeof path, "%s/kv/%s", dir, key);
	if (!value)
		return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
	/* Beside and renamed, as the plugin contract asks of apply (plugin.h): killed midway,
	 * the key holds its old value or the new one, never a torn one. */
	char tmp[1420];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(value, f);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int valid_key(salve_call *call, const char *key)
{
	if (!key || !*key || strchr(key, '/') || key[0] == '.') {
		H->fail(call, "bad key");
		return 0;
	}
	return 1;
}

static int get_run(salve_call *call, const json_t *args, json_t **result)
{
	count("get", "run");
	const char *key = json_string_value(json_object_get(args, "key"));
	if (!valid_key(call, key))
		return SALVE_ERR_INVALID;
	char value[4096];
	*result = kv_read(key, value, sizeof value) == 0
	              ? json_pack("{s:s, s:s, s:b}", "key", key, "value", value, "exists", 1)
	              : json_pack("{s:s, s:b}", "key", key, "exists", 0);
	return SALVE_OK;
}

static int set_check(salve_call *call, const json_t *args, json_t **observed)
{
	count("set", "check");
	const char *key = json_string_value(json_object_get(args, "key"));
	const char *want = json_string_value(json_object_get(args, "value"));
	if (!valid_key(call, key))
		return SALVE_ERR_INVALID;
	char value[4096];
	int exists = kv_read(key, value, sizeof value) == 0;
	*observed = exists ? json_pack("{s:s, s:s}", "key", key, "value", value)
	                   : json_pack("{s:s, s:n}", "key", key, "value");
	return exists && strcmp(value, want) == 0 ? SALVE_HOLDS : SALVE_OK;
}

static int set_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	(void)call;
	count("set", "plan");
	char old[4096];
	const char *key = json_string_value(json_object_get(args, "key"));
	int exists = kv_read(key, old, sizeof old) == 0;
	*predicted = json_pack("{s:s, s:O, s:s?}", "key", key, "value",
	                       json_object_get(args, "value"), "previous", exists ? old : NULL);
	return SALVE_OK;
}

static int set_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	count("set", "apply");
	const char *key = json_string_value(json_object_get(args, "key"));
	const char *value = json_string_value(json_object_get(args, "value"));
	if (json_is_true(json_object_get(args, "fail_apply"))) {
		H->fail(call, "apply failed as asked (fail_apply)");
		return SALVE_ERR;
	}
	/* Lets a test kill the runner while an apply is under way and has changed nothing. */
	double before = json_number_value(json_object_get(args, "pause_before"));
	for (double waited = 0; waited < before && !H->cancelled(call); waited += 0.05)
		usleep(50000);
	char old[4096];
	int exists = kv_read(key, old, sizeof old) == 0;
	if (kv_write(key, value) < 0) {
		H->fail(call, "cannot write %s: %s", key, strerror(errno));
		return SALVE_ERR;
	}
	*undo = json_pack("{s:s, s:s?, s:b}", "key", key, "previous", exists ? old : NULL, "fail",
	                  json_is_true(json_object_get(args, "fail_undo")));
	*result = json_pack("{s:s, s:s}", "key", key, "value", value);
	/* Lets a test kill the runner right after an apply became durable. */
	double pause = json_number_value(json_object_get(args, "pause_after"));
	for (double waited = 0; waited < pause && !H->cancelled(call); waited += 0.05)
		usleep(50000);
	return SALVE_OK;
}

static int set_undo(salve_call *call, const json_t *undo)
{
	count("set", "undo");
	if (json_is_true(json_object_get(undo, "fail"))) {
		H->fail(call, "undo failed as asked (fail_undo)");
		return SALVE_ERR;
	}
	const char *key = json_string_value(json_object_get(undo, "key"));
	const char *previous = json_string_value(json_object_get(undo, "previous"));
	if (kv_write(key, previous) < 0) {
		H->fail(call, "cannot restore %s", key);
		return SALVE_ERR;
	}
	return SALVE_OK;
}

static int drop_check(salve_call *call, const json_t *args, json_t **observed)
{
	(void)observed;
	count("drop", "check");
	char v[4096];
	const char *key = json_string_value(json_object_get(args, "key"));
	if (!valid_key(call, key))
		return SALVE_ERR_INVALID;
	return kv_read(key, v, sizeof v) == 0 ? SALVE_OK : SALVE_HOLDS;
}

static int drop_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	(void)call;
	count("drop", "plan");
	*predicted = json_pack("{s:O, s:b}", "key", json_object_get(args, "key"), "deleted", 1);
	return SALVE_OK;
}

static int drop_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	(void)undo;
	count("drop", "apply");
	const char *key = json_string_value(json_object_get(args, "key"));
	if (kv_write(key, NULL) < 0) {
		H->fail(call, "cannot delete %s", key);
		return SALVE_ERR;
	}
	*result = json_pack("{s:s, s:b}", "key", key, "deleted", 1);
	return SALVE_OK;
}

static int fail_run(salve_call *call, const json_t *args, json_t **result)
{
	(void)result;
	count("fail", "run");
	const char *msg = json_string_value(json_object_get(args, "message"));
	H->fail(call, "%s", msg ? msg : "failed as asked");
	return SALVE_ERR;
}

static int sleep_run(salve_call *call, const json_t *args, json_t **result)
{
	count("sleep", "run");
	double seconds = json_number_value(json_object_get(args, "seconds"));
	if (SALVE_HOST_HAS(H, progress))
		H->progress(call, "sleeping %.1f s", seconds);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double elapsed = (double)(now.tv_sec - start.tv_sec) +
		                 (double)(now.tv_nsec - start.tv_nsec) / 1e9;
		if (elapsed >= seconds)
			break;
		if (H->cancelled(call)) {
			H->fail(call, "cancelled after %.1f s", elapsed);
			return SALVE_ERR_CANCELED;
		}
		if (H->remaining(call) <= 0) {
			H->fail(call, "deadline passed after %.1f s", elapsed);
			return SALVE_ERR_TIMEOUT;
		}
		usleep(20000);
	}
	*result = json_pack("{s:f}", "slept", seconds);
	return SALVE_OK;
}

static int notify_render(salve_call *call, const json_t *args, json_t **message)
{
	(void)call;
	count("notify", "render");
	*message =
	    json_pack("{s:s, s:O}", "channel", "test", "text", json_object_get(args, "text"));
	return SALVE_OK;
}

static int notify_run(salve_call *call, const json_t *args, json_t **result)
{
	count("notify", "run");
	char path[1400];
	snprintf(path, sizeof path, "%s/notified", dir);
	FILE *f = fopen(path, "a");
	if (!f) {
		H->fail(call, "cannot record the notification");
		return SALVE_ERR;
	}
	fprintf(f, "%s%s\n", H->drill(call) ? "[DRILL] " : "",
	        json_string_value(json_object_get(args, "text")));
	fclose(f);
	*result = json_pack("{s:b}", "sent", 1);
	return SALVE_OK;
}

/* Misbehaves on purpose: logs and fails with its secret argument and a looked-up secret. */
static int leak_run(salve_call *call, const json_t *args, json_t **result)
{
	(void)result;
	const char *token = json_string_value(json_object_get(args, "token"));
	char *looked_up = H->secret(call, "env:SALVE_TESTKIT_SECRET");
	H->log(call, SALVE_LOG_WARN, "using token %s and %s", token, looked_up ? looked_up : "-");
	json_t *data = json_pack("{s:s, s:s?}", "token", token, "other", looked_up);
	H->audit(call, "leak_attempt", data);
	json_decref(data);
	H->fail(call, "refused with token %s and %s", token, looked_up ? looked_up : "-");
	free(looked_up);
	return SALVE_ERR;
}

static const salve_arg key_args[] = {{"key", SALVE_T_STRING, SALVE_ARG_REQUIRED, NULL},
                                     {NULL, 0, 0, NULL}};
static const salve_arg set_args[] = {{"key", SALVE_T_STRING, SALVE_ARG_REQUIRED, NULL},
                                     {"value", SALVE_T_STRING, SALVE_ARG_REQUIRED, NULL},
                                     {"fail_apply", SALVE_T_BOOL, 0, NULL},
                                     {"fail_undo", SALVE_T_BOOL, 0, NULL},
                                     {"pause_after", SALVE_T_NUMBER, 0, NULL},
                                     {"pause_before", SALVE_T_NUMBER, 0, NULL},
                                     {NULL, 0, 0, NULL}};
static const salve_arg fail_args[] = {{"message", SALVE_T_STRING, 0, NULL}, {NULL, 0, 0, NULL}};
static const salve_arg sleep_args[] = {{"seconds", SALVE_T_NUMBER, SALVE_ARG_REQUIRED, NULL},
                                       {NULL, 0, 0, NULL}};
static const salve_arg notify_args[] = {{"text", SALVE_T_STRING, SALVE_ARG_REQUIRED, NULL},
                                        {NULL, 0, 0, NULL}};
static const salve_arg leak_args[] = {
    {"token", SALVE_T_STRING, SALVE_ARG_REQUIRED | SALVE_ARG_SECRET, NULL}, {NULL, 0, 0, NULL}};

static const salve_arg config_args[] = {
    {"dir", SALVE_T_STRING, 0, "where the store and call counters live"}, {NULL, 0, 0, NULL}};

static const salve_action actions[] = {
    {.name = "get", .kind = SALVE_READ, .args = key_args, .target_arg = "key", .run = get_run},
    {.name = "set",
     .kind = SALVE_MUTATE,
     .args = set_args,
     .target_arg = "key",
     .check = set_check,
     .plan = set_plan,
     .apply = set_apply,
     .undo = set_undo},
    {.name = "drop",
     .kind = SALVE_MUTATE,
     .args = key_args,
     .flags = SALVE_ACTION_NO_UNDO,
     .target_arg = "key",
     .check = drop_check,
     .plan = drop_plan,
     .apply = drop_apply},
    {.name = "fail", .kind = SALVE_READ, .args = fail_args, .run = fail_run},
    {.name = "sleep", .kind = SALVE_READ, .args = sleep_args, .run = sleep_run},
    {.name = "notify",
     .kind = SALVE_NOTIFY,
     .args = notify_args,
     .run = notify_run,
     .render = notify_render},
    {.name = "leak", .kind = SALVE_READ, .args = leak_args, .run = leak_run},
    {.name = NULL},
};

static const salve_plugin descriptor = {
    SALVE_PLUGIN_HEADER, .name = "testkit",
    .version = "0.0.1",  .description = "test double for the core's tests",
    .actions = actions,  .config = config_args,
    .init = init,
};

SALVE_PLUGIN_DECLARE(descriptor)
