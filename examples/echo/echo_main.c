/*
 * examples/echo/echo_main.c - `echo_server --port P --workers N`: see echo.c.
 */
#include <stdlib.h>

#include "echo.h"

int main(int argc, char **argv)
{
    srv_opts o;
    srv_opts_init(&o);
    if (srv_opts_parse(&o, argc, argv, NULL, NULL) < 0)
        return 2;
    ar_closure *h = echo_handler_new();
    if (!h)
        return 1;
    int rc = srv_main(&o, h);
    free(h);
    return rc;
}
