/*
 * format.h - wire layout of the libxc migration stream v2 and of the
 * libxl/xl wrappers around it.  Nothing but layout lives here; every size
 * the spec fixes is asserted at build time.
 *
 * Integers in the image header, libxl header and xl header flags-before-
 * byteorder are big-endian where noted; everything else is in the stream's
 * endianness, which xg supports only as little-endian (x86), the host's
 * own order (checked below), so bodies can be read in place.
 */
#ifndef XG_STREAM_FORMAT_H
#define XG_STREAM_FORMAT_H

#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "xg reads and writes little-endian (x86) streams in place: build it on a little-endian host"
#endif

/* Image header: 24 octets, big-endian. */
#define IHDR_MARKER 0xffffffffffffffffULL
#define IHDR_ID 0x58454e46U /* "XENF" */
#define IHDR_OPT_BIG_ENDIAN 0x0001U
#define IHDR_OPT_RESERVED 0xfffeU
#define IHDR_SIZE 24
struct wire_ihdr {
    uint64_t marker;
    uint32_t id;
    uint32_t version;
    uint16_t options;
    uint16_t reserved1;
    uint32_t reserved2;
};
_Static_assert(sizeof(struct wire_ihdr) == IHDR_SIZE, "image header is 24 octets");

/* Domain header: 16 octets. */
#define DHDR_SIZE 16
struct wire_dhdr {
    uint32_t type;
    uint16_t page_shift;
    uint16_t reserved;
    uint32_t xen_major;
    uint32_t xen_minor;
};
_Static_assert(sizeof(struct wire_dhdr) == DHDR_SIZE, "domain header is 16 octets");

/* Record header: 8 octets. */
struct wire_rhdr {
    uint32_t type;
    uint32_t length;
};
_Static_assert(sizeof(struct wire_rhdr) == 8, "record header is 8 octets");

struct wire_page_data_hdr {
    uint32_t count;
    uint32_t reserved;
};
_Static_assert(sizeof(struct wire_page_data_hdr) == 8, "PAGE_DATA header is 8 octets");

struct wire_x86_pv_info {
    uint8_t guest_width;
    uint8_t pt_levels;
    uint8_t reserved[6];
};
_Static_assert(sizeof(struct wire_x86_pv_info) == 8, "X86_PV_INFO is 8 octets");

struct wire_p2m_frames_hdr {
    uint32_t start_pfn;
    uint32_t end_pfn;
};
_Static_assert(sizeof(struct wire_p2m_frames_hdr) == 8, "X86_PV_P2M_FRAMES header is 8 octets");

struct wire_vcpu_hdr {
    uint32_t vcpu_id;
    uint32_t reserved;
};
_Static_assert(sizeof(struct wire_vcpu_hdr) == 8, "vcpu record header is 8 octets");

struct wire_tsc_info {
    uint32_t mode;
    uint32_t khz;
    uint64_t nsec;
    uint32_t incarnation;
    uint32_t reserved;
};
_Static_assert(sizeof(struct wire_tsc_info) == 24, "X86_TSC_INFO is 24 octets");

struct wire_hvm_params_hdr {
    uint32_t count;
    uint32_t reserved;
};
_Static_assert(sizeof(struct wire_hvm_params_hdr) == 8, "HVM_PARAMS header is 8 octets");
struct wire_hvm_param {
    uint64_t index;
    uint64_t value;
};
_Static_assert(sizeof(struct wire_hvm_param) == 16, "HVM_PARAMS entry is 16 octets");

#define CPUID_LEAF_SIZE 24
#define MSR_ENTRY_SIZE 16
#define SHARED_INFO_SIZE 4096
/* Xen's restore takes at most this much extended vcpu state. */
#define VCPU_EXTENDED_MAX 128
/* An xsave blob starts with a 64-bit xfeature mask and size. */
#define VCPU_XSAVE_MIN 16
/* Biggest vcpu blob we accept (xsave areas are a few KiB). */
#define VCPU_BLOB_MAX (1U << 20)

/* libxl stream v2 ("LibxlFmt"), header big-endian. */
#define LIBXL_IDENT 0x4c6962786c466d74ULL
#define LIBXL_HDR_SIZE 16
#define LIBXL_OPT_BIG_ENDIAN 0x1U
#define LIBXL_OPT_LEGACY 0x2U
#define LIBXL_OPT_RESERVED 0xfffffffcU
enum {
    LIBXL_REC_END = 0,
    LIBXL_REC_LIBXC_CONTEXT = 1,
    LIBXL_REC_EMULATOR_XENSTORE_DATA = 2,
    LIBXL_REC_EMULATOR_CONTEXT = 3,
    LIBXL_REC_CHECKPOINT_END = 4,
    LIBXL_REC_CHECKPOINT_STATE = 5,
};

/* xend's save-file header (Xen 3.x): magic, big-endian u32 length, SXP config. */
#define XEND_MAGIC "LinuxGuestRecord"

/* xl save-file header. */
#define XL_MAGIC "Xen saved domain, xl format\n \0 \r"
#define XL_MAGIC_LEN 32
#define XL_BYTEORDER 0x01020304U
#define XL_MANDATORY_FLAG_JSON (1U << 0)
#define XL_MANDATORY_FLAG_STREAMV2 (1U << 1)
#define XL_MANDATORY_KNOWN (XL_MANDATORY_FLAG_JSON | XL_MANDATORY_FLAG_STREAMV2)
struct wire_xl_hdr {
    char magic[XL_MAGIC_LEN];
    uint32_t byteorder;
    uint32_t mandatory_flags;
    uint32_t optional_flags;
    uint32_t optional_data_len;
};
_Static_assert(sizeof(struct wire_xl_hdr) == 48, "xl header is 48 octets");
/* xl's optional data is small (a config file); refuse absurd sizes. */
#define XL_OPTIONAL_DATA_MAX (16U << 20)

#endif
