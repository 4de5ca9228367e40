/*
 * cmocka fixtures for a plugin tested against the fake Kubernetes API server through
 * salve_mock_host: the plugin is the one the test links (salve_plugin_entry), the fake is
 * fake_k8s (fake_k8s_group_setup/teardown start and stop it). One test thread.
 */
#ifndef SALVE_TEST_FAKE_K8S_FIXTURE_H
#define SALVE_TEST_FAKE_K8S_FIXTURE_H

#include "fake_k8s.h"

/* A second fake a test may start (another Kubernetes version); teardown stops it even when
 * the test fails. */
extern struct fake fake_k8s_second;

/* Initialise the plugin with {"kubeconfig": path}; init's status. */
int fake_k8s_init_plugin(const char *kubeconfig);

/* Before each test: the fake back to its fixture, the plugin initialised with the fake's
 * bearer-token kubeconfig. */
int fake_k8s_setup(void **state);
/* After each test: fails it when the bearer token reached logs, errors or audit events;
 * finishes the plugin and stops fake_k8s_second. */
int fake_k8s_teardown(void **state);

#endif
