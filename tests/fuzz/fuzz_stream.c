/*
 * fuzz_stream - the stream reader over a whole image: bare v2, the xl and
 * libxl wrappers, gzip, legacy images (as detected), record by record to
 * END and the libxl trailer.  Any input: an error or END, never a crash,
 * leak or hang.
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
        /* A record stream ends in END or an error; the bound only guards the harness. */
        for (unsigned i = 0; i < 1000000; i++) {
            if (xg_stream_read(r, &rec) < 0)
                break;
            if (rec.type == XG_REC_END) {
                (void)xg_stream_read_trailer(r);
                break;
            }
        }
        xg_stream_reader_close(r);
    }
    xg_diag_free(d);
    close(fd);
    return 0;
}
