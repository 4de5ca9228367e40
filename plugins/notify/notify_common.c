/* What the notify plugin's modules share: severities, address and reference checks. */
#include "notify_common.h"

#include <stdlib.h>
#include <string.h>

static const char *const severity_names[NOTIFY_SEV_COUNT] = {"critical", "high", "medium", "low",
                                                             "info"};

const char *notify_severity_name(enum notify_severity sev)
{
	return (sev >= 0 && sev < NOTIFY_SEV_COUNT) ? severity_names[sev] : "info";
}

int notify_severity_parse(const char *s, enum notify_severity *sev)
{
	for (int i = 0; i < NOTIFY_SEV_COUNT; i++) {
		if (strcmp(s, severity_names[i]) == 0) {
			*sev = (enum notify_severity)i;
			return 0;
		}
	}
	/* PagerDuty's own words, so a runbook written against its API still works. */
	if (strcmp(s, "error") == 0) {
		*sev = NOTIFY_SEV_HIGH;
		return 0;
	}
	if (strcmp(s, "warning") == 0) {
		*sev = NOTIFY_SEV_MEDIUM;
		return 0;
	}
	return -1;
}

int notify_is_secret_ref(const char *s)
{
	return s && ((strncmp(s, "env:", 4) == 0 && s[4] != '\0') ||
	             (strncmp(s, "file:", 5) == 0 && s[5] != '\0'));
}

int notify_is_http_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

int notify_valid_address(const char *addr)
{
	if (!addr)
		return 0;
	size_t n = strlen(addr);
	const char *at = strchr(addr, '@');
	if (n == 0 || n > 254 || !at || at == addr || at[1] == '\0' || strchr(at + 1, '@'))
		return 0;
	for (const char *p = addr; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c >= 0x7f || strchr("<>()[],;:\"\\", c))
			return 0;
	}
	return 1;
}

int notify_split_addresses(const char *list, json_t *into)
{
	char *copy = strdup(list);
	if (!copy)
		return -1;
	for (char *save = NULL, *a = strtok_r(copy, ",", &save); a;
	     a = strtok_r(NULL, ",", &save)) {
		while (*a == ' ')
			a++;
		json_array_append_new(into, json_string(a));
	}
	free(copy);
	return 0;
}

const char *notify_arg_str(const json_t *args, const char *key)
{
	const char *s = json_string_value(json_object_get(args, key));
	return (s && *s) ? s : NULL;
}
