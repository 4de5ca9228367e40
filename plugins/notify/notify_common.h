/*
 * notify plugin: what every other module of it uses (not installed). Severity names,
 * mailbox and secret-reference checks, action-argument access. Depends on no other module of
 * the plugin, so the module graph stays one-way: config, messages and channels use this, it
 * uses none of them.
 *
 * Pure functions without state: any thread may call them. Pointers returned are borrowed
 * (from static tables or from the arguments) unless a function says otherwise.
 */
#ifndef SALVE_NOTIFY_COMMON_H
#define SALVE_NOTIFY_COMMON_H

#include <jansson.h>

/* Size of the error buffers the plugin's modules fill. */
#define NOTIFY_ERRLEN 1024

enum notify_severity {
	NOTIFY_SEV_CRITICAL = 0,
	NOTIFY_SEV_HIGH,
	NOTIFY_SEV_MEDIUM,
	NOTIFY_SEV_LOW,
	NOTIFY_SEV_INFO,
	NOTIFY_SEV_COUNT
};

/* "critical" ... "info"; "info" for a value out of range. */
const char *notify_severity_name(enum notify_severity sev);
/* Accepts critical/high/medium/low/info and PagerDuty's error/warning. Returns -1 if unknown. */
int notify_severity_parse(const char *s, enum notify_severity *sev);

/* 1 when s is a secret reference ("env:NAME" or "file:/path"). */
int notify_is_secret_ref(const char *s);
/* 1 when s starts with http:// or https://. */
int notify_is_http_url(const char *s);
/* 1 when addr is a plausible mailbox with nothing that could break a header. */
int notify_valid_address(const char *addr);
/* Append the addresses of "a@b, c@d" (split on commas, leading spaces dropped, not checked)
 * to the array into. Returns 0, or -1 when out of memory. */
int notify_split_addresses(const char *list, json_t *into);

/* The string argument key, or NULL when it is absent, not a string or empty. */
const char *notify_arg_str(const json_t *args, const char *key);

#endif
