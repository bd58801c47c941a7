/*
 * examples/http/http_static.h - static files under a root directory.
 *
 * The root is opened once (O_PATH | O_DIRECTORY) and every file is opened
 * relative to it with an asynchronous openat (ar_io_openat), then read in
 * 64 KiB blocks with lending reads (ar_io_read_lend: no copy into a buffer
 * of the connection) and sent.  The request path is percent-decoded and
 * refused (404) when a segment is empty, "." or ".." or starts with a dot
 * (no dotfiles), when it holds a NUL byte, or when it would be absolute:
 * the relative path can only name entries below the root.  The last
 * component is opened with O_NOFOLLOW, so a symbolic link in the root is
 * not served; directories in the path are the operator's (as in nginx,
 * a symlinked directory under the root is followed).  Only regular files
 * are served (O_NONBLOCK keeps a FIFO from blocking the open).
 */
#ifndef HTTP_STATIC_H
#define HTTP_STATIC_H

#include <stdbool.h>
#include <stddef.h>

/* Decode the percent-encoded path below "/static/" (src, n bytes, up to
 * the query) into dst (cap bytes, NUL-terminated).  Returns true when the
 * result is a safe relative path (see above). */
bool http_static_path(const char *src, size_t n, char *dst, size_t cap);

/* The Content-Type for a file name, by its extension. */
const char *http_content_type(const char *path);

#endif
