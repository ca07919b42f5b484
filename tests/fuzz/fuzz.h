/*
 * fuzz.h - what the fuzz targets share: the libFuzzer entry points and
 * an input turned into the file descriptor the library reads from.
 */
#ifndef XG_FUZZ_H
#define XG_FUZZ_H

#define _GNU_SOURCE 1
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A memory file holding data, positioned at its start; -1 on failure. */
static inline int fuzz_fd(const uint8_t *data, size_t size)
{
    int fd = memfd_create("xg-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

#endif
