/*
 * test_xen_backend.c - what can be checked of the real Xen backend
 * without a hypervisor:
 *  - the ops table is complete (every op but frame_owner, which Xen
 *    cannot answer);
 *  - on a machine that is not a Xen dom0, asking for the "xen" backend
 *    fails with exactly one finding, one line, that names the missing
 *    /dev/xen/privcmd and says how to use a simulated host, and nothing
 *    is printed by xg or by the Xen libraries;
 *  - the guest ABI offsets xg keeps in libxg/pv/abi.h (it does not
 *    include Xen's headers there) equal those of Xen's own foreign
 *    headers (xen/foreign/x86_64.h, x86_32.h).
 * Everything that needs Xen itself is listed in docs/xen-backend.md.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv/xen_private.h"
#include "pv/abi.h"
#include "xg/hv.h"

#ifdef XG_HAVE_XEN
#include <xen/foreign/x86_32.h>
#include <xen/foreign/x86_64.h>
#endif

static bool is_dom0(void)
{
    return access("/dev/xen/privcmd", F_OK) == 0 || access("/proc/xen/privcmd", F_OK) == 0;
}

/* Run xg_hv_open(spec) with fd 2 captured; returns its rc, and what was written there in *err_out. */
static int open_capturing_stderr(const char *spec, xg_diag *d, xg_hv **hv, char *err_out, size_t errlen)
{
    char tmpl[] = "/tmp/xg-xen-stderr-XXXXXX";
    int tmp = mkstemp(tmpl);
    ck_assert_int_ge(tmp, 0);
    unlink(tmpl);
    fflush(stderr);
    int saved = dup(2);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(tmp, 2), 0);
    int rc = xg_hv_open(spec, d, hv);
    fflush(stderr);
    ck_assert_int_ge(dup2(saved, 2), 0);
    close(saved);
    ssize_t n = pread(tmp, err_out, errlen - 1, 0);
    err_out[n > 0 ? n : 0] = '\0';
    close(tmp);
    return rc;
}

/* One error finding, one line, saying what is wrong and what to do instead. */
static void check_one_clear_error(xg_diag *d, int rc, int want_code)
{
    ck_assert_int_eq(rc, want_code);
    ck_assert_uint_eq(xg_diag_count(d), 1);
    const struct xg_finding *f = xg_diag_first_error(d);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->code, want_code);
    ck_assert_ptr_nonnull(f->msg);
    ck_assert_ptr_null(strchr(f->msg, '\n'));
    ck_assert_msg(strstr(f->msg, "sim:") && strstr(f->msg, "xg-sim init"),
                  "the message should say how to use a simulated host: %s", f->msg);
}

#ifdef XG_HAVE_XEN

START_TEST(ops_table_complete)
{
    const struct xg_hv_ops *o = &xg_xen_ops;
    ck_assert_uint_eq(o->version, XG_HV_OPS_VERSION);
    ck_assert_str_eq(o->name, "xen");
    const void *ops[] = {
        (const void *)o->close,          (const void *)o->xen_version,   (const void *)o->domain_info,
        (const void *)o->map,            (const void *)o->unmap,         (const void *)o->page_types,
        (const void *)o->m2p,            (const void *)o->vcpu_get,      (const void *)o->vcpu_set,
        (const void *)o->vcpu_blob_get,  (const void *)o->vcpu_blob_set, (const void *)o->tsc_info_get,
        (const void *)o->tsc_info_set,   (const void *)o->logdirty,      (const void *)o->pause,
        (const void *)o->unpause,        (const void *)o->suspend,       (const void *)o->resume,
        (const void *)o->domain_create,  (const void *)o->domain_destroy, (const void *)o->set_max_pages,
        (const void *)o->set_address_size, (const void *)o->evtchn_alloc_unbound, (const void *)o->populate,
        (const void *)o->mmu_update,     (const void *)o->mmuext,        (const void *)o->cpu_policy_get,
        (const void *)o->cpu_policy_set, (const void *)o->gnttab_seed,   (const void *)o->depopulate,
        (const void *)o->domain_state,   (const void *)o->vcpus_online,
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        ck_assert_msg(ops[i] != NULL, "op %zu of the Xen backend is missing", i);
    /* Xen cannot tell a dom0 who owns a frame: the engine must cope without. */
    ck_assert_ptr_null((const void *)o->frame_owner);
    ck_assert(xg_hv_have_xen());
}
END_TEST

START_TEST(open_without_privcmd_is_one_clear_line)
{
    if (is_dom0())
        return; /* a real dom0: the later Xen tier covers it */
    xg_diag *d = xg_diag_new();
    xg_hv *hv = (xg_hv *)(uintptr_t)1;
    char err[4096];
    int rc = open_capturing_stderr("xen", d, &hv, err, sizeof(err));
    ck_assert_ptr_null(hv);
    check_one_clear_error(d, rc, XG_E_NOTFOUND);
    const struct xg_finding *f = xg_diag_first_error(d);
    ck_assert_int_eq(f->sys_errno, ENOENT);
    ck_assert_ptr_nonnull(strstr(f->msg, "/dev/xen/privcmd"));
    ck_assert_msg(err[0] == '\0', "nothing may be printed, but stderr got: %s", err);
    xg_diag_free(d);
}
END_TEST

START_TEST(open_from_environment)
{
    if (is_dom0())
        return;
    /* No spec: XG_BACKEND, and "xen" when that is unset too. */
    for (int with_env = 0; with_env < 2; with_env++) {
        if (with_env)
            setenv("XG_BACKEND", "xen", 1);
        else
            unsetenv("XG_BACKEND");
        xg_diag *d = xg_diag_new();
        xg_hv *hv = NULL;
        char err[4096];
        int rc = open_capturing_stderr(NULL, d, &hv, err, sizeof(err));
        ck_assert_ptr_null(hv);
        check_one_clear_error(d, rc, XG_E_NOTFOUND);
        ck_assert_str_eq(err, "");
        xg_diag_free(d);
    }
    unsetenv("XG_BACKEND");
}
END_TEST

START_TEST(open_repeatedly)
{
    if (is_dom0())
        return;
    /* Failing opens leave nothing behind (valgrind checks the leaks). */
    for (int i = 0; i < 50; i++) {
        xg_diag *d = xg_diag_new();
        xg_hv *hv = NULL;
        ck_assert_int_eq(xg_hv_open("xen", d, &hv), XG_E_NOTFOUND);
        ck_assert_ptr_null(hv);
        xg_diag_free(d);
    }
}
END_TEST

/* pv/abi.h against Xen's foreign headers: one assertion per offset xg uses. */
#define CK_OFF(layout, field, type, member) ck_assert_uint_eq((layout).field, offsetof(type, member))

START_TEST(abi_vcpu_context)
{
    ck_assert_uint_eq(xg_vcpu_layout64.size, sizeof(vcpu_guest_context_x86_64_t));
    ck_assert_uint_eq(xg_vcpu_layout32.size, sizeof(vcpu_guest_context_x86_32_t));
    CK_OFF(xg_vcpu_layout64, flags, vcpu_guest_context_x86_64_t, flags);
    CK_OFF(xg_vcpu_layout64, user_regs_rdx, vcpu_guest_context_x86_64_t, user_regs.rdx);
    CK_OFF(xg_vcpu_layout64, user_regs_rip, vcpu_guest_context_x86_64_t, user_regs.rip);
    CK_OFF(xg_vcpu_layout64, user_regs_rsp, vcpu_guest_context_x86_64_t, user_regs.rsp);
    CK_OFF(xg_vcpu_layout64, ldt_base, vcpu_guest_context_x86_64_t, ldt_base);
    CK_OFF(xg_vcpu_layout64, ldt_ents, vcpu_guest_context_x86_64_t, ldt_ents);
    CK_OFF(xg_vcpu_layout64, gdt_frames, vcpu_guest_context_x86_64_t, gdt_frames);
    CK_OFF(xg_vcpu_layout64, gdt_ents, vcpu_guest_context_x86_64_t, gdt_ents);
    CK_OFF(xg_vcpu_layout64, kernel_ss, vcpu_guest_context_x86_64_t, kernel_ss);
    CK_OFF(xg_vcpu_layout64, kernel_sp, vcpu_guest_context_x86_64_t, kernel_sp);
    CK_OFF(xg_vcpu_layout64, ctrlreg, vcpu_guest_context_x86_64_t, ctrlreg);
    CK_OFF(xg_vcpu_layout64, vm_assist, vcpu_guest_context_x86_64_t, vm_assist);

    CK_OFF(xg_vcpu_layout32, flags, vcpu_guest_context_x86_32_t, flags);
    CK_OFF(xg_vcpu_layout32, user_regs_rdx, vcpu_guest_context_x86_32_t, user_regs.edx);
    CK_OFF(xg_vcpu_layout32, user_regs_rip, vcpu_guest_context_x86_32_t, user_regs.eip);
    CK_OFF(xg_vcpu_layout32, user_regs_rsp, vcpu_guest_context_x86_32_t, user_regs.esp);
    CK_OFF(xg_vcpu_layout32, ldt_base, vcpu_guest_context_x86_32_t, ldt_base);
    CK_OFF(xg_vcpu_layout32, ldt_ents, vcpu_guest_context_x86_32_t, ldt_ents);
    CK_OFF(xg_vcpu_layout32, gdt_frames, vcpu_guest_context_x86_32_t, gdt_frames);
    CK_OFF(xg_vcpu_layout32, gdt_ents, vcpu_guest_context_x86_32_t, gdt_ents);
    CK_OFF(xg_vcpu_layout32, kernel_ss, vcpu_guest_context_x86_32_t, kernel_ss);
    CK_OFF(xg_vcpu_layout32, kernel_sp, vcpu_guest_context_x86_32_t, kernel_sp);
    CK_OFF(xg_vcpu_layout32, ctrlreg, vcpu_guest_context_x86_32_t, ctrlreg);
    CK_OFF(xg_vcpu_layout32, vm_assist, vcpu_guest_context_x86_32_t, vm_assist);
    ck_assert_uint_eq(XG_VGCF_ONLINE, VGCF_online_X86_64);
    ck_assert_uint_eq(XG_VGCF_IN_KERNEL, VGCF_in_kernel_X86_64);
    ck_assert_uint_eq(XG_VGCF_I387_VALID, VGCF_i387_valid_X86_64);
}
END_TEST

START_TEST(abi_shared_info)
{
    ck_assert_uint_le(sizeof(shared_info_x86_64_t), XG_SHINFO_SIZE);
    ck_assert_uint_le(sizeof(shared_info_x86_32_t), XG_SHINFO_SIZE);
    ck_assert_uint_eq(sizeof(struct vcpu_info_x86_64), XG_VCPU_INFO_SIZE);
    ck_assert_uint_eq(sizeof(struct vcpu_info_x86_32), XG_VCPU_INFO_SIZE);
    ck_assert_uint_eq(XEN_LEGACY_MAX_VCPUS_X86_64, XG_LEGACY_MAX_VCPUS);
    ck_assert_uint_eq(XEN_LEGACY_MAX_VCPUS_X86_32, XG_LEGACY_MAX_VCPUS);
    CK_OFF(xg_shinfo_layout64, vcpu_info, shared_info_x86_64_t, vcpu_info);
    CK_OFF(xg_shinfo_layout64, evtchn_pending, shared_info_x86_64_t, evtchn_pending);
    CK_OFF(xg_shinfo_layout64, evtchn_mask, shared_info_x86_64_t, evtchn_mask);
    CK_OFF(xg_shinfo_layout64, max_pfn, shared_info_x86_64_t, arch.max_pfn);
    CK_OFF(xg_shinfo_layout64, pfn_to_mfn_frame_list_list, shared_info_x86_64_t, arch.pfn_to_mfn_frame_list_list);
    CK_OFF(xg_shinfo_layout64, nmi_reason, shared_info_x86_64_t, arch.nmi_reason);
    CK_OFF(xg_shinfo_layout64, p2m_cr3, shared_info_x86_64_t, arch.p2m_cr3);
    CK_OFF(xg_shinfo_layout64, p2m_vaddr, shared_info_x86_64_t, arch.p2m_vaddr);
    CK_OFF(xg_shinfo_layout64, p2m_generation, shared_info_x86_64_t, arch.p2m_generation);
    CK_OFF(xg_shinfo_layout32, vcpu_info, shared_info_x86_32_t, vcpu_info);
    CK_OFF(xg_shinfo_layout32, evtchn_pending, shared_info_x86_32_t, evtchn_pending);
    CK_OFF(xg_shinfo_layout32, evtchn_mask, shared_info_x86_32_t, evtchn_mask);
    CK_OFF(xg_shinfo_layout32, max_pfn, shared_info_x86_32_t, arch.max_pfn);
    CK_OFF(xg_shinfo_layout32, pfn_to_mfn_frame_list_list, shared_info_x86_32_t, arch.pfn_to_mfn_frame_list_list);
    CK_OFF(xg_shinfo_layout32, nmi_reason, shared_info_x86_32_t, arch.nmi_reason);
    CK_OFF(xg_shinfo_layout32, p2m_cr3, shared_info_x86_32_t, arch.p2m_cr3);
    CK_OFF(xg_shinfo_layout32, p2m_vaddr, shared_info_x86_32_t, arch.p2m_vaddr);
    CK_OFF(xg_shinfo_layout32, p2m_generation, shared_info_x86_32_t, arch.p2m_generation);
    ck_assert_uint_eq(xg_shinfo_layout64.evtchn_words * 8, sizeof(((shared_info_x86_64_t *)0)->evtchn_mask));
    ck_assert_uint_eq(xg_shinfo_layout32.evtchn_words * 4, sizeof(((shared_info_x86_32_t *)0)->evtchn_mask));
}
END_TEST

START_TEST(abi_start_info)
{
    CK_OFF(xg_start_info_layout64, nr_pages, start_info_x86_64_t, nr_pages);
    CK_OFF(xg_start_info_layout64, shared_info, start_info_x86_64_t, shared_info);
    CK_OFF(xg_start_info_layout64, flags, start_info_x86_64_t, flags);
    CK_OFF(xg_start_info_layout64, store_mfn, start_info_x86_64_t, store_mfn);
    CK_OFF(xg_start_info_layout64, store_evtchn, start_info_x86_64_t, store_evtchn);
    CK_OFF(xg_start_info_layout64, console_mfn, start_info_x86_64_t, console.domU.mfn);
    CK_OFF(xg_start_info_layout64, console_evtchn, start_info_x86_64_t, console.domU.evtchn);
    CK_OFF(xg_start_info_layout64, pt_base, start_info_x86_64_t, pt_base);
    CK_OFF(xg_start_info_layout64, nr_pt_frames, start_info_x86_64_t, nr_pt_frames);
    CK_OFF(xg_start_info_layout64, mfn_list, start_info_x86_64_t, mfn_list);
    CK_OFF(xg_start_info_layout64, mod_start, start_info_x86_64_t, mod_start);
    CK_OFF(xg_start_info_layout64, mod_len, start_info_x86_64_t, mod_len);
    CK_OFF(xg_start_info_layout64, cmd_line, start_info_x86_64_t, cmd_line);
    CK_OFF(xg_start_info_layout64, first_p2m_pfn, start_info_x86_64_t, first_p2m_pfn);
    CK_OFF(xg_start_info_layout64, nr_p2m_frames, start_info_x86_64_t, nr_p2m_frames);
    CK_OFF(xg_start_info_layout32, nr_pages, start_info_x86_32_t, nr_pages);
    CK_OFF(xg_start_info_layout32, shared_info, start_info_x86_32_t, shared_info);
    CK_OFF(xg_start_info_layout32, flags, start_info_x86_32_t, flags);
    CK_OFF(xg_start_info_layout32, store_mfn, start_info_x86_32_t, store_mfn);
    CK_OFF(xg_start_info_layout32, store_evtchn, start_info_x86_32_t, store_evtchn);
    CK_OFF(xg_start_info_layout32, console_mfn, start_info_x86_32_t, console.domU.mfn);
    CK_OFF(xg_start_info_layout32, console_evtchn, start_info_x86_32_t, console.domU.evtchn);
    CK_OFF(xg_start_info_layout32, pt_base, start_info_x86_32_t, pt_base);
    CK_OFF(xg_start_info_layout32, nr_pt_frames, start_info_x86_32_t, nr_pt_frames);
    CK_OFF(xg_start_info_layout32, mfn_list, start_info_x86_32_t, mfn_list);
    CK_OFF(xg_start_info_layout32, mod_start, start_info_x86_32_t, mod_start);
    CK_OFF(xg_start_info_layout32, mod_len, start_info_x86_32_t, mod_len);
    CK_OFF(xg_start_info_layout32, cmd_line, start_info_x86_32_t, cmd_line);
    CK_OFF(xg_start_info_layout32, first_p2m_pfn, start_info_x86_32_t, first_p2m_pfn);
    CK_OFF(xg_start_info_layout32, nr_p2m_frames, start_info_x86_32_t, nr_p2m_frames);
}
END_TEST

#else /* !XG_HAVE_XEN */

START_TEST(open_not_built_is_one_clear_line)
{
    xg_diag *d = xg_diag_new();
    xg_hv *hv = NULL;
    char err[4096];
    int rc = open_capturing_stderr("xen", d, &hv, err, sizeof(err));
    ck_assert_ptr_null(hv);
    check_one_clear_error(d, rc, XG_E_UNSUPPORTED);
    ck_assert_str_eq(err, "");
    ck_assert(!xg_hv_have_xen());
    xg_diag_free(d);
}
END_TEST

#endif

static Suite *suite(void)
{
    Suite *s = suite_create("xen_backend");
    TCase *tc = tcase_create("open");
#ifdef XG_HAVE_XEN
    tcase_add_test(tc, ops_table_complete);
    tcase_add_test(tc, open_without_privcmd_is_one_clear_line);
    tcase_add_test(tc, open_from_environment);
    tcase_add_test(tc, open_repeatedly);
    suite_add_tcase(s, tc);
    TCase *abi = tcase_create("abi");
    tcase_add_test(abi, abi_vcpu_context);
    tcase_add_test(abi, abi_shared_info);
    tcase_add_test(abi, abi_start_info);
    suite_add_tcase(s, abi);
#else
    tcase_add_test(tc, open_not_built_is_one_clear_line);
    suite_add_tcase(s, tc);
#endif
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
