/*
 * examples/http/http_static.c - request paths to safe relative file paths,
 * and file types.  The asynchronous open and reads are the connection's
 * (http_conn.c), which awaits them.
 */
#include "http_static.h"

#include <string.h>
#include <strings.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool http_static_path(const char *src, size_t n, char *dst, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(src[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(src[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            return false;
        dst[o++] = c;
    }
    dst[o] = '\0';
    if (o == 0)
        return false;
    /* Every segment non-empty and not starting with '.': this refuses
     * "", ".", "..", dotfiles, a leading '/' (an empty first segment:
     * openat would ignore the root) and "a//b". */
    const char *seg = dst;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0 || seg[0] == '.')
            return false;
        if (!slash)
            break;
        seg = slash + 1;
    }
    return true;
}

const char *http_content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"}, {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"}, {"json", "application/json"},
        {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
        {"gif", "image/gif"}, {"svg", "image/svg+xml"}, {"ico", "image/x-icon"},
        {"pdf", "application/pdf"}, {"wasm", "application/wasm"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot && dot[1])
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot + 1, types[i].ext))
                return types[i].type;
    return "application/octet-stream";
}
