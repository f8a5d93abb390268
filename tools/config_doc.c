/* config_doc: rewrites the generated key tables of docs/config.md from the key
 * tables in src/config/keys_<module>.c (src/config/doc.c renders them).
 *
 *   config_doc docs/config.md          rewrite the tables in place
 *   config_doc --check docs/config.md  exit 1 if they are stale (nothing written)
 *
 * `make config-doc` runs the first; the unit test test_config_doc does the
 * second's comparison, so a key added without its docs fails the tests. */
#include "config/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
    } while (got > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    bool check = argc == 3 && strcmp(argv[1], "--check") == 0;
    if (argc != 2 + check) {
        fprintf(stderr, "usage: config_doc [--check] docs/config.md\n");
        return 2;
    }
    const char *path = argv[1 + check];
    char *text = slurp(path);
    if (!text) {
        perror(path);
        return 1;
    }
    char *out = ks__cfg_doc_update(text);
    if (!out) {
        fprintf(stderr, "%s: a generated region is not closed, or names an unknown section\n",
                path);
        free(text);
        return 1;
    }
    int rc = 0;
    if (strcmp(text, out) != 0) {
        if (check) {
            fprintf(stderr, "%s: key tables are stale; run `make config-doc`\n", path);
            rc = 1;
        } else {
            FILE *f = fopen(path, "wb");
            if (!f || fputs(out, f) == EOF || fclose(f) != 0) {
                perror(path);
                rc = 1;
            } else {
                printf("%s: key tables rewritten\n", path);
            }
        }
    }
    free(text);
    free(out);
    return rc;
}
