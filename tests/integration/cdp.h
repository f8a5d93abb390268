/* A minimal Chrome DevTools Protocol client for the browser tests: headless
 * Chromium started as a child (kst_proc), one page driven over a WebSocket
 * (RFC 6455, text frames only), JavaScript evaluated in it, screenshots.
 *
 * Every function that can fail returns -1 (or NULL) with a message in
 * cdp_error(). Not thread-safe; one browser per test. */
#ifndef KST_CDP_H
#define KST_CDP_H

#include "harness.h"

#include <cjson/cJSON.h>

typedef struct cdp {
    kst_proc proc;     /* the chromium child */
    char profile[300]; /* its --user-data-dir */
    int port;          /* DevTools HTTP port */
    int fd;            /* the page's WebSocket (-1: none) */
    int next_id;
} cdp;

/** The last failure's message. Borrowed: static. */
const char *cdp_error(void);

/** The chromium binary found in PATH ("chromium", "chromium-browser"), or
 *  NULL. Borrowed: static. */
const char *cdp_find_chromium(void);

/** Starts headless chromium (binary bin) on url with a 1920x1080 window and
 *  a fresh profile in dir, logging to log_path, then connects to the page.
 *  Returns 0, or -1 if the browser did not come up in timeout_ms (its log
 *  tells why). Stop with cdp_close(). */
int cdp_open(cdp *c, const char *bin, const char *url, const char *dir, const char *log_path,
             int timeout_ms);

/** Sends method with params (a JSON object text, or NULL) and waits for its
 *  reply (events in between are skipped). Returns the "result" object, or
 *  NULL on an error reply or a broken connection. Caller owns the result;
 *  free with cJSON_Delete(). */
cJSON *cdp_call(cdp *c, const char *method, const char *params);

/** Evaluates expr in the page; it must give a string. Returns a copy of it,
 *  or NULL (exception, not a string). Caller owns the result; free(). */
char *cdp_eval_string(cdp *c, const char *expr);

/** Writes a PNG screenshot of the page's viewport to path. Returns 0 or -1. */
int cdp_screenshot(cdp *c, const char *path);

/** Closes the connection and stops the browser (by its PID). Safe on a
 *  zeroed struct and twice. */
void cdp_close(cdp *c);

#endif
