/*
 * proto.h - the helper's side of libxl's save/restore helper protocol, as
 * Xen 4.14 to 4.19 speak it (xen-facts.md section 9.2).
 *
 * Helper -> libxl: a native uint16_t body length, then the body: a native
 * uint16_t message number and the arguments packed in native size and
 * byte order, without padding.  STRING is a uint32_t length that counts
 * the trailing NUL, the bytes, and the NUL.  libxl -> helper: one native
 * int, only after a message that expects a reply.
 *
 * The channel never lets a broken pipe kill the process or abandon the
 * engine half-way: once libxl's end is gone, messages are dropped, every
 * reply reads as a failure, and the engine's own error path runs (the
 * guest is resumed, log-dirty mode switched off).  helper_chan_status()
 * then says how the process should exit.
 */
#ifndef XG_LIBXL_SAVE_HELPER_PROTO_H
#define XG_LIBXL_SAVE_HELPER_PROTO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/* Message numbers: 1-based positions in libxl_save_msgs_gen.pl's @msgs (4.14-4.19). */
enum helper_msg {
    HELPER_MSG_LOG = 1,
    HELPER_MSG_PROGRESS = 2,
    HELPER_MSG_SUSPEND = 3,
    HELPER_MSG_POSTCOPY = 4,
    HELPER_MSG_CHECKPOINT = 5,
    HELPER_MSG_WAIT_CHECKPOINT = 6,
    HELPER_MSG_SWITCH_QEMU_LOGDIRTY = 7,
    HELPER_MSG_STATIC_DATA_DONE = 8,
    HELPER_MSG_RESTORE_RESULTS = 9,
    HELPER_MSG_COMPLETE = 10,
};

/* cbflags bit of a callback message: libxl has a callback for message n. */
#define HELPER_CBFLAG(n) (1U << (n))

/* xentoollog levels (XTL_*): libxl asserts 1..9. */
enum helper_level {
    HELPER_XTL_DEBUG = 1,
    HELPER_XTL_VERBOSE = 2,
    HELPER_XTL_DETAIL = 3,
    HELPER_XTL_PROGRESS = 4,
    HELPER_XTL_INFO = 5,
    HELPER_XTL_NOTICE = 6,
    HELPER_XTL_WARN = 7,
    HELPER_XTL_ERROR = 8,
    HELPER_XTL_CRITICAL = 9,
};

/* libxl reads the length as a uint16_t: a body never exceeds this. */
#define HELPER_MSG_MAX 65535U

/* Exit statuses, as Xen's helper uses them. */
#define HELPER_EXIT_OK 0
#define HELPER_EXIT_WRITE 255 /* exit(-1): writing to libxl failed */
#define HELPER_EXIT_EOF 254   /* exit(-2): libxl closed the reply pipe */

/*
 * Open the channel: messages go to out_fd, replies come from in_fd.
 * cbflags is libxl's argument: which callback messages it can receive.
 */
void helper_chan_init(int in_fd, int out_fd, unsigned cbflags);

/*
 * wake_fd is the read end of a pipe a signal handler writes to: a reply
 * libxl may never send (suspend) stops being waited for once it is
 * readable.
 */
void helper_chan_set_wake(int wake_fd);

/* Does libxl have a callback for message n (its cbflags bit)? */
bool helper_chan_has(enum helper_msg n);

/* 0 while libxl's end works, else HELPER_EXIT_WRITE or HELPER_EXIT_EOF. */
int helper_chan_status(void);

/*
 * log (1).  level is clamped to 1..9; errnoval -1 means none (xl prints
 * ": strerror(errnoval)" for errnoval >= 0).  Newlines become spaces and
 * a line too long for one message is cut, ending in "[truncated]".
 */
void helper_log(int level, int errnoval, const char *context, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void helper_vlog(int level, int errnoval, const char *context, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* progress (2): done of total, in native unsigned long. */
void helper_progress(const char *context, const char *doing_what, unsigned long done,
                     unsigned long total);

/*
 * suspend (3): ask libxl to suspend the guest and wait for its answer.
 * Returns libxl's reply (nonzero: suspended), or 0 when the channel
 * broke or a SIGTERM came meanwhile.  Only when helper_chan_has(3).
 */
int helper_call_suspend(void);

/*
 * static_data_done (8): tell libxl which CPU policies the image lacked;
 * returns its reply (0: go on), or -1 when the channel broke.  Only when
 * helper_chan_has(8).
 */
int helper_call_static_data_done(unsigned missing);

/* restore_results (9): no reply.  Only when helper_chan_has(9). */
void helper_restore_results(unsigned long store_gfn, unsigned long console_gfn);

/*
 * complete (10), then wait for libxl's reply (always 0): after complete
 * libxl stops reading, and exiting before its reply is written could hit
 * it with SIGPIPE.  Returns the reply, or -1 when the channel broke.
 */
int helper_complete(int retval, int errnoval);

#endif
