/*
 * host.c - the simulated host's state file: its layout, creating and
 * opening it (a damaged file is refused, never trusted), the process
 * table, and the lock.  The journal and log it uses are in store.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv/sim/sim.h"
#include "internal.h"

#define ALIGN_PAGE(x) XG_ROUNDUP((uint64_t)(x), SIM_PAGE)

struct layout {
    uint64_t off_frames, off_m2p, off_domains, off_bitmaps;
    uint64_t off_maps, off_log, off_journal, off_data, size;
    uint64_t bitmap_bytes, journal_size;
};

static void compute_layout(uint64_t nr_frames, struct layout *l)
{
    uint64_t at = ALIGN_PAGE(sizeof(struct sim_hdr));
    l->off_frames = at;
    at = ALIGN_PAGE(at + nr_frames * sizeof(struct sim_frame));
    l->off_m2p = at;
    at = ALIGN_PAGE(at + nr_frames * sizeof(uint64_t));
    l->off_domains = at;
    at = ALIGN_PAGE(at + (uint64_t)SIM_MAX_DOMAINS * sizeof(struct sim_domain));
    /* A domain's pfns may reach twice the host's frames (holes in its p2m). */
    l->bitmap_bytes = XG_ROUNDUP(2 * nr_frames, 64) / 8;
    l->off_bitmaps = at;
    at = ALIGN_PAGE(at + SIM_MAX_DOMAINS * l->bitmap_bytes);
    l->off_maps = at;
    at = ALIGN_PAGE(at + (uint64_t)SIM_MAP_SLOTS * sizeof(struct sim_map_ref));
    l->off_log = at;
    at = ALIGN_PAGE(at + SIM_LOG_SIZE);
    /* Worst op (destroying or pinning everything) saves ~72 bytes per frame. */
    l->journal_size = ALIGN_PAGE((4U << 20) + nr_frames * 96);
    l->off_journal = at;
    at = ALIGN_PAGE(at + l->journal_size);
    l->off_data = at;
    at += nr_frames * SIM_PAGE;
    l->size = at;
}

static void attach(struct sim_host *h)
{
    struct sim_hdr *hdr = (struct sim_hdr *)h->base;
    h->hdr = hdr;
    h->frames = (struct sim_frame *)(h->base + hdr->off_frames);
    h->m2p = (uint64_t *)(h->base + hdr->off_m2p);
    h->doms = (struct sim_domain *)(h->base + hdr->off_domains);
    h->bitmaps = h->base + hdr->off_bitmaps;
    h->maps = (struct sim_map_ref *)(h->base + hdr->off_maps);
    h->log = (char *)(h->base + hdr->off_log);
    h->journal = h->base + hdr->off_journal;
    h->data = h->base + hdr->off_data;
}

/* Xen's own frames: the compat M2P and the tables behind L4 slots 256..271. */
static void reserve_xen_frames(struct sim_host *h)
{
    for (uint64_t mfn = 0; mfn < SIM_XEN_FRAMES; mfn++) {
        struct sim_frame *f = &h->frames[mfn];
        f->owner = XG_DOMID_XEN;
        f->count = 1;
        f->flags = SIM_PGC_ALLOCATED | SIM_PGC_XEN_HEAP;
        f->type_info = PGT_none | PGT_validated | 1;
    }
    h->hdr->compat_m2p_mfn0 = 1;
    h->hdr->xen_l4_mfn0 = 1 + SIM_COMPAT_M2P_FRAMES;
    h->hdr->nr_free = h->hdr->nr_frames - SIM_XEN_FRAMES;
    h->hdr->alloc_hint = SIM_XEN_FRAMES;
}

int sim_host_create(const char *path, uint64_t nr_frames, xg_diag *d)
{
    if (nr_frames < SIM_XEN_FRAMES + 64 || nr_frames > (1ULL << 28))
        return xg_diag_err(d, XG_E_INVAL, NULL, "a host needs between %u and %llu frames, not %llu",
                           SIM_XEN_FRAMES + 64, 1ULL << 28, (unsigned long long)nr_frames);
    struct layout l;
    compute_layout(nr_frames, &l);

    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return xg_diag_syserr(d, errno == EEXIST ? XG_E_BUSY : XG_E_IO, errno, NULL,
                              "cannot create host file %s", path);
    /* Sparse: frames cost disk only once written. */
    if (ftruncate(fd, (off_t)l.size) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return xg_diag_syserr(d, XG_E_IO, e, NULL, "cannot size host file %s to %llu bytes", path,
                              (unsigned long long)l.size);
    }
    /*
     * The metadata (everything before the frames) gets its disk blocks
     * now: written through the mapping into a hole on a full disk, it
     * would be a SIGBUS in the middle of an operation.  Frames get theirs
     * when they are allocated (domain.c).
     */
    int e = posix_fallocate(fd, 0, (off_t)l.off_data);
    if (e != 0 && e != EOPNOTSUPP && e != EINVAL) {
        close(fd);
        unlink(path);
        return xg_diag_syserr(d, XG_E_IO, e, NULL,
                              "cannot reserve %llu MiB on disk for host file %s",
                              (unsigned long long)(l.off_data >> 20), path);
    }
    uint8_t *base = mmap(NULL, l.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        e = errno;
        close(fd);
        unlink(path);
        return xg_diag_syserr(d, XG_E_IO, e, NULL, "cannot map host file %s", path);
    }
    struct sim_host h = { .fd = fd, .base = base, .size = l.size };
    struct sim_hdr *hdr = (struct sim_hdr *)base;
    hdr->version = SIM_VERSION;
    hdr->page_size = SIM_PAGE;
    hdr->file_size = l.size;
    hdr->nr_frames = nr_frames;
    hdr->off_frames = l.off_frames;
    hdr->off_m2p = l.off_m2p;
    hdr->off_domains = l.off_domains;
    hdr->off_bitmaps = l.off_bitmaps;
    hdr->off_maps = l.off_maps;
    hdr->off_log = l.off_log;
    hdr->off_journal = l.off_journal;
    hdr->off_data = l.off_data;
    hdr->bitmap_bytes = l.bitmap_bytes;
    hdr->journal_size = l.journal_size;
    hdr->next_domid = 1;
    hdr->op_seq = 1;
    attach(&h);
    for (uint64_t mfn = 0; mfn < nr_frames; mfn++) {
        h.frames[mfn].owner = SIM_OWNER_FREE;
        h.m2p[mfn] = XG_INVALID_PFN;
    }
    reserve_xen_frames(&h);

    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&hdr->lock, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0) {
        munmap(base, l.size);
        close(fd);
        unlink(path);
        return xg_diag_syserr(d, XG_E_IO, rc, NULL, "cannot set up the host lock");
    }
    /* The magic goes last: a half-made file is never taken for a host. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    memcpy(hdr->magic, SIM_MAGIC, 8);
    sim_log(&h, "(XEN) Xen version 4.17 (xg simulated host), %llu frames (%llu MiB)",
            (unsigned long long)nr_frames, (unsigned long long)(nr_frames >> 8));
    if (msync(base, l.off_frames, MS_SYNC) < 0) { /* header on disk before anyone opens it */
    }
    munmap(base, l.size);
    close(fd);
    return 0;
}

static uint64_t proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* Field 22; the command name (field 2) may hold spaces, so skip past ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long long st = 0;
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (sscanf(p, "%llu", &st) != 1)
        return 0;
    return st;
}

static bool proc_alive(const struct sim_proc *p)
{
    if (p->pid <= 0)
        return false;
    if (kill(p->pid, 0) < 0 && errno == ESRCH)
        return false;
    return proc_start_time(p->pid) == p->start_time;
}

/* Drop every mapping reference a process slot holds (must hold the lock). */
static void drop_proc_mappings(struct sim_host *h, uint32_t slot)
{
    uint32_t tag = slot + 1;
    bool any = false;
    for (uint32_t i = 0; i < SIM_MAP_SLOTS; i++) {
        struct sim_map_ref *m = &h->maps[i];
        if (m->proc != tag)
            continue;
        /* sim_host_open refused a file with a wild mfn here; a rollback may reach this first. */
        for (uint64_t c = 0; c < m->count && sim_mfn_valid(h, m->mfn); c++) {
            if (m->rw)
                sim_put_page_and_type(h, m->mfn);
            else
                sim_put_page(h, m->mfn);
        }
        sim_journal(h, m, sizeof(*m));
        memset(m, 0, sizeof(*m));
        any = true;
    }
    if (any)
        sim_maps_rehash(h);
}

static void reap_dead(struct sim_host *h)
{
    for (uint32_t s = 0; s < SIM_MAX_PROCS; s++) {
        struct sim_proc *p = &h->hdr->procs[s];
        if (p->pid == 0 || proc_alive(p))
            continue;
        sim_log(h, "(XEN) xg-sim: process %d went away; dropping its foreign mappings", p->pid);
        drop_proc_mappings(h, s);
        sim_journal(h, p, sizeof(*p));
        memset(p, 0, sizeof(*p));
    }
}

/*
 * What is wrong with a header whose size and data offset match its frame
 * count (else it is another format): NULL when every region is where
 * compute_layout puts it.  Pointers into the file come from these fields,
 * so a damaged one must stop the open, not become a wild pointer.
 */
static const char *header_fault(const struct sim_hdr *hdr, const struct layout *l)
{
    if (hdr->off_frames != l->off_frames || hdr->off_m2p != l->off_m2p ||
        hdr->off_domains != l->off_domains || hdr->off_bitmaps != l->off_bitmaps ||
        hdr->off_maps != l->off_maps || hdr->off_log != l->off_log ||
        hdr->off_journal != l->off_journal)
        return "its header places a region elsewhere than its frame count does";
    if (hdr->bitmap_bytes != l->bitmap_bytes || hdr->journal_size != l->journal_size)
        return "its header gives the wrong size for the dirty bitmaps or the undo journal";
    if (hdr->journal_used > hdr->journal_size)
        return "its undo journal is fuller than its size";
    if (hdr->nr_frames < SIM_XEN_FRAMES + 64 || hdr->compat_m2p_mfn0 != 1 ||
        hdr->xen_l4_mfn0 != 1 + SIM_COMPAT_M2P_FRAMES)
        return "its header misplaces Xen's own frames";
    return NULL;
}

static bool mfn_or_none(const struct sim_host *h, uint64_t mfn)
{
    return mfn == XG_INVALID_MFN || mfn < h->hdr->nr_frames;
}

/* A domain's fields that index arrays or frames, checked; NULL when they hold. */
static const char *domain_fault(const struct sim_host *h, const struct sim_domain *dom)
{
    if (dom->guest_width != 4 && dom->guest_width != 8)
        return "a domain of neither 32 nor 64 bits";
    if (dom->nr_vcpus > SIM_MAX_VCPUS)
        return "a domain with more vcpus than a host holds";
    if (dom->shared_info_mfn >= h->hdr->nr_frames)
        return "a domain whose shared info frame is beyond the host's frames";
    for (unsigned v = 0; v < dom->nr_vcpus; v++) {
        const struct sim_vcpu *vc = &dom->vcpu[v];
        if (!mfn_or_none(h, vc->guest_table) || !mfn_or_none(h, vc->guest_table_user))
            return "a vcpu whose page table base is beyond the host's frames";
        if (vc->nr_gdt > XG_GDT_FRAMES || vc->ext_len > sizeof(vc->ext))
            return "a vcpu with more GDT frames or extended state than it can hold";
        for (unsigned i = 0; i < vc->nr_gdt; i++)
            if (vc->gdt_mfn[i] >= h->hdr->nr_frames)
                return "a vcpu whose GDT frame is beyond the host's frames";
    }
    return NULL;
}

/* The tables behind the header (lock held): NULL when they can be trusted. */
static const char *state_fault(const struct sim_host *h)
{
    for (uint32_t i = 0; i < SIM_MAX_DOMAINS; i++) {
        const char *why = h->doms[i].in_use ? domain_fault(h, &h->doms[i]) : NULL;
        if (why)
            return why;
    }
    for (uint32_t i = 0; i < SIM_MAP_SLOTS; i++) {
        const struct sim_map_ref *m = &h->maps[i];
        if (m->proc > SIM_MAX_PROCS || (m->proc && m->mfn >= h->hdr->nr_frames))
            return "a foreign mapping of a frame beyond the host's frames";
    }
    return NULL;
}

int sim_host_open(const char *path, xg_diag *d, struct sim_host **out)
{
    *out = NULL;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return xg_diag_syserr(d, errno == ENOENT ? XG_E_NOTFOUND : XG_E_IO, errno, NULL,
                              "cannot open simulated host %s", path);
    struct stat st;
    struct sim_hdr probe;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size < sizeof(probe) ||
        pread(fd, &probe, sizeof(probe), 0) != (ssize_t)sizeof(probe) ||
        memcmp(probe.magic, SIM_MAGIC, 8) != 0) {
        close(fd);
        return xg_diag_err(
            d, XG_E_INVAL, NULL,
            "%s is not a simulated host file (hosts are made with `xg-sim init PATH`)", path);
    }
    if (probe.version != SIM_VERSION || probe.page_size != SIM_PAGE ||
        probe.file_size != (uint64_t)st.st_size) {
        close(fd);
        return xg_diag_err(d, XG_E_VERSION, NULL,
                           "%s is a simulated host of another format or size "
                           "(version %u, %llu bytes; expected version %u, %llu bytes)",
                           path, probe.version, (unsigned long long)probe.file_size, SIM_VERSION,
                           (unsigned long long)st.st_size);
    }
    struct layout l;
    compute_layout(probe.nr_frames, &l);
    if (l.size != probe.file_size || l.off_data != probe.off_data) {
        close(fd);
        return xg_diag_err(d, XG_E_VERSION, NULL, "%s has an inconsistent layout", path);
    }
    const char *why = header_fault(&probe, &l);
    if (why) {
        close(fd);
        return xg_diag_err(d, XG_E_CORRUPT, NULL, "simulated host %s is corrupt: %s", path, why);
    }
    struct sim_host *h = calloc(1, sizeof(*h));
    if (!h) {
        close(fd);
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
    }
    h->fd = fd;
    h->size = probe.file_size;
    h->path = strdup(path);
    if (!h->path) {
        close(fd);
        free(h);
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
    }
    h->base = mmap(NULL, h->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h->base == MAP_FAILED) {
        int e = errno;
        close(fd);
        free(h->path);
        free(h);
        return xg_diag_syserr(d, XG_E_IO, e, NULL, "cannot map simulated host %s", path);
    }
    /* A second, read-only view of the frames: what read-only mappings hand out. */
    h->ro_data = mmap(NULL, probe.nr_frames * SIM_PAGE, PROT_READ, MAP_SHARED, fd,
                      (off_t)probe.off_data);
    if (h->ro_data == MAP_FAILED) {
        int e = errno;
        munmap(h->base, h->size);
        close(fd);
        free(h->path);
        free(h);
        return xg_diag_syserr(d, XG_E_IO, e, NULL, "cannot map simulated host %s", path);
    }
    attach(h);
    h->proc_slot = UINT32_MAX;

    int rc = sim_lock(h, 0, d);
    if (rc < 0) {
        sim_host_close(h);
        return rc;
    }
    why = state_fault(h);
    if (why) {
        sim_unlock(h);
        sim_host_close(h);
        return xg_diag_err(d, XG_E_CORRUPT, NULL, "simulated host %s is corrupt: %s", path, why);
    }
    reap_dead(h);
    uint64_t me = proc_start_time(getpid());
    for (uint32_t s = 0; s < SIM_MAX_PROCS; s++) {
        struct sim_proc *p = &h->hdr->procs[s];
        if (p->pid == 0) {
            SIM_SET(h, p->pid, (int32_t)getpid());
            SIM_SET(h, p->start_time, me);
            h->proc_slot = s;
            break;
        }
    }
    sim_unlock(h);
    if (h->proc_slot == UINT32_MAX) {
        sim_host_close(h);
        return xg_diag_err(d, XG_E_BUSY, NULL,
                           "too many processes (%u) are using simulated host %s", SIM_MAX_PROCS,
                           path);
    }
    *out = h;
    return 0;
}

void sim_host_close(struct sim_host *h)
{
    if (!h)
        return;
    /*
     * Only the process that registered the slot gives up its mappings: a
     * child that inherited the handle across fork() and closes it must
     * not drop its parent's references (fix: it did, leaving the
     * parent's mapped frames unreferenced).
     */
    if (h->proc_slot != UINT32_MAX && sim_lock(h, 0, NULL) == 0) {
        struct sim_proc *p = &h->hdr->procs[h->proc_slot];
        if (p->pid == (int32_t)getpid()) {
            drop_proc_mappings(h, h->proc_slot);
            sim_journal(h, p, sizeof(*p));
            memset(p, 0, sizeof(*p));
        }
        sim_unlock(h);
    }
    if (h->ro_data && h->ro_data != MAP_FAILED)
        munmap((void *)h->ro_data, h->hdr->nr_frames * SIM_PAGE);
    munmap(h->base, h->size);
    close(h->fd);
    free(h->path);
    free(h);
}

/* What messages call the host: its path once open. */
static const char *host_name(const struct sim_host *h)
{
    return h->path ? h->path : "(being created)";
}

int sim_lock(struct sim_host *h, uint32_t caller, xg_diag *d)
{
    int rc = pthread_mutex_lock(&h->hdr->lock);
    if (rc == EOWNERDEAD) {
        if (sim_journal_rollback(h) < 0) {
            /*
             * Released without pthread_mutex_consistent: the lock becomes
             * unrecoverable, so every later op on this host fails too.
             */
            pthread_mutex_unlock(&h->hdr->lock);
            return xg_diag_err(d, XG_E_CORRUPT, NULL,
                               "simulated host %s is corrupt: the undo records of an interrupted "
                               "operation are damaged",
                               host_name(h));
        }
        pthread_mutex_consistent(&h->hdr->lock);
        h->locked = true;
        h->caller = 0;
        h->hdr->op_seq++;
        sim_log(h, "(XEN) xg-sim: a process died in the middle of an operation; its changes were "
                   "rolled back");
        reap_dead(h);
        h->hdr->journal_used = 0;
    } else if (rc == ENOTRECOVERABLE) {
        return xg_diag_syserr(d, XG_E_CORRUPT, rc, NULL,
                              "simulated host %s is corrupt: an interrupted operation could not be "
                              "rolled back",
                              host_name(h));
    } else if (rc != 0) {
        return xg_diag_syserr(d, XG_E_IO, rc, NULL, "cannot lock the simulated host");
    }
    h->locked = true;
    h->journal_full = false;
    h->caller = caller;
    h->hdr->op_seq++;
    h->hdr->journal_used = 0;
    return 0;
}

void sim_unlock(struct sim_host *h)
{
    __atomic_store_n(&h->hdr->journal_used, 0, __ATOMIC_RELEASE);
    h->locked = false;
    pthread_mutex_unlock(&h->hdr->lock);
}

void sim_abort(struct sim_host *h)
{
    /* Our own records: damaged only if another writer scribbled on the file. */
    if (sim_journal_rollback(h) < 0) {
        sim_log(h, "(XEN) xg-sim: the undo journal is damaged; a failed operation's changes were "
                   "kept");
        h->hdr->journal_used = 0;
    }
    h->locked = false;
    pthread_mutex_unlock(&h->hdr->lock);
}
