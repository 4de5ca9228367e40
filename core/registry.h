/*
 * Plugin discovery, loading and validation.
 *
 * Search order: the dirs given to salve_registry_new (from --plugin-path, SALVE_PLUGIN_PATH,
 * the config's plugin_path), then plugins/ beside the salve binary, then the install dir.
 * A plugin NAME is the file NAME.so; the first match wins. Files and folders must be owned
 * by root or by us and not writable by group or others, else they are refused with a reason.
 *
 * Thread-safe: salve_registry_get() may be called from several threads. Loaded plugins stay
 * loaded (and their descriptors valid) until salve_registry_free().
 */
#ifndef SALVE_REGISTRY_H
#define SALVE_REGISTRY_H

#include <jansson.h>
#include <salve/plugin.h>
#include <stddef.h>

typedef struct salve_loaded_plugin {
	char *path;
	void *dl;
	/* Host copy: fields newer than the plugin are zero, and actions, every action's args and
	 * results, config and settings point to host copies laid out as this salve's structs (the
	 * element sizes say so). Owned by the registry. */
	salve_plugin desc;
	size_t nactions;
	int initialized;
	void *state;
	salve_arg **action_args;    /* nactions host copies (NULL where an action has none) */
	salve_arg **action_results; /* the same for results */
} salve_loaded_plugin;

typedef struct salve_registry salve_registry;

enum salve_registry_error {
	SALVE_REG_OK = 0,
	SALVE_REG_NOT_FOUND = 1, /* no NAME.so in any search dir */
	SALVE_REG_INVALID = 2,   /* found but refused: ABI, descriptor, permissions, init */
};

/* dirs: NULL-terminated, borrowed (copied). configs: object plugin name -> config object,
 * borrowed (incref'd). */
salve_registry *salve_registry_new(const char *const *dirs, const json_t *configs);
void salve_registry_free(salve_registry *r);

/* Loads (and with init != 0, initialises) plugin name. Returns the plugin, or NULL with
 * *why set and the reason (naming the file and versions) in err. */
salve_loaded_plugin *salve_registry_get(salve_registry *r, const char *name, int init,
                                        enum salve_registry_error *why, char *err, size_t errlen);

/* Names the file the plugin configurations came from (salve.yaml) in their errors; copied.
 * NULL: none. */
void salve_registry_set_config_file(salve_registry *r, const char *path);

/* Every plugin file in the search path as [{name, version, path, abi, actions:[{name, kind,
 * undoable, description, args:[...], results:[{name, type, description}]}], settings:[...]}] or
 * {path, error} for refused ones. New reference. */
json_t *salve_registry_list(salve_registry *r);

/* The search dirs joined with ':' (for error messages); borrowed. */
const char *salve_registry_search_path(const salve_registry *r);

const salve_action *salve_plugin_action(const salve_loaded_plugin *p, const char *name);

/* Whether the config has a section for plugin name. */
int salve_registry_configured(const salve_registry *r, const char *name);

/* Validates a plugin descriptor laid out as this salve's structs (a host copy); exposed for
 * tests. 0, or -1 with the reason in err. */
int salve_descriptor_check(const salve_plugin *d, const char *path, char *err, size_t errlen);

/* Opens a file to dlopen (a plugin, the HTTP module) with the checks plugins pass: the file
 * and every folder on its real path are root's or ours and nobody else can write them. The
 * descriptor (the caller closes it), or -1 with the reason in err. */
int salve_registry_open_checked(const char *path, char *err, size_t errlen);

/* Static names: "read"; "SALVE_ERR_RETRY" (a code no salve knows: "unknown"). */
const char *salve_kind_name(enum salve_kind kind);
const char *salve_status_name(int status);

#endif
