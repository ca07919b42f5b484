/*
 * guest.c - xg-testguest, a minimal PV guest for the real-Xen tier.
 *
 * It prints on its console, like the Linux guest's /init (domU-init):
 *   XGBOOT ID               once, ID random per boot
 *   XGCOUNT ID N            every ~0.2 s, N = 1, 2, 3...
 *   XGBAD ID N WHAT         when its memory or page tables are not what it wrote
 *   XGINFO ID ...           its layout, and each suspend and resume
 * It builds its own address spaces (space.c), checks them every count,
 * rewrites one of 16 pages per count with data that depends on N (checking
 * what it wrote 16 counts before), and cooperates with suspend as libxl
 * expects of a PV guest: a xenstore watch on control/shutdown; on
 * "suspend" it acknowledges, and calls SCHEDOP_shutdown(SHUTDOWN_suspend)
 * with start_info's frame in the third argument (rdx/edx); on resume it
 * maps the new shared info and rings from the restored start_info and
 * publishes its p2m again.
 */
#include "guest.h"
#include "hcall.h"

struct start_info *start_info;       /* set by head.S */
unsigned long count_now;

static char shinfo_page[PAGE_SIZE] PAGE_ALIGNED;
static char store_page[PAGE_SIZE] PAGE_ALIGNED;
static char cons_page[PAGE_SIZE] PAGE_ALIGNED;
static unsigned long p2m_fll[PAGE_SIZE / sizeof(long)] PAGE_ALIGNED;
static unsigned long p2m_fl[PAGE_SIZE / sizeof(long)] PAGE_ALIGNED;
#define NCHURN 16
static unsigned long churn[NCHURN][PAGE_SIZE / sizeof(long)] PAGE_ALIGNED;

static volatile struct shared_info *shinfo = (volatile struct shared_info *)shinfo_page;
static volatile struct xs_ring *store = (volatile struct xs_ring *)store_page;
static volatile struct cons_ring *cons = (volatile struct cons_ring *)cons_page;
static uint32_t store_port, cons_port;
static char boot_id[13];

static void info(const char *what);
static void crash(void);

/* ---------------------------------------------------------------- basics */

void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

static size_t str_len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Whether the command line LINE has the word WORD. */
static int has_word(const char *line, const char *word)
{
    const size_t n = str_len(word);
    for (size_t i = 0; i < 1024 && line[i]; i++) {
        if (i > 0 && line[i - 1] != ' ')
            continue;
        size_t j = 0;
        while (j < n && i + j < 1024 && line[i + j] == word[j])
            j++;
        if (j == n && (i + n == 1024 || line[i + n] == 0 || line[i + n] == ' '))
            return 1;
    }
    return 0;
}

/* The guest's own p2m, copied from start_info's at boot: the one it
 * publishes, so the one a restore rewrites with the new frames.  Entries
 * past nr_pages are invalid (~0), as the saver reads one page more than
 * nr_pages needs (arch.max_pfn is the number of pfns, as Linux gives it). */
#define P2M_MAX (65536 + PAGE_SIZE / sizeof(long))     /* 256 MiB and a page */
static unsigned long p2m[P2M_MAX] PAGE_ALIGNED;
static int p2m_copied;

unsigned long pfn_to_mfn(unsigned long pfn)
{
    if (!p2m_copied)
        return ((const volatile unsigned long *)start_info->mfn_list)[pfn];
    return ((const volatile unsigned long *)p2m)[pfn];
}

static void copy_p2m(void)
{
    const unsigned long per = PAGE_SIZE / sizeof(long);
    if (start_info->nr_pages + per > P2M_MAX) {
        info("too much memory for the guest's p2m (256 MiB at most)");
        crash();
    }
    for (unsigned long pfn = 0; pfn < P2M_MAX; pfn++)
        p2m[pfn] = pfn < start_info->nr_pages ? pfn_to_mfn(pfn) : ~0UL;
    p2m_copied = 1;
}

unsigned long va_to_mfn(const void *va)
{
    return pfn_to_mfn((unsigned long)va >> PAGE_SHIFT);
}

static unsigned long mfn_to_pfn(unsigned long mfn)
{
    for (unsigned long pfn = 0; pfn < start_info->nr_pages; pfn++)
        if (pfn_to_mfn(pfn) == mfn)
            return pfn;
    return ~0UL;
}

static void crash(void)
{
    /* SHUTDOWN_crash: the tier sees the guest stop counting. */
    struct sched_shutdown sd = { 3 };
    for (;;)
        hcall2(HC_sched_op, SCHEDOP_shutdown, (unsigned long)&sd);
}

void map_frame(void *va, unsigned long mfn, int writable)
{
    uint64_t pte = 0;
    long rc;
    if (mfn != 0)
        pte = ((uint64_t)mfn << PAGE_SHIFT) | PTE_P | PTE_A | (writable ? PTE_RW | PTE_D : 0);
#if defined(__x86_64__)
    rc = hcall3(HC_update_va_mapping, (unsigned long)va, pte, UVMF_INVLPG);
#else
    rc = hcall4(HC_update_va_mapping, (unsigned long)va, (uint32_t)pte,
                (uint32_t)(pte >> 32), UVMF_INVLPG);
#endif
    if (rc != 0) {
        /* Said on the console, unless the console is what failed. */
        if (va == cons_page)
            crash();
        put_str("XGBAD ");
        put_id();
        put_str(" 0 update_va_mapping of mfn ");
        put_hex(mfn);
        put_str(" failed");
        put_nl();
        crash();
    }
}

long mmuext(unsigned int cmd, unsigned long mfn)
{
    struct mmuext_op op;
    memset(&op, 0, sizeof(op));
    op.cmd = cmd;
    op.arg1.mfn = mfn;
    return hcall4(HC_mmuext_op, (unsigned long)&op, 1, 0, DOMID_SELF);
}

/* ---------------------------------------------------------------- time, events */

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* Xen's system time in ns (vcpu 0's time info), as the poll timeout wants. */
static uint64_t now_ns(void)
{
    const volatile struct vcpu_time_info *t = &shinfo->vcpu_info[0].time;
    uint32_t version, mul;
    uint64_t stamp, sys, delta;
    int8_t shift;
    do {
        version = t->version;
        mb();
        stamp = t->tsc_timestamp;
        sys = t->system_time;
        mul = t->tsc_to_system_mul;
        shift = t->tsc_shift;
        mb();
    } while ((version & 1) || version != t->version);
    delta = rdtsc() - stamp;
    if (shift < 0)
        delta >>= -shift;
    else
        delta <<= shift;
    /* (delta * mul) >> 32 without a 128-bit product. */
    return sys + (((delta & 0xffffffffU) * mul) >> 32) + (delta >> 32) * mul;
}

static void notify(uint32_t port)
{
    struct evtchn_send s = { port };
    hcall2(HC_event_channel_op, EVTCHNOP_send, (unsigned long)&s);
}

static void clear_pending(uint32_t port)
{
    const unsigned int bits = sizeof(long) * 8;
    __sync_fetch_and_and(&shinfo->evtchn_pending[port / bits], ~(1UL << (port % bits)));
}

/* Events are never delivered as upcalls (the vcpu keeps them masked): the
 * guest waits for its ports with SCHEDOP_poll, which needs them unmasked. */
static void unmask(uint32_t port)
{
    const unsigned int bits = sizeof(long) * 8;
    __sync_fetch_and_and(&shinfo->evtchn_mask[port / bits], ~(1UL << (port % bits)));
}

/* Wait until PORT is signalled or DEADLINE (system time) passes. */
static void wait_port(uint32_t port, uint64_t deadline)
{
    struct sched_poll p;
    p.ports = &port;
    p.nr_ports = 1;
    p.timeout = deadline;
    hcall2(HC_sched_op, SCHEDOP_poll, (unsigned long)&p);
    clear_pending(port);
}

/* ---------------------------------------------------------------- console */

static void cons_write(const char *s, size_t n)
{
    while (n > 0) {
        uint32_t prod = cons->out_prod;
        mb();
        uint32_t room = sizeof(cons->out) - (prod - cons->out_cons);
        if (room == 0) {
            notify(cons_port);
            wait_port(cons_port, now_ns() + 10000000ULL);
            continue;
        }
        while (room > 0 && n > 0) {
            cons->out[prod++ % sizeof(cons->out)] = *s++;
            room--;
            n--;
        }
        mb();
        cons->out_prod = prod;
    }
}

void put_str(const char *s)
{
    cons_write(s, str_len(s));
}

void put_nl(void)
{
    cons_write("\n", 1);
    notify(cons_port);
}

void put_dec(unsigned long v)
{
    char b[24];
    int i = sizeof(b);
    b[--i] = 0;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_str(b + i);
}

void put_hex(unsigned long v)
{
    char b[24];
    int i = sizeof(b);
    b[--i] = 0;
    do {
        b[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    b[--i] = 'x';
    b[--i] = '0';
    put_str(b + i);
}

void put_id(void)
{
    put_str(boot_id);
}

static void info(const char *what)
{
    put_str("XGINFO ");
    put_id();
    put_str(" ");
    put_str(what);
    put_nl();
}

/* ---------------------------------------------------------------- xenstore */

static uint32_t xs_req_id;
static uint32_t xs_want_id;
static int xs_got, xs_reply_type;
static char xs_reply[128];
static int watch_fired;

static void ring_read(const volatile char *ring, uint32_t at, void *out, uint32_t n)
{
    char *o = out;
    for (uint32_t i = 0; i < n; i++)
        o[i] = ring[(at + i) % XS_RING_SIZE];
}

/* Take every complete message off the response ring. */
static void xs_drain(void)
{
    for (;;) {
        struct xs_msg m;
        uint32_t cons_at = store->rsp_cons, prod = store->rsp_prod;
        mb();
        if (prod - cons_at < sizeof(m))
            return;
        ring_read(store->rsp, cons_at, &m, sizeof(m));
        if (m.len > XS_RING_SIZE - sizeof(m)) {
            info("xenstore sent a message longer than its ring");
            crash();
        }
        if (prod - cons_at < sizeof(m) + m.len)
            return;
        if (m.type == XS_WATCH_EVENT) {
            watch_fired = 1;
        } else if (m.req_id == xs_want_id) {
            uint32_t n = m.len < sizeof(xs_reply) - 1 ? m.len : sizeof(xs_reply) - 1;
            ring_read(store->rsp, cons_at + sizeof(m), xs_reply, n);
            xs_reply[n] = 0;
            xs_reply_type = (int)m.type;
            xs_got = 1;
        }
        mb();
        store->rsp_cons = cons_at + sizeof(m) + m.len;
        notify(store_port);
    }
}

static void xs_put(const void *data, uint32_t n)
{
    const char *d = data;
    while (n > 0) {
        uint32_t prod = store->req_prod;
        mb();
        uint32_t room = XS_RING_SIZE - (prod - store->req_cons);
        if (room == 0) {
            notify(store_port);
            wait_port(store_port, now_ns() + 10000000ULL);
            xs_drain();
            continue;
        }
        while (room > 0 && n > 0) {
            store->req[prod++ % XS_RING_SIZE] = *d++;
            room--;
            n--;
        }
        mb();
        store->req_prod = prod;
    }
}

/* One request of TYPE whose payload is A (ALEN bytes) then B; waits for
 * the answer (in xs_reply).  0, or -1 on an error answer or a timeout. */
static int xs_request(uint32_t type, const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    struct xs_msg m = { type, ++xs_req_id, 0, alen + blen };
    xs_want_id = m.req_id;
    xs_got = 0;
    xs_put(&m, sizeof(m));
    xs_put(a, alen);
    xs_put(b, blen);
    notify(store_port);
    uint64_t deadline = now_ns() + 10000000000ULL;
    while (!xs_got) {
        xs_drain();
        if (xs_got)
            break;
        if (now_ns() > deadline) {
            info("no answer from xenstore in 10 s");
            return -1;
        }
        wait_port(store_port, now_ns() + 100000000ULL);
    }
    return xs_reply_type == XS_ERROR ? -1 : 0;
}

static const char shutdown_node[] = "control/shutdown";

static void xs_watch_shutdown(void)
{
    static const char token[] = "xgtoken";
    if (xs_request(XS_WATCH, shutdown_node, sizeof(shutdown_node), token, sizeof(token)) != 0)
        info("cannot watch control/shutdown");
}

/* ---------------------------------------------------------------- start of day */

static void map_shared(void)
{
    map_frame(shinfo_page, start_info->shared_info >> PAGE_SHIFT, 1);
    shinfo->vcpu_info[0].evtchn_upcall_mask = 1;
}

static void map_rings(void)
{
    store_port = start_info->store_evtchn;
    cons_port = start_info->console_evtchn;
    map_frame(store_page, start_info->store_mfn, 1);
    map_frame(cons_page, start_info->console_mfn, 1);
    unmask(store_port);
    unmask(cons_port);
}

/* The p2m as Xen's saver reads it: arch.max_pfn, and a frame list list
 * naming the frames of a frame list naming the frames of the p2m, of
 * which the saver reads (max_pfn + per page) / per page. */
static void publish_p2m(void)
{
    const unsigned long per = PAGE_SIZE / sizeof(long);
    const unsigned long max_pfn = start_info->nr_pages;
    const unsigned long frames = (max_pfn + per) / per;
    if (frames > per) {
        info("too much memory for a one-page p2m frame list");
        crash();
    }
    memset(p2m_fl, 0, sizeof(p2m_fl));
    memset(p2m_fll, 0, sizeof(p2m_fll));
    for (unsigned long i = 0; i < frames; i++)
        p2m_fl[i] = va_to_mfn(&p2m[i * per]);
    p2m_fll[0] = va_to_mfn(p2m_fl);
    mb();
    shinfo->max_pfn = max_pfn;
    shinfo->pfn_to_mfn_frame_list_list = va_to_mfn(p2m_fll);
}

static void make_boot_id(void)
{
    uint64_t x = rdtsc() ^ ((uint64_t)shinfo->wc_sec << 20) ^ shinfo->wc_nsec ^ now_ns();
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 32;
    for (int i = 11; i >= 0; i--) {
        boot_id[i] = "0123456789abcdef"[x & 15];
        x >>= 4;
    }
    boot_id[12] = 0;
}

/* ---------------------------------------------------------------- memory checks */

/* One of 16 pages per count gets data that depends on N; first it must
 * still hold what count N - 16 wrote into it. */
static unsigned int churn_check(unsigned long n)
{
    unsigned long *p = churn[n % NCHURN];
    unsigned int nbad = 0;
    for (unsigned long j = 0; j < PAGE_SIZE / sizeof(long); j++) {
        if (n > NCHURN && p[j] != ((n - NCHURN) * 0x10001UL ^ j)) {
            put_str("XGBAD ");
            put_id();
            put_str(" ");
            put_dec(n);
            put_str(" churn page ");
            put_dec(n % NCHURN);
            put_str(" word ");
            put_dec(j);
            put_nl();
            nbad = 1;
            break;
        }
    }
    for (unsigned long j = 0; j < PAGE_SIZE / sizeof(long); j++)
        p[j] = n * 0x10001UL ^ j;
    return nbad;
}

/* ---------------------------------------------------------------- suspend */

static void do_suspend(void)
{
    struct sched_shutdown sd = { SHUTDOWN_suspend };
    const unsigned long store_mfn = start_info->store_mfn, cons_mfn = start_info->console_mfn;
    const unsigned long si_mfn = va_to_mfn(start_info);

    info("suspending");
    /* A restore reads the rings' frames in start_info as pfns, and the
     * saver cannot follow a mapping of the shared info page. */
    start_info->store_mfn = mfn_to_pfn(store_mfn);
    start_info->console_mfn = mfn_to_pfn(cons_mfn);
    map_frame(shinfo_page, 0, 0);
    map_frame(store_page, 0, 0);
    map_frame(cons_page, 0, 0);
    long rc = hcall3(HC_sched_op, SCHEDOP_shutdown, (unsigned long)&sd, si_mfn);
    if (rc != 0) {
        /* Cancelled (or refused): still the same domain. */
        start_info->store_mfn = store_mfn;
        start_info->console_mfn = cons_mfn;
    }
    map_shared();
    map_rings();
    publish_p2m();
    if (rc == 0)
        xs_watch_shutdown();
    put_str("XGINFO ");
    put_id();
    put_str(rc == 0 ? " resumed at count " : " suspend cancelled at count ");
    put_dec(count_now);
    if (rc != 0) {
        put_str(", rc ");
        put_dec((unsigned long)rc);
    }
    put_nl();
    if (space_check() == 0)
        info("address spaces and canaries intact after resume");
}

static void on_shutdown_watch(void)
{
    static const char empty[] = "";
    watch_fired = 0;
    if (xs_request(XS_READ, shutdown_node, sizeof(shutdown_node), empty, 0) != 0)
        return;     /* no such node (yet) */
    if (xs_reply[0] == 0)
        return;
    char what[16];
    memcpy(what, xs_reply, sizeof(what) - 1);
    what[sizeof(what) - 1] = 0;
    /* Acknowledge: libxl waits for the node to be emptied. */
    xs_request(XS_WRITE, shutdown_node, sizeof(shutdown_node), empty, 0);
    if (str_eq(what, "suspend")) {
        do_suspend();
        return;
    }
    put_str("XGINFO ");
    put_id();
    put_str(" shutdown request '");
    put_str(what);
    put_str("'");
    put_nl();
    struct sched_shutdown sd = { str_eq(what, "reboot") ? SHUTDOWN_reboot : SHUTDOWN_poweroff };
    hcall2(HC_sched_op, SCHEDOP_shutdown, (unsigned long)&sd);
}

/* The start of day, and (64-bit) whether the p2m agrees with Xen's
 * read-only M2P at the start of the hypervisor's area. */
static void info_start(void)
{
    unsigned long bad_at = ~0UL, nbad = 0;
#if defined(__x86_64__)
    const volatile unsigned long *m2p = (const volatile unsigned long *)0xffff800000000000UL;
    for (unsigned long pfn = 0; pfn < start_info->nr_pages; pfn++)
        if (m2p[pfn_to_mfn(pfn)] != pfn) {
            if (nbad++ == 0)
                bad_at = pfn;
        }
#endif
    put_str("XGINFO ");
    put_id();
    put_str(" nr_pages ");
    put_hex(start_info->nr_pages);
    put_str(" mfn_list ");
    put_hex(start_info->mfn_list);
    put_str(" pt_base ");
    put_hex(start_info->pt_base);
    put_str(" nr_pt_frames ");
    put_hex(start_info->nr_pt_frames);
#if defined(__x86_64__)
    put_str(" p2m/M2P mismatches ");
    put_dec(nbad);
    if (nbad != 0) {
        put_str(" first at pfn ");
        put_hex(bad_at);
    }
#else
    (void)bad_at;
    (void)nbad;
#endif
    put_nl();
}

/* ---------------------------------------------------------------- main */

void guest_main(void);

void guest_main(void)
{
    map_shared();
    map_rings();
    make_boot_id();
    copy_p2m();
    publish_p2m();
    put_str("XGBOOT ");
    put_id();
    put_nl();
    const int cross = has_word((const char *)start_info->cmd_line, "xglayout=cross");
    put_str("XGINFO ");
    put_id();
    put_str(cross ? " layout cross: the linear target above its holders"
                  : " layout ordered: the linear target below its holders");
    put_nl();
    info_start();
    space_build(cross);
    xs_watch_shutdown();

    for (;;) {
        uint64_t deadline = now_ns() + 200000000ULL;
        for (;;) {
            xs_drain();
            if (watch_fired)
                on_shutdown_watch();
            if (now_ns() >= deadline)
                break;
            wait_port(store_port, deadline);
        }
        count_now++;
        churn_check(count_now);
        space_check();
        put_str("XGCOUNT ");
        put_id();
        put_str(" ");
        put_dec(count_now);
        put_nl();
    }
}
