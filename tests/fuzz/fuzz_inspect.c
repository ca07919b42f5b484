/*
 * fuzz_inspect - the offline validation xg-inspect does (xg_image_check):
 * the whole stream read, the page tables checked as Xen would, no
 * hypervisor.
 */
#include "config.h"

#include "fuzz.h"
#include "xg/restore.h"
#include "xg/xg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = fuzz_fd(data, size);
    if (fd < 0)
        return 0;
    xg_diag *d = xg_diag_new();
    if (d) {
        struct xg_restore_result res;
        (void)xg_image_check(fd, NULL, &res, d);
    }
    xg_diag_free(d);
    close(fd);
    return 0;
}
