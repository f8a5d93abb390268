/* libFuzzer target: the UTF-8 check (ks_utf8_valid, src/event/scan.c), which
 * has an eight-bytes-at-a-time ASCII path and a table-driven multi-byte path.
 *
 * Differential against a plain decoder written from the definition (Unicode
 * 15 section 3.9, D92: a code point in U+0000..U+10FFFF minus the surrogates
 * U+D800..U+DFFF, in its shortest form), run on the whole input and on every
 * suffix starting in the first 16 bytes (so each alignment of the fast path
 * is exercised). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "kpistream/event.h"

static bool reference_valid(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i < n) return false;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t start = 0; start <= size && start < 16; start++) {
        bool got = ks_utf8_valid((const char *)data + start, size - start);
        if (got != reference_valid(data + start, size - start)) abort();
    }
    return 0;
}
