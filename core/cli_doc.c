/* salve doc and salve stubs (see cli_doc.h). */
#include "cli_doc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "exitcodes.h"
#include "launch.h"
#include "registry.h"
#include "schema.h"
#include "util.h"

/* Descriptor text is the plugin's: shown on one line, control characters written out. */
#define TEXT_MAX 1024

static const char *one_line(const char *s, char *buf, size_t len)
{
	salve_escape_controls(s ? s : "", buf, len, 0);
	return buf;
}

/* Options: --help, and --out DIR for stubs (out may be NULL: not accepted). -1 to go on,
 * else the exit status. */
static int parse_options(int argc, char **argv, const char *usage, const char **out)
{
	static const struct option opts[] = {
	    {"help", no_argument, 0, 'h'}, {"out", required_argument, 0, 'o'}, {0, 0, 0, 0}};
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (c == 'o' && out) {
			*out = optarg;
			continue;
		}
		salve_cli_error("%s: %s: unknown option, or its value is missing", argv[0],
		                argv[optind - 1]);
		fputs(usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	return -1;
}

static int open_doc_env(salve_env *e, const struct salve_cli_globals *g)
{
	char err[2048];
	int code = salve_env_open(e, g, err, sizeof err);
	if (code)
		salve_cli_error("%s", err);
	return code;
}

static const char *kind_text(const salve_action *a)
{
	switch (a->kind) {
	case SALVE_READ:
		return "read: observes only; runs in every mode, dry-run included";
	case SALVE_MUTATE:
		return "mutate: check (is the wanted state there already?), plan (what would\n"
		       "      change: all a dry-run does), apply (change it)";
	case SALVE_NOTIFY:
		return "notify: sends a message; a dry-run prints it instead\n"
		       "      (--drill-notify sends it, marked [DRILL])";
	}
	return "unknown";
}

static const char *undo_text(const salve_action *a)
{
	if (a->kind == SALVE_READ)
		return "nothing to undo (read)";
	if (a->kind == SALVE_NOTIFY)
		return "none: a message sent is not taken back";
	if (a->flags & SALVE_ACTION_NO_UNDO)
		return "none: this change cannot be undone; a rollback leaves it in place\n"
		       "      (give the step a rollback function to compensate)";
	return "yes: a rollback puts back what apply changed, from the undo record\n"
	       "      apply returned";
}

/* A value of the argument's type for the example call. */
static void example_value(const salve_arg *a, char *buf, size_t len)
{
	switch (a->type) {
	case SALVE_T_INT:
		snprintf(buf, len, "1");
		break;
	case SALVE_T_NUMBER:
		snprintf(buf, len, "1.5");
		break;
	case SALVE_T_BOOL:
		snprintf(buf, len, "true");
		break;
	case SALVE_T_LIST:
	case SALVE_T_MAP:
		snprintf(buf, len, "{}");
		break;
	case SALVE_T_DURATION:
		snprintf(buf, len, "\"30s\"");
		break;
	case SALVE_T_SECRET_REF:
		snprintf(buf, len, "\"env:NAME\"");
		break;
	default:
		snprintf(buf, len, "\"<%s>\"", a->name);
	}
}

/* A Lua name for a plugin in `local NAME = plugin "..."`: ssh-patch -> ssh_patch. */
static void lua_local_name(const char *plugin, char *buf, size_t len)
{
	snprintf(buf, len, "%s", plugin);
	for (char *c = buf; *c; c++)
		if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (c != buf && *c >= '0' && *c <= '9')))
			*c = '_';
}

static int is_lua_name(const char *s)
{
	static const char *const keywords[] = {
	    "and",      "break",  "do",   "else", "elseif", "end",   "false", "for",
	    "function", "goto",   "if",   "in",   "local",  "nil",   "not",   "or",
	    "repeat",   "return", "then", "true", "until",  "while", NULL};
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (const char *c = s; *c; c++)
		if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9')))
			return 0;
	for (size_t i = 0; keywords[i]; i++)
		if (!strcmp(s, keywords[i]))
			return 0;
	return 1;
}

/* The Result table: the keys of the object the action returns. */
static void print_results(const salve_action *a)
{
	char text[TEXT_MAX];
	if (!a->results || !a->results[0].name) {
		printf("\nResult: a table; the plugin declares no result fields.\n");
		return;
	}
	size_t wname = 4, wtype = 4;
	for (const salve_arg *r = a->results; r->name; r++) {
		if (strlen(r->name) > wname)
			wname = strlen(r->name);
		if (strlen(salve_type_name(r->type)) > wtype)
			wtype = strlen(salve_type_name(r->type));
	}
	printf("\nResult:\n  %-*s  %-*s  %s\n", (int)wname, "NAME", (int)wtype, "TYPE",
	       "DESCRIPTION");
	for (const salve_arg *r = a->results; r->name; r++)
		printf("  %-*s  %-*s  %s\n", (int)wname, r->name, (int)wtype,
		       salve_type_name(r->type), one_line(r->description, text, sizeof text));
	if (a->kind == SALVE_MUTATE)
		printf("The core adds changed (false when the state held) and, in a dry-run,\n"
		       "planned = true.\n");
	else if (a->kind == SALVE_NOTIFY)
		printf("In a dry-run the core returns {sent = false, planned = true, message}\n"
		       "instead.\n");
}

static void print_action_doc(const salve_loaded_plugin *p, const salve_action *a)
{
	char text[TEXT_MAX], local[128];
	printf("%s.%s: %s\n\n", p->desc.name, a->name, one_line(a->description, text, sizeof text));
	printf("Kind: %s.\n", kind_text(a));
	printf("Undo: %s.\n", undo_text(a));
	if (a->target_arg)
		printf("Target: %s (audited as what the call acts on).\n", a->target_arg);
	else
		printf("Target: none.\n");

	printf("\nArguments:\n");
	size_t wname = 4, wtype = 4, wflags = 5;
	for (const salve_arg *g = a->args; g && g->name; g++) {
		size_t fl =
		    (g->flags & SALVE_ARG_REQUIRED ? 8 : 1) + (g->flags & SALVE_ARG_SECRET ? 8 : 0);
		if (fl > wflags)
			wflags = fl;
		if (strlen(g->name) > wname)
			wname = strlen(g->name);
		if (strlen(salve_type_name(g->type)) > wtype)
			wtype = strlen(salve_type_name(g->type));
	}
	if (!a->args || !a->args[0].name) {
		printf("  none\n");
	} else {
		printf("  %-*s  %-*s  %-*s  %s\n", (int)wname, "NAME", (int)wtype, "TYPE",
		       (int)wflags, "FLAGS", "DESCRIPTION");
		for (const salve_arg *g = a->args; g->name; g++) {
			char flags[32];
			snprintf(flags, sizeof flags, "%s%s%s",
			         g->flags & SALVE_ARG_REQUIRED ? "required" : "",
			         (g->flags & SALVE_ARG_REQUIRED) && (g->flags & SALVE_ARG_SECRET)
			             ? ", "
			             : "",
			         g->flags & SALVE_ARG_SECRET ? "secret" : "");
			printf("  %-*s  %-*s  %-*s  %s\n", (int)wname, g->name, (int)wtype,
			       salve_type_name(g->type), (int)wflags, flags[0] ? flags : "-",
			       one_line(g->description, text, sizeof text));
		}
	}
	for (const salve_arg_choices *c = a->choices; c && c->arg; c++) {
		char list[512];
		salve_choices_text(c->values, list, sizeof list);
		printf("  %s is one of: %s\n", c->arg, list);
	}
	print_results(a);

	lua_local_name(p->desc.name, local, sizeof local);
	printf("\nExample:\n  local %s = plugin \"%s\"\n  step \"%s\" {\n    run = function(p)\n"
	       "      return %s",
	       local, p->desc.name, a->name, local);
	if (is_lua_name(a->name))
		printf(".%s{", a->name);
	else
		printf("[\"%s\"]{", a->name);
	int any = 0;
	for (const salve_arg *g = a->args; g && g->name; g++) {
		if (!(g->flags & SALVE_ARG_REQUIRED))
			continue;
		char value[160];
		example_value(g, value, sizeof value);
		if (is_lua_name(g->name))
			printf("%s %s = %s", any ? "," : "", g->name, value);
		else
			printf("%s [\"%s\"] = %s", any ? "," : "", g->name, value);
		any = 1;
	}
	printf("%s}\n    end,\n  }\n", any ? " " : "");
}

static void print_plugin_doc(const salve_loaded_plugin *p)
{
	char text[TEXT_MAX];
	printf("%s %s (plugin ABI %u.%u): %s\n  %s\n", p->desc.name,
	       p->desc.version ? p->desc.version : "-", p->desc.abi_major, p->desc.abi_minor,
	       one_line(p->desc.description, text, sizeof text), p->path);
	size_t w = 4;
	for (size_t i = 0; i < p->nactions; i++)
		if (strlen(p->desc.actions[i].name) > w)
			w = strlen(p->desc.actions[i].name);
	printf("\nActions:\n");
	for (size_t i = 0; i < p->nactions; i++) {
		const salve_action *a = &p->desc.actions[i];
		const char *undo = a->kind != SALVE_MUTATE             ? ""
		                   : (a->flags & SALVE_ACTION_NO_UNDO) ? ", no undo"
		                                                       : ", undoable";
		char kind[32];
		snprintf(kind, sizeof kind, "%s%s", salve_kind_name(a->kind), undo);
		printf("  %-*s  %-16s  %s\n", (int)w, a->name, kind,
		       one_line(a->description, text, sizeof text));
	}
	printf("\nSettings (salve.yaml: plugins: %s:):\n", p->desc.name);
	int n = 0;
	if (p->desc.settings) {
		for (const salve_setting *s = p->desc.settings; s->name; s++, n++) {
			char dflt[256] = "";
			if (s->default_value)
				snprintf(dflt, sizeof dflt, " (default %s)", s->default_value);
			printf("  %s  %s%s%s  %s%s\n", s->name, salve_type_name(s->type),
			       s->flags & SALVE_ARG_REQUIRED ? ", required" : "",
			       s->flags & SALVE_ARG_SECRET ? ", secret" : "",
			       one_line(s->description, text, sizeof text), dflt);
		}
	} else {
		for (const salve_arg *s = p->desc.config; s && s->name; s++, n++)
			printf("  %s  %s%s%s  %s\n", s->name, salve_type_name(s->type),
			       s->flags & SALVE_ARG_REQUIRED ? ", required" : "",
			       s->flags & SALVE_ARG_SECRET ? ", secret" : "",
			       one_line(s->description, text, sizeof text));
	}
	if (!n)
		printf("  none\n");
	printf("\n`salve doc %s.ACTION` shows an action's arguments and an example.\n",
	       p->desc.name);
}

static void print_plugin_list(salve_registry *reg)
{
	char text[TEXT_MAX];
	json_t *list = salve_registry_list(reg);
	printf("search path: %s\n", salve_registry_search_path(reg));
	size_t i;
	json_t *p;
	json_array_foreach(list, i, p)
	{
		const char *name = json_string_value(json_object_get(p, "name"));
		const char *perr = json_string_value(json_object_get(p, "error"));
		if (perr)
			printf("  %-12s REFUSED: %s\n", name, one_line(perr, text, sizeof text));
		else
			printf("  %-12s %s\n", name,
			       one_line(json_string_value(json_object_get(p, "description")), text,
			                sizeof text));
	}
	json_decref(list);
	printf("`salve doc PLUGIN` lists a plugin's actions; `salve doc PLUGIN.ACTION` describes "
	       "one.\n");
}

int salve_cmd_doc(const struct salve_cli_globals *g, int argc, char **argv)
{
	static const char usage[] =
	    "usage: salve doc [PLUGIN[.ACTION]]\n"
	    "Describes the plugins found, a plugin's actions and settings, or an action: its\n"
	    "kind, undo, target, arguments, result fields and an example call, from the\n"
	    "plugin's descriptor.\n";
	int code = parse_options(argc, argv, usage, NULL);
	if (code >= 0)
		return code;
	if (argc - optind > 1) {
		salve_cli_error("doc takes one PLUGIN or PLUGIN.ACTION (got %d)", argc - optind);
		fputs(usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	salve_env e;
	if ((code = open_doc_env(&e, g)))
		return code;
	if (optind == argc) {
		print_plugin_list(e.reg);
		salve_env_close(&e);
		return 0;
	}
	char name[256];
	snprintf(name, sizeof name, "%s", argv[optind]);
	char *action = strchr(name, '.');
	if (action)
		*action++ = '\0';
	if (!name[0] || (action && !action[0])) {
		salve_cli_error("doc takes PLUGIN or PLUGIN.ACTION (got \"%s\")", argv[optind]);
		salve_env_close(&e);
		return SALVE_EXIT_USAGE;
	}
	enum salve_registry_error why;
	char err[2048];
	salve_loaded_plugin *p = salve_registry_get(e.reg, name, 0, &why, err, sizeof err);
	if (!p) {
		salve_cli_error("%s", err);
		code = SALVE_EXIT_UNAVAILABLE;
	} else if (!action) {
		print_plugin_doc(p);
	} else {
		const salve_action *a = salve_plugin_action(p, action);
		if (a) {
			print_action_doc(p, a);
		} else {
			char known[1024] = "";
			size_t used = 0;
			for (size_t i = 0; i < p->nactions && used < sizeof known; i++)
				used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
				                         i ? ", " : "", p->desc.actions[i].name);
			salve_cli_error("plugin %s has no action \"%s\" (its actions: %s)", name,
			                action, known);
			code = SALVE_EXIT_USAGE;
		}
	}
	salve_env_close(&e);
	return code;
}

/* LuaLS type of an argument or result field. */
static const char *luals_type(enum salve_type t)
{
	switch (t) {
	case SALVE_T_STRING:
	case SALVE_T_SECRET_REF:
		return "string";
	case SALVE_T_INT:
		return "integer";
	case SALVE_T_NUMBER:
		return "number";
	case SALVE_T_BOOL:
		return "boolean";
	case SALVE_T_LIST:
		return "any[]";
	case SALVE_T_MAP:
		return "table<string, any>";
	case SALVE_T_DURATION:
		return "string|number";
	default:
		return "any";
	}
}

/* Opens DIR/NAME for writing without following a symlink planted there. */
static FILE *create_in(const char *dir, const char *name, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return f;
}

static int finish(FILE *f, const char *dir, const char *name, char *err, size_t errlen)
{
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		snprintf(err, errlen, "cannot write %s/%s: %s", dir, name, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---@field lines for args (optional unless SALVE_ARG_REQUIRED) or for result fields (as
 * declared); returns whether any field is required. */
static int write_fields(FILE *f, const salve_arg *fields, int are_args,
                        const salve_arg_choices *choices)
{
	char text[TEXT_MAX];
	int required = 0;
	for (const salve_arg *g = fields; g && g->name; g++) {
		int req = !are_args || (g->flags & SALVE_ARG_REQUIRED) != 0;
		required |= req;
		/* An argument with choices is typed as their union: "started"|"stopped"|... */
		char type[512];
		snprintf(type, sizeof type, "%s", luals_type(g->type));
		const char *const *values = salve_choices_for(choices, g->name);
		for (size_t k = 0; values && values[k]; k++) {
			size_t used = k ? strlen(type) : 0;
			snprintf(type + used, sizeof type - used, "%s\"%s\"", k ? "|" : "",
			         values[k]);
		}
		if (is_lua_name(g->name))
			fprintf(f, "---@field %s%s %s", g->name, req ? "" : "?", type);
		else
			fprintf(f, "---@field [\"%s\"] %s%s", g->name, type, req ? "" : "?");
		fprintf(f, " %s%s\n", are_args && (g->flags & SALVE_ARG_SECRET) ? "(secret) " : "",
		        one_line(g->description, text, sizeof text));
	}
	return required;
}

/* DIR/NAME.lua for one plugin. */
static int write_plugin_stub(const char *dir, const salve_loaded_plugin *p, char *err,
                             size_t errlen)
{
	char file[300], local[128], text[TEXT_MAX];
	snprintf(file, sizeof file, "%s.lua", p->desc.name);
	FILE *f = create_in(dir, file, err, errlen);
	if (!f)
		return -1;
	lua_local_name(p->desc.name, local, sizeof local);
	fprintf(f,
	        "---@meta\n"
	        "-- salve plugin \"%s\" %s (plugin ABI %u.%u): %s\n"
	        "-- Written by `salve stubs` from the plugin's descriptor.\n\n"
	        "---@class salve.plugin.%s\n"
	        "local %s = {}\n",
	        p->desc.name, p->desc.version ? p->desc.version : "-", p->desc.abi_major,
	        p->desc.abi_minor, one_line(p->desc.description, text, sizeof text), local, local);
	for (size_t i = 0; i < p->nactions; i++) {
		const salve_action *a = &p->desc.actions[i];
		char cls[400];
		snprintf(cls, sizeof cls, "salve.%s.%s.args", local, a->name);
		fprintf(f, "\n---@class %s\n", cls);
		int required = write_fields(f, a->args, 1, a->choices);
		char result[400] = "table";
		if (a->results && a->results[0].name) {
			snprintf(result, sizeof result, "salve.%s.%s.result", local, a->name);
			fprintf(f, "\n---@class %s\n", result);
			write_fields(f, a->results, 0, NULL);
			if (a->kind == SALVE_MUTATE)
				fputs("---@field changed boolean (the core) false when the state "
				      "held\n"
				      "---@field planned? boolean (the core) true in a dry-run\n",
				      f);
		}
		const char *undo = a->kind != SALVE_MUTATE             ? ""
		                   : (a->flags & SALVE_ACTION_NO_UNDO) ? ", no undo"
		                                                       : ", undoable";
		fprintf(f, "\n--- %s\n--- %s%s%s%s\n---@param args%s %s\n---@return %s\n",
		        one_line(a->description, text, sizeof text), salve_kind_name(a->kind), undo,
		        a->target_arg ? "; target: " : "", a->target_arg ? a->target_arg : "",
		        required ? "" : "?", cls, result);
		if (is_lua_name(a->name))
			fprintf(f, "function %s.%s(args) end\n", local, a->name);
		else
			fprintf(f, "%s[\"%s\"] = function(args) end\n", local, a->name);
	}
	fprintf(f, "\nreturn %s\n", local);
	return finish(f, dir, file, err, errlen);
}

/* The runbook globals (docs/runbooks.md), and plugin "NAME" typed for each plugin. */
static int write_globals_stub(const char *dir, const json_t *names, char *err, size_t errlen)
{
	FILE *f = create_in(dir, "salve.lua", err, errlen);
	if (!f)
		return -1;
	fputs("---@meta\n"
	      "-- The globals of a salve runbook (docs/runbooks.md). Written by `salve stubs`.\n\n"
	      "---@class salve.param\n"
	      "---@field type? \"string\"|\"int\"|\"number\"|\"bool\"|\"list\"|\"map\"\n"
	      "---@field required? boolean\n"
	      "---@field default? any\n"
	      "---@field description? string\n\n"
	      "---@class salve.notify\n"
	      "---@field to string|string[] notify targets such as \"slack:#ops\"\n"
	      "---@field on? string|string[] start, success, degraded, rolled_back, "
	      "rollback_incomplete\n"
	      "---@field page_on_incomplete? boolean\n\n"
	      "---@class salve.runbook\n"
	      "---@field name string\n"
	      "---@field description? string\n"
	      "---@field params? table<string, salve.param>\n"
	      "---@field lock? string a key such as \"k8s/{namespace}/{name}\"\n"
	      "---@field timeout? string|number the whole run's deadline\n"
	      "---@field notify? salve.notify\n\n"
	      "---@param spec salve.runbook\n"
	      "function runbook(spec) end\n\n"
	      "---@class salve.approve\n"
	      "---@field timeout? string|number\n"
	      "---@field notify? string|string[]\n\n"
	      "---@class salve.step\n"
	      "---@field description? string\n"
	      "---@field when? fun(p: table, s: table): boolean\n"
	      "---@field check? fun(p: table, s: table): boolean\n"
	      "---@field run? fun(p: table, s: table): any\n"
	      "---@field verify? fun(p: table, s: table, r: any): boolean\n"
	      "---@field rollback? false|fun(p: table, s: table, r: any)\n"
	      "---@field timeout? string|number\n"
	      "---@field approve? salve.approve\n\n"
	      "---@param name string\n"
	      "---@return fun(spec: salve.step)\n"
	      "function step(name) end\n\n"
	      "---@param message string\n"
	      "function log(message) end\n\n"
	      "---@param message string\n"
	      "function print(message) end\n\n"
	      "--- A failure the run tolerates: it completes, and exits 3.\n"
	      "---@param message string\n"
	      "function degraded(message) end\n\n"
	      "--- A secret by reference (env:NAME, file:/path); redacted everywhere.\n"
	      "---@param ref string\n"
	      "---@return string\n"
	      "function secret(ref) end\n\n"
	      "---@class salve.wait_until\n"
	      "---@field timeout string|number\n"
	      "---@field every? string|number\n"
	      "---@field fn fun(): any\n\n"
	      "---@param spec salve.wait_until\n"
	      "function wait_until(spec) end\n\n"
	      "---@param duration string|number\n"
	      "function sleep(duration) end\n\n"
	      "---@class salve.info\n"
	      "---@field dry_run boolean\n"
	      "---@field drill boolean --fail-at or --drill-notify\n"
	      "---@field run_id string\n"
	      "---@field trigger string cli, cron, alert:FINGERPRINT, ...\n"
	      "---@field version string\n\n"
	      "---@type salve.info\n"
	      "salve = {}\n\n",
	      f);
	size_t i;
	json_t *n;
	json_array_foreach(names, i, n)
	{
		char local[128];
		lua_local_name(json_string_value(n), local, sizeof local);
		fprintf(f, "---@overload fun(name: \"%s\"): salve.plugin.%s\n",
		        json_string_value(n), local);
	}
	fputs("---@param name string\n---@return table\nfunction plugin(name) end\n", f);
	return finish(f, dir, "salve.lua", err, errlen);
}

int salve_cmd_stubs(const struct salve_cli_globals *g, int argc, char **argv)
{
	static const char usage[] =
	    "usage: salve stubs --out DIR\n"
	    "Writes LuaLS (lua-language-server) annotations for runbooks: DIR/salve.lua (the\n"
	    "runbook globals) and DIR/PLUGIN.lua for every plugin in the search path (actions,\n"
	    "argument names, types and required flags, result fields). Add DIR to\n"
	    "workspace.library.\n";
	const char *out = NULL;
	int code = parse_options(argc, argv, usage, &out);
	if (code >= 0)
		return code;
	if (!out || optind != argc) {
		salve_cli_error(out ? "stubs takes no arguments besides --out DIR"
		                    : "stubs needs --out DIR");
		fputs(usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	if (salve_mkdirs(out, 0755) < 0) {
		salve_cli_error("cannot create %s: %s", out, strerror(errno));
		return SALVE_EXIT_CANTCREAT;
	}
	salve_env e;
	if ((code = open_doc_env(&e, g)))
		return code;
	char err[2048];
	json_t *list = salve_registry_list(e.reg);
	json_t *written = json_array();
	size_t i;
	json_t *item;
	json_array_foreach(list, i, item)
	{
		const char *name = json_string_value(json_object_get(item, "name"));
		const char *perr = json_string_value(json_object_get(item, "error"));
		enum salve_registry_error why;
		salve_loaded_plugin *p =
		    perr ? NULL : salve_registry_get(e.reg, name, 0, &why, err, sizeof err);
		if (!p) {
			salve_cli_error("no stubs for plugin %s: %s", name, perr ? perr : err);
			continue;
		}
		if (write_plugin_stub(out, p, err, sizeof err) < 0) {
			code = SALVE_EXIT_CANTCREAT;
			break;
		}
		json_array_append_new(written, json_string(p->desc.name));
	}
	if (!code && write_globals_stub(out, written, err, sizeof err) < 0)
		code = SALVE_EXIT_CANTCREAT;
	if (code)
		salve_cli_error("%s", err);
	else
		printf("%s: salve.lua and %zu plugin%s\n", out, json_array_size(written),
		       json_array_size(written) == 1 ? "" : "s");
	json_decref(written);
	json_decref(list);
	salve_env_close(&e);
	return code;
}
