/*
 * examples/kv/kv_main.c - `kv_server --port P --workers N`: a key-value
 * server speaking RESP2 (the Redis protocol), for redis-cli,
 * redis-benchmark and any Redis client library.  Extra flags:
 *   --max-bulk-len BYTES   largest bulk string (default 512 MiB); a longer
 *                          announced length is a protocol error
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

static int kv_flag(void *ud, int argc, char **argv, int i)
{
    kv_config *c = ud;
    if (!strcmp(argv[i], "--max-bulk-len") && i + 1 < argc) {
        char *end;
        unsigned long long v = strtoull(argv[i + 1], &end, 10);
        if (*end || v == 0 || argv[i + 1][0] == '-')
            return -1;
        c->lim.max_bulk = v;
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    srv_opts o;
    srv_opts_init(&o);
    o.reject_msg = "-ERR max number of clients reached\r\n";
    kv_config cfg;
    kv_config_init(&cfg);
    if (srv_opts_parse(&o, argc, argv, kv_flag, &cfg) < 0) {
        fprintf(stderr, "kv_server also takes --max-bulk-len BYTES\n");
        return 2;
    }
    kv_store *store = kv_store_new();
    if (!store)
        return 1;
    ar_closure *h = kv_handler_new(&cfg, store);
    if (!h)
        return 1;
    srv s;
    int rc = srv_start(&s, &o, h);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot start on port %u: %s\n", o.name, o.port, ar_strerror(rc));
        ar_closure_try_drop(h);
        free(h);
        return 1;
    }
    if ((rc = kv_start_expiry(&s, store)) < 0) {
        fprintf(stderr, "%s: expiry task: %s\n", o.name, ar_strerror(rc));
        srv_stop(&s);
    }
    if (!o.quiet)
        fprintf(stderr, "%s: listening on port %u (%u workers, %s)\n", o.name, srv_port(&s),
                o.workers, ar_rt_io_backend(srv_rt(&s)));
    rc = srv_wait(&s);
    if (rc == -ETIMEDOUT) /* as srv_main says it */
        fprintf(stderr, "%s: stopped; connections still open after %u ms were closed\n", o.name,
                o.shutdown_timeout_ms);
    free(h);
    return rc < 0 && rc != -ETIMEDOUT ? 1 : 0;
}
