#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
	struct series *next;
	char *labels;
	double value;    /* counter or gauge */
	double sum;      /* histogram */
	double *buckets; /* histogram: cumulative counts per bound, then +Inf */
};

struct family {
	char *name, *help;
	enum srv_metric_type type;
	double *bounds;
	size_t nbounds;
	struct series *series, *last;
};

struct srv_metrics {
	struct family *f;
	size_t n;
};

srv_metrics *srv_metrics_new(void)
{
	return calloc(1, sizeof(srv_metrics));
}

void srv_metrics_free(srv_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		struct series *s = m->f[i].series;
		while (s) {
			struct series *next = s->next;
			free(s->labels);
			free(s->buckets);
			free(s);
			s = next;
		}
		free(m->f[i].name);
		free(m->f[i].help);
		free(m->f[i].bounds);
	}
	free(m->f);
	free(m);
}

int srv_metrics_declare(srv_metrics *m, const char *name, enum srv_metric_type type,
                        const char *help, const double *bounds, size_t nbounds)
{
	struct family *grown = realloc(m->f, (m->n + 1) * sizeof *grown);
	if (!grown)
		return -1;
	m->f = grown;
	struct family *f = &m->f[m->n];
	memset(f, 0, sizeof *f);
	f->name = strdup(name);
	f->help = strdup(help);
	f->type = type;
	if (type == SRV_HISTOGRAM && nbounds) {
		f->bounds = malloc(nbounds * sizeof *f->bounds);
		if (f->bounds) {
			memcpy(f->bounds, bounds, nbounds * sizeof *f->bounds);
			f->nbounds = nbounds;
		}
	}
	if (!f->name || !f->help) {
		free(f->name);
		free(f->help);
		free(f->bounds);
		return -1;
	}
	m->n++;
	return 0;
}

static struct family *family_of(const srv_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->f[i].name, name) == 0)
			return &m->f[i];
	return NULL;
}

static struct series *series_of(struct family *f, const char *labels, int create)
{
	for (struct series *s = f->series; s; s = s->next)
		if (strcmp(s->labels, labels) == 0)
			return s;
	if (!create)
		return NULL;
	struct series *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->labels = strdup(labels);
	if (f->type == SRV_HISTOGRAM)
		s->buckets = calloc(f->nbounds + 1, sizeof *s->buckets);
	if (!s->labels || (f->type == SRV_HISTOGRAM && !s->buckets)) {
		free(s->labels);
		free(s->buckets);
		free(s);
		return NULL;
	}
	if (f->last)
		f->last->next = s;
	else
		f->series = s;
	f->last = s;
	return s;
}

void srv_metrics_add(srv_metrics *m, const char *name, const char *labels, double v)
{
	struct family *f = family_of(m, name);
	struct series *s = f && f->type != SRV_HISTOGRAM ? series_of(f, labels, 1) : NULL;
	if (s)
		s->value += v;
}

void srv_metrics_set(srv_metrics *m, const char *name, const char *labels, double v)
{
	struct family *f = family_of(m, name);
	struct series *s = f && f->type == SRV_GAUGE ? series_of(f, labels, 1) : NULL;
	if (s)
		s->value = v;
}

void srv_metrics_observe(srv_metrics *m, const char *name, const char *labels, double v)
{
	struct family *f = family_of(m, name);
	struct series *s = f && f->type == SRV_HISTOGRAM ? series_of(f, labels, 1) : NULL;
	if (!s)
		return;
	for (size_t i = 0; i < f->nbounds; i++)
		if (v <= f->bounds[i])
			s->buckets[i]++;
	s->buckets[f->nbounds]++;
	s->sum += v;
}

double srv_metrics_value(const srv_metrics *m, const char *name, const char *labels)
{
	struct family *f = family_of(m, name);
	struct series *s = f ? series_of(f, labels, 0) : NULL;
	if (!s)
		return 0;
	return f->type == SRV_HISTOGRAM ? s->buckets[f->nbounds] : s->value;
}

void srv_metrics_labels(char *buf, size_t len, ...)
{
	va_list ap;
	va_start(ap, len);
	size_t w = 0;
	buf[0] = '\0';
	const char *name;
	while ((name = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);
		if (!value)
			value = "";
		int n = snprintf(buf + w, len - w, "%s%s=\"", w ? "," : "", name);
		if (n < 0 || (size_t)n >= len - w)
			break;
		w += (size_t)n;
		for (const char *p = value; *p && w + 3 < len; p++) {
			if (*p == '\\' || *p == '"') {
				buf[w++] = '\\';
				buf[w++] = *p;
			} else if (*p == '\n') {
				buf[w++] = '\\';
				buf[w++] = 'n';
			} else {
				buf[w++] = *p;
			}
		}
		if (w + 2 > len)
			break;
		buf[w++] = '"';
		buf[w] = '\0';
	}
	va_end(ap);
}

static void number(FILE *f, double v)
{
	if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.9g", v);
}

static void sample(FILE *f, const char *name, const char *suffix, const char *labels,
                   const char *extra, double v)
{
	int any = labels[0] || (extra && extra[0]);
	fprintf(f, "%s%s%s%s%s%s%s ", name, suffix, any ? "{" : "", labels,
	        labels[0] && extra && extra[0] ? "," : "", extra ? extra : "", any ? "}" : "");
	number(f, v);
	fputc('\n', f);
}

char *srv_metrics_render(const srv_metrics *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	static const char *const types[] = {"counter", "gauge", "histogram"};
	for (size_t i = 0; i < m->n; i++) {
		const struct family *fam = &m->f[i];
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
		        types[fam->type]);
		for (const struct series *s = fam->series; s; s = s->next) {
			if (fam->type != SRV_HISTOGRAM) {
				sample(f, fam->name, "", s->labels, NULL, s->value);
				continue;
			}
			char le[64];
			for (size_t b = 0; b < fam->nbounds; b++) {
				char bound[40];
				snprintf(bound, sizeof bound, "%.9g", fam->bounds[b]);
				snprintf(le, sizeof le, "le=\"%s\"", bound);
				sample(f, fam->name, "_bucket", s->labels, le, s->buckets[b]);
			}
			sample(f, fam->name, "_bucket", s->labels, "le=\"+Inf\"",
			       s->buckets[fam->nbounds]);
			sample(f, fam->name, "_sum", s->labels, NULL, s->sum);
			sample(f, fam->name, "_count", s->labels, NULL, s->buckets[fam->nbounds]);
		}
	}
	fclose(f);
	return buf;
}
