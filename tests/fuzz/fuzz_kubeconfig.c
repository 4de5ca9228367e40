/* The Kubernetes plugins' kubeconfig loader: k8s_kubeconfig_parse, then k8s_config_from_docs
 * resolving the current context as client-go does.
 * Invariants: a resolved config talks https:// to a server without a trailing '/', never
 * both skips TLS verification and names a CA, has a client certificate exactly when it has
 * its key, resolves relative file paths against the kubeconfig's directory; merging the same
 * document twice (first wins) and naming the resolved context explicitly change nothing. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "k8s.h"

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_path(const char *p, const char *what)
{
	FUZZ_CHECK(!p || p[0] == '/', "%s \"%s\" is not resolved against /etc/kube", what, p);
}

int fuzz_one(const uint8_t *data, size_t size)
{
	json_t *doc = NULL;
	char err[2048] = "";
	if (k8s_kubeconfig_parse((const char *)data, size, "kubeconfig", &doc, err, sizeof err) <
	    0) {
		FUZZ_CHECK(!doc && strstr(err, "kubeconfig"), "refusal does not name the file: %s",
		           err);
		return 0;
	}
	FUZZ_CHECK(json_is_object(doc), "a kubeconfig that is not a mapping was accepted");
	json_t *docs[2] = {doc, doc};
	const char *dirs[2] = {"/etc/kube", "/elsewhere"};
	k8s_config c;
	if (k8s_config_from_docs(docs, dirs, 1, NULL, "kubeconfig", &c, err, sizeof err) < 0) {
		FUZZ_CHECK(err[0] && !c.server && !c.token,
		           "refused without a reason, or kept state");
		json_decref(doc);
		return 0;
	}
	FUZZ_CHECK(c.server && strncmp(c.server, "https://", 8) == 0, "server %s",
	           c.server ? c.server : "(null)");
	size_t sl = strlen(c.server);
	FUZZ_CHECK(sl == 8 || c.server[sl - 1] != '/', "server %s ends with '/'", c.server);
	FUZZ_CHECK(c.context && c.cluster && c.source, "context, cluster or source missing");
	FUZZ_CHECK(!(c.insecure && (c.ca_file || c.ca_data.data)),
	           "insecure-skip-tls-verify together with a CA");
	FUZZ_CHECK(!!(c.cert_file || c.cert_data.data) == !!(c.key_file || c.key_data.data),
	           "a client certificate without its key, or the reverse");
	FUZZ_CHECK(!(c.token && c.token_file), "both token and tokenFile kept");
	check_path(c.ca_file, "certificate-authority");
	check_path(c.cert_file, "client-certificate");
	check_path(c.key_file, "client-key");
	check_path(c.token_file, "tokenFile");

	k8s_config merged, named;
	FUZZ_CHECK(
	    k8s_config_from_docs(docs, dirs, 2, NULL, "kubeconfig", &merged, err, sizeof err) == 0,
	    "resolves alone, not merged with itself: %s", err);
	FUZZ_CHECK(same(merged.server, c.server) && same(merged.ca_file, c.ca_file) &&
	               same(merged.token, c.token) && same(merged.key_file, c.key_file),
	           "merging a kubeconfig with itself changed the result");
	k8s_config_free(&merged);
	FUZZ_CHECK(k8s_config_from_docs(docs, dirs, 1, c.context, "kubeconfig", &named, err,
	                                sizeof err) == 0,
	           "current-context %s resolves, naming it does not: %s", c.context, err);
	FUZZ_CHECK(same(named.server, c.server) && same(named.user, c.user),
	           "naming the current context explicitly changed the result");
	k8s_config_free(&named);
	k8s_config_free(&c);
	json_decref(doc);
	return 0;
}
