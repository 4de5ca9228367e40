/* The core's loader of the HTTP transport module (salve-http.so), on first use. Thread-safe;
 * the module stays loaded until the process ends. */
#ifndef SALVE_HTTPMOD_H
#define SALVE_HTTPMOD_H

#include "httpsvc/httpsvc.h"

/* A salve_httpsvc_loader: the module's table, or NULL with the reason in err. */
const salve_httpsvc_ops *salve_httpmod_load(char *err, size_t errlen);

#endif
