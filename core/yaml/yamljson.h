/* YAML documents as jansson values (libyaml), shared by the core and plugins (a static PIC
 * library; needs only libyaml and jansson). With SALVE_YAML_TYPED, plain scalars keep YAML
 * 1.1's types (integers, floats, true/false/yes/no); with SALVE_YAML_STRINGS every scalar is
 * a string, as Ansible inventories are read. null/~/empty plain scalars are null either way;
 * quoted scalars stay strings. Returns a new reference (caller decrefs) or NULL with
 * "name:line:col: reason" in err. Thread-safe. */
#ifndef SALVE_YAMLJSON_H
#define SALVE_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

enum salve_yaml_scalars {
	SALVE_YAML_TYPED = 0,   /* numbers, booleans, null */
	SALVE_YAML_STRINGS = 1, /* everything a string but null (Ansible inventories) */
	SALVE_YAML_BOOLS = 2,   /* booleans and null typed, numbers kept as strings (kubeconfig) */
};

json_t *salve_yaml_load_file(const char *path, char *err, size_t errlen);
json_t *salve_yaml_load_string(const char *text, size_t len, const char *name, char *err,
                               size_t errlen);
/* The same with a choice of scalar typing. */
json_t *salve_yaml_parse(const char *text, size_t len, const char *name,
                         enum salve_yaml_scalars scalars, char *err, size_t errlen);

#endif
