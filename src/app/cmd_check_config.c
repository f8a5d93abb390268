/* `kpistream check-config`: the options of run (cmd_run.c), then the
 * effective config printed as JSON instead of running. */
#include "app/cmds.h"
#include "app/internal.h"

#include "kpistream/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ks_check_config_main(int argc, char **argv)
{
    ks_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int rc = ks_run_load(&ks_check_config_cli, argc, argv, &cfg);
    if (rc == KS_CLI_GO) {
        char *json = ks_config_to_json(&cfg);
        if (json)
            printf("%s\n", json);
        free(json);
        rc = 0;
    }
    ks_config_free(&cfg);
    return rc;
}
