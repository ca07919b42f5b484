/*
 * fuzz_legacy - the legacy (pre-Xen 4.6) reader and its conversion to v2
 * records, to END.  The reader detects the format; this target's seed
 * corpus is legacy images only (bare, xl- and xend-wrapped, 32- and
 * 64-bit toolstacks), so its mutations stay in the legacy layout.
 */
#include "config.h"

#include "fuzz.h"
#include "xg/xg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = fuzz_fd(data, size);
    if (fd < 0)
        return 0;
    xg_diag *d = xg_diag_new();
    xg_stream_reader *r = NULL;
    if (d && xg_stream_reader_open(fd, NULL, d, &r) == 0) {
        struct xg_record rec;
        for (unsigned i = 0; i < 1000000; i++) {
            if (xg_stream_read(r, &rec) < 0 || rec.type == XG_REC_END)
                break;
        }
        xg_stream_reader_close(r);
    }
    xg_diag_free(d);
    close(fd);
    return 0;
}
