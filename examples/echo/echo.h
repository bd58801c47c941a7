/*
 * examples/echo/echo.h - the echo handler, shared by the program
 * (echo_main.c) and its end-to-end test.
 */
#ifndef EXAMPLES_ECHO_H
#define EXAMPLES_ECHO_H

#include "server.h"

/* A new echo handler closure (AR_FN, argument srv_conn), or NULL without
 * memory.  Give it to srv_start/srv_main; free() it after srv_wait
 * returned (srv_wait drops it; the memory stays the caller's). */
ar_closure *echo_handler_new(void);

#endif
