/*
 * mock_init as salve initialises a plugin: its section of salve.yaml is first checked against
 * the plugin's settings by the core's own code (salve_settings_apply: unknown keys, types,
 * durations, defaults), and init gets only what salve would give it. For plugin unit tests
 * that link salvecore with salve_mock_host.
 *
 * Not thread-safe: one test thread, like mock_host.
 */
#ifndef SALVE_MOCK_SETTINGS_H
#define SALVE_MOCK_SETTINGS_H

#include <salve/plugin.h>

/* Checks p->settings as the loader does (the test fails when it would refuse them), then
 * config_json (a JSON object text) against p->settings, as the section
 * plugins.<name> of salve.yaml, then mock_init()s p with the result. Returns init's status,
 * or SALVE_ERR_INVALID when salve refuses the section before init; mock_settings_error()
 * says why in either case. */
int mock_init_settings(const salve_plugin *p, const char *config_json);
/* The core's refusal, or init's error (mock_last_error) when init ran; "" when neither. */
const char *mock_settings_error(void);
/* What init would get for config_json: compact JSON with sorted keys (malloc'd: free it), or
 * NULL with the refusal in mock_settings_error(). */
char *mock_settings_effective(const salve_plugin *p, const char *config_json);

#endif
