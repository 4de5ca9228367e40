/* mock_init behind the core's settings check (salve_settings_apply from salvecore). */
#include "mock_settings.h"

#include "mock_host.h"
#include "schema.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

static char refusal[2048];
static int refused;

char *mock_settings_effective(const salve_plugin *p, const char *config_json)
{
	json_error_t jerr;
	json_t *raw = json_loads(config_json ? config_json : "{}", 0, &jerr);
	if (!raw)
		fail_msg("mock_settings: config is not JSON: %s", jerr.text);
	char where[128];
	snprintf(where, sizeof where, "plugins.%s", p->name);
	if (salve_settings_check(p->settings, refusal, sizeof refusal) < 0)
		fail_msg("mock_settings: the loader would refuse %s: %s", p->name, refusal);
	json_t *effective = NULL;
	refusal[0] = '\0';
	int rc = salve_settings_apply(p->settings, raw, where, &effective, refusal, sizeof refusal);
	json_decref(raw);
	refused = rc < 0;
	char *text = rc == 0 ? json_dumps(effective, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	json_decref(effective);
	return text;
}

int mock_init_settings(const salve_plugin *p, const char *config_json)
{
	char *text = mock_settings_effective(p, config_json);
	if (!text)
		return SALVE_ERR_INVALID;
	int rc = mock_init(p, text);
	free(text);
	return rc;
}

const char *mock_settings_error(void)
{
	return refused ? refusal : mock_last_error();
}
