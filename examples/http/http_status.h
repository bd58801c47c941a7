/*
 * examples/http/http_status.h - GET /status: the runtime's metrics
 * (asyncrt/metrics.h) as one JSON object:
 *
 *   {"workers":2,"tasks_spawned":..,"tasks_alive":..,"remote_spawned":..,
 *    "polls":..,"steals":..,"parks":..,"io_submitted":..,"io_completed":..,
 *    "queue_depth":..,"injection_depth":..,
 *    "per_worker":[{"polls":..,"spawned":..,"completed":..,"steals":..,
 *                   "parks":..,"io_submitted":..,"io_completed":..,
 *                   "queue_depth":..}, ...]}
 */
#ifndef HTTP_STATUS_H
#define HTTP_STATUS_H

#include <asyncrt.h>
#include <stddef.h>
#include <sys/types.h>

/* Write the JSON (and a newline) into dst.  Returns its length, -ENOSPC
 * when cap is too small, or the metrics call's error. */
ssize_t http_status_json(const ar_rt *rt, char *dst, size_t cap);

#endif
