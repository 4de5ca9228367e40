/* The plugin ABI's layout, pinned (as Falco pins plugin_api.h): every offset and size of every
 * public struct and every value a plugin compiles in. A field moved, inserted, resized or
 * renumbered fails the build of this file. Growing a struct at the end is allowed and done
 * here on purpose: pin the new field's offset and the new size, and say "added in 1.N" in
 * plugin.h. The numbers are those of LP64 (x86-64, aarch64), the platforms salve ships for. */
#include <salve/plugin.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#if !defined(__LP64__)
#error "the pinned layout is LP64's: add this platform's numbers"
#endif

#define PIN(type, field, offset)                                                                   \
	_Static_assert(offsetof(type, field) == (offset), #type "." #field " moved")
#define SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " changed size")

/* 1.0 */
PIN(salve_arg, name, 0);
PIN(salve_arg, type, 8);
PIN(salve_arg, flags, 12);
PIN(salve_arg, description, 16);
SIZE(salve_arg, 24);

/* 1.0 */
PIN(salve_action, name, 0);
PIN(salve_action, kind, 8);
PIN(salve_action, args, 16);
PIN(salve_action, flags, 24);
PIN(salve_action, description, 32);
PIN(salve_action, target_arg, 40);
PIN(salve_action, run, 48);
PIN(salve_action, check, 56);
PIN(salve_action, plan, 64);
PIN(salve_action, apply, 72);
PIN(salve_action, undo, 80);
PIN(salve_action, render, 88);
/* 1.2 */
PIN(salve_action, results, 96);
PIN(salve_action, choices, 104);
SIZE(salve_action, 112);
PIN(salve_arg_choices, arg, 0);
PIN(salve_arg_choices, values, 8);
SIZE(salve_arg_choices, 16);

/* 1.2 */
PIN(salve_setting, name, 0);
PIN(salve_setting, type, 8);
PIN(salve_setting, flags, 12);
PIN(salve_setting, default_value, 16);
PIN(salve_setting, description, 24);
/* 1.2, nested settings: an early-1.2 plugin's elements end here (setting_size 32) */
PIN(salve_setting, fields, 32);
PIN(salve_setting, choices, 40);
PIN(salve_setting, min, 48);
PIN(salve_setting, max, 56);
SIZE(salve_setting, 64);

/* 1.0 up to fini, then 1.2 */
PIN(salve_plugin, struct_size, 0);
PIN(salve_plugin, abi_major, 4);
PIN(salve_plugin, abi_minor, 6);
PIN(salve_plugin, name, 8);
PIN(salve_plugin, version, 16);
PIN(salve_plugin, description, 24);
PIN(salve_plugin, actions, 32);
PIN(salve_plugin, config, 40);
PIN(salve_plugin, init, 48);
PIN(salve_plugin, fini, 56);
PIN(salve_plugin, action_size, 64);
PIN(salve_plugin, arg_size, 68);
PIN(salve_plugin, setting_size, 72);
PIN(salve_plugin, settings, 80);
SIZE(salve_plugin, 88);

/* 1.0 up to run_info, progress in 1.1, register_secret to http_escape in 1.2 */
PIN(salve_host, struct_size, 0);
PIN(salve_host, abi_minor, 4);
PIN(salve_host, log, 8);
PIN(salve_host, fail, 16);
PIN(salve_host, audit, 24);
PIN(salve_host, secret, 32);
PIN(salve_host, mode, 40);
PIN(salve_host, drill, 48);
PIN(salve_host, cancelled, 56);
PIN(salve_host, remaining, 64);
PIN(salve_host, state, 72);
PIN(salve_host, run_info, 80);
PIN(salve_host, progress, 88);
PIN(salve_host, register_secret, 96);
PIN(salve_host, observed, 104);
PIN(salve_host, http_client, 112);
PIN(salve_host, http_request, 120);
PIN(salve_host, http_response_clear, 128);
PIN(salve_host, http_client_free, 136);
PIN(salve_host, http_escape, 144);
SIZE(salve_host, 152);

/* 1.2: the HTTP client service's structs */
PIN(salve_http_options, struct_size, 0);
PIN(salve_http_options, protocols, 8);
PIN(salve_http_options, user_agent, 16);
PIN(salve_http_options, ca_file, 24);
PIN(salve_http_options, ca_pem, 32);
PIN(salve_http_options, ca_pem_len, 40);
PIN(salve_http_options, cert_file, 48);
PIN(salve_http_options, cert_pem, 56);
PIN(salve_http_options, cert_pem_len, 64);
PIN(salve_http_options, key_file, 72);
PIN(salve_http_options, key_pem, 80);
PIN(salve_http_options, key_pem_len, 88);
PIN(salve_http_options, username, 96);
PIN(salve_http_options, password, 104);
PIN(salve_http_options, insecure, 112);
PIN(salve_http_options, proxy, 120);
PIN(salve_http_options, proxy_from_env, 128);
PIN(salve_http_options, connect_timeout, 136);
PIN(salve_http_options, request_timeout, 144);
PIN(salve_http_options, max_response, 152);
SIZE(salve_http_options, 160);
PIN(salve_http_attempt, number, 0);
PIN(salve_http_attempt, status, 8);
PIN(salve_http_attempt, body, 16);
PIN(salve_http_attempt, body_len, 24);
PIN(salve_http_attempt, error, 32);
PIN(salve_http_attempt, timed_out, 40);
PIN(salve_http_attempt, retry_after, 48);
PIN(salve_http_attempt, duration, 56);
PIN(salve_http_attempt, timeout, 64);
PIN(salve_http_attempt, new_connection, 72);
PIN(salve_http_attempt, result, 80);
PIN(salve_http_attempt, wait, 88);
SIZE(salve_http_attempt, 96);
PIN(salve_http_request, struct_size, 0);
PIN(salve_http_request, method, 8);
PIN(salve_http_request, url, 16);
PIN(salve_http_request, headers, 24);
PIN(salve_http_request, body, 32);
PIN(salve_http_request, body_len, 40);
PIN(salve_http_request, bearer_token, 48);
PIN(salve_http_request, timeout, 56);
PIN(salve_http_request, flags, 64);
PIN(salve_http_request, attempts, 68);
PIN(salve_http_request, backoff, 72);
PIN(salve_http_request, backoff_max, 80);
PIN(salve_http_request, max_time, 88);
PIN(salve_http_request, judge, 96);
PIN(salve_http_request, attempted, 104);
PIN(salve_http_request, ud, 112);
SIZE(salve_http_request, 120);
PIN(salve_http_response, status, 0);
PIN(salve_http_response, body, 8);
PIN(salve_http_response, body_len, 16);
PIN(salve_http_response, attempts, 24);
PIN(salve_http_response, verdict, 28);
PIN(salve_http_response, stopped, 32);
PIN(salve_http_response, wait, 40);
PIN(salve_http_response, left, 48);
PIN(salve_http_response, new_connection, 56);
PIN(salve_http_response, error, 60);
SIZE(salve_http_response, 576);

/* Values compiled into plugins: never renumbered. */
_Static_assert(SALVE_PLUGIN_ABI_MAJOR == 1, "a new major breaks every plugin");
_Static_assert(SALVE_OK == 0 && SALVE_HOLDS == 1 && SALVE_ERR == -1 && SALVE_ERR_RETRY == -2 &&
                   SALVE_ERR_INVALID == -3 && SALVE_ERR_TIMEOUT == -4 && SALVE_ERR_CANCELED == -5 &&
                   SALVE_ERR_NOTFOUND == -6,
               "status codes renumbered");
_Static_assert(SALVE_READ == 1 && SALVE_MUTATE == 2 && SALVE_NOTIFY == 3, "kinds renumbered");
_Static_assert(SALVE_T_ANY == 0 && SALVE_T_STRING == 1 && SALVE_T_INT == 2 && SALVE_T_NUMBER == 3 &&
                   SALVE_T_BOOL == 4 && SALVE_T_LIST == 5 && SALVE_T_MAP == 6 &&
                   SALVE_T_DURATION == 7 && SALVE_T_SECRET_REF == 8,
               "types renumbered");
_Static_assert(SALVE_MODE_APPLY == 0 && SALVE_MODE_DRY_RUN == 1, "modes renumbered");
_Static_assert(SALVE_LOG_ERROR == 0 && SALVE_LOG_WARN == 1 && SALVE_LOG_INFO == 2 &&
                   SALVE_LOG_DEBUG == 3,
               "log levels renumbered");
_Static_assert(SALVE_ARG_REQUIRED == 1 && SALVE_ARG_SECRET == 2 && SALVE_ACTION_NO_UNDO == 1,
               "flags renumbered");
_Static_assert(SALVE_SETTING_EACH == 0x4u && SALVE_SETTING_STRINGS == 0x8u &&
                   SALVE_SETTING_MIN == 0x10u && SALVE_SETTING_MAX == 0x20u &&
                   SALVE_SETTING_ABOVE == 0x40u,
               "salve_setting flags renumbered");
_Static_assert(SALVE_HTTP_RETRY_5XX == 1 && SALVE_HTTP_RETRY_IO == 2 && SALVE_HTTP_JITTER == 4 &&
                   SALVE_HTTP_STOP_ATTEMPTS == 1 && SALVE_HTTP_STOP_DEADLINE == 2 &&
                   SALVE_HTTP_STOP_MAX_TIME == 3,
               "HTTP flags renumbered");
_Static_assert(sizeof(enum salve_type) == 4 && sizeof(enum salve_kind) == 4, "enums changed width");

/* What the layout means at run time: a plugin finds a service only in a host new enough, and
 * SALVE_PLUGIN_HEADER declares the sizes the arrays were compiled with. */
static void some_progress(salve_call *call, const char *fmt, ...)
{
	(void)call;
	(void)fmt;
}

static void some_register_secret(salve_call *call, const char *value)
{
	(void)call;
	(void)value;
}

static void test_host_services_by_size(void **state)
{
	(void)state;
	salve_host h = {.progress = some_progress, .register_secret = some_register_secret};
	h.struct_size = (uint32_t)offsetof(salve_host, progress); /* a 1.0 host */
	assert_false(SALVE_HOST_HAS(&h, progress));
	assert_false(SALVE_HOST_HAS(&h, register_secret));
	h.struct_size = (uint32_t)offsetof(salve_host, register_secret); /* 1.1 */
	assert_true(SALVE_HOST_HAS(&h, progress));
	assert_false(SALVE_HOST_HAS(&h, register_secret));
	h.struct_size = (uint32_t)sizeof h;
	assert_true(SALVE_HOST_HAS(&h, register_secret));
	h.register_secret = NULL; /* a host that has the slot but not the service */
	assert_false(SALVE_HOST_HAS(&h, register_secret));
}

static int some_http_request(salve_call *call, salve_http_client *client,
                             const salve_http_request *req, salve_http_response *resp)
{
	(void)call, (void)client, (void)req, (void)resp;
	return SALVE_OK;
}

/* A 1.2 plugin asks for the HTTP service: a 1.1 host's table ends before it. */
static void test_http_service_only_from_a_1_2_host(void **state)
{
	(void)state;
	salve_host h = {.http_request = some_http_request};
	h.struct_size = (uint32_t)offsetof(salve_host, register_secret); /* 1.1 */
	assert_false(SALVE_HOST_HAS(&h, http_request));
	h.struct_size = (uint32_t)offsetof(salve_host, http_client); /* 1.2 before the service */
	assert_false(SALVE_HOST_HAS(&h, http_request));
	h.struct_size = (uint32_t)sizeof h;
	assert_true(SALVE_HOST_HAS(&h, http_request));
}

static void test_header_declares_sizes(void **state)
{
	(void)state;
	static const salve_plugin d = {SALVE_PLUGIN_HEADER, .name = "x"};
	assert_int_equal(d.struct_size, sizeof(salve_plugin));
	assert_int_equal(d.abi_major, SALVE_PLUGIN_ABI_MAJOR);
	assert_int_equal(d.abi_minor, SALVE_PLUGIN_ABI_MINOR);
	assert_int_equal(d.action_size, sizeof(salve_action));
	assert_int_equal(d.arg_size, sizeof(salve_arg));
	assert_int_equal(d.setting_size, sizeof(salve_setting));
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_host_services_by_size),
	                                   cmocka_unit_test(test_http_service_only_from_a_1_2_host),
	                                   cmocka_unit_test(test_header_declares_sizes)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
