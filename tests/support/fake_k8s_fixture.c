#include "fake_k8s_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mock_host.h"

const salve_plugin *salve_plugin_entry(void);

struct fake fake_k8s_second = {.pid = -1};

int fake_k8s_init_plugin(const char *kubeconfig)
{
	char cfg[1024];
	snprintf(cfg, sizeof cfg, "{\"kubeconfig\": \"%s\"}", kubeconfig);
	return mock_init(salve_plugin_entry(), cfg);
}

int fake_k8s_setup(void **state)
{
	(void)state;
	fake_reset(&fake_k8s);
	return fake_k8s_init_plugin(fake_k8s.kc_token);
}

int fake_k8s_teardown(void **state)
{
	(void)state;
	const char *token = fake_k8s.token;
	char *audit = json_dumps(mock_audit_events(), 0);
	const char *leak = strstr(mock_logs(), token) || strstr(mock_last_error(), token)
	                       ? "logs or errors"
	                   : audit && strstr(audit, token) ? "the audit events"
	                                                   : NULL;
	free(audit);
	mock_fini();
	if (fake_k8s_second.pid > 0)
		fake_stop(&fake_k8s_second);
	if (leak)
		fail_msg("the bearer token reached %s", leak);
	return 0;
}
