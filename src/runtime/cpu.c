/* CPU feature detection with cpuid/xgetbv. A feature counts only if the OS
 * saves its registers (XCR0), so one binary is safe on any x86-64. */
#include "cpu.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define EMBER_X86 1
#endif

static ember_cpu_features g_cpu;
static const char *g_path = "scalar";
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#ifdef EMBER_X86
static unsigned long long xgetbv0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

/* Linux gates AMX tile data behind a per-process permission request. */
static int request_amx_permission(void) {
#ifdef SYS_arch_prctl
    const long ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
    unsigned long bitmask = 0;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bitmask) != 0) return 0;
    return (bitmask & (1ul << XFEATURE_XTILEDATA)) != 0;
#else
    return 0;
#endif
}
#endif

static int path_ok(const ember_cpu_features *f, const char *path);

/* EMBER_CPU_DISABLE=avx512_bf16,avx512_vnni,... hides features, so one
 * machine can stand in for CPUs that lack them (tests, comparisons). */
static void mask_features(const char *list) {
    struct { const char *name; int *flag; } features[] = {
        {"avx", &g_cpu.avx}, {"avx2", &g_cpu.avx2}, {"fma", &g_cpu.fma}, {"f16c", &g_cpu.f16c},
        {"avx512f", &g_cpu.avx512f}, {"avx512bw", &g_cpu.avx512bw}, {"avx512vl", &g_cpu.avx512vl},
        {"avx512dq", &g_cpu.avx512dq}, {"avx512_vnni", &g_cpu.avx512_vnni}, {"avx512_bf16", &g_cpu.avx512_bf16},
        {"avx_vnni", &g_cpu.avx_vnni}, {"amx_tile", &g_cpu.amx_tile}, {"amx_int8", &g_cpu.amx_int8},
        {"amx_bf16", &g_cpu.amx_bf16},
    };
    const int nf = (int)(sizeof features / sizeof features[0]);
    while (list && *list) {
        const size_t len = strcspn(list, ",");
        int k = 0;
        while (k < nf && (strlen(features[k].name) != len || strncmp(list, features[k].name, len))) k++;
        if (k < nf) *features[k].flag = 0;
        else if (len) fprintf(stderr, "ember: warning: EMBER_CPU_DISABLE: unknown feature '%.*s'\n", (int)len, list);
        list += len + (list[len] == ',');
    }
}

static void detect(void) {
    memset(&g_cpu, 0, sizeof g_cpu);
#ifdef EMBER_X86
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        int osxsave = (c >> 27) & 1;
        unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
        int ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
        int tiles = (xcr0 & 0x60000) == 0x60000;
        g_cpu.sse42 = (c >> 20) & 1;
        g_cpu.fma = ((c >> 12) & 1) && ymm;
        g_cpu.avx = ((c >> 28) & 1) && ymm;
        g_cpu.f16c = ((c >> 29) & 1) && ymm;
        if (__get_cpuid_max(0, 0) >= 7) {
            __cpuid_count(7, 0, a, b, c, d);
            g_cpu.avx2 = ((b >> 5) & 1) && ymm;
            g_cpu.avx512f = ((b >> 16) & 1) && zmm;
            g_cpu.avx512dq = ((b >> 17) & 1) && zmm;
            g_cpu.avx512bw = ((b >> 30) & 1) && zmm;
            g_cpu.avx512vl = ((b >> 31) & 1) && zmm;
            g_cpu.avx512_vnni = ((c >> 11) & 1) && zmm;
            g_cpu.amx_bf16 = ((d >> 22) & 1) && tiles;
            g_cpu.amx_tile = ((d >> 24) & 1) && tiles;
            g_cpu.amx_int8 = ((d >> 25) & 1) && tiles;
            unsigned a1, b1, c1, d1;
            __cpuid_count(7, 1, a1, b1, c1, d1);
            g_cpu.avx_vnni = ((a1 >> 4) & 1) && ymm;
            g_cpu.avx512_bf16 = ((a1 >> 5) & 1) && zmm;
            (void)b1; (void)c1; (void)d1;
        }
        if (g_cpu.amx_tile) g_cpu.amx_permitted = request_amx_permission();
    }
    unsigned int brand[12];
    if ((unsigned)__get_cpuid_max(0x80000000, 0) >= 0x80000004u) {
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002 + i, &brand[4 * i], &brand[4 * i + 1], &brand[4 * i + 2], &brand[4 * i + 3]);
        memcpy(g_cpu.brand, brand, 48);
        g_cpu.brand[48] = 0;
        /* trim leading spaces */
        char *p = g_cpu.brand;
        while (*p == ' ') p++;
        memmove(g_cpu.brand, p, strlen(p) + 1);
    }
#endif
    mask_features(getenv("EMBER_CPU_DISABLE"));
    const char *best = "scalar";
    if (path_ok(&g_cpu, "avx2")) best = "avx2";
    if (path_ok(&g_cpu, "avx512")) best = "avx512";
    if (path_ok(&g_cpu, "amx")) best = "amx";
    g_path = best;
    const char *force = getenv("EMBER_CPU");
    if (force && *force) {
        static const char *const known[] = {"scalar", "avx2", "avx512", "amx", "amx-emu", "avxvnni-emu"};
        int k = 0;
        while (k < 6 && strcmp(force, known[k])) k++;
        if (k == 6)
            fprintf(stderr,
                    "ember: warning: unknown EMBER_CPU=%s (expected scalar|avx2|avx512|amx|amx-emu|avxvnni-emu), using %s\n",
                    force, best);
        else if (!path_ok(&g_cpu, known[k]))
            fprintf(stderr, "ember: warning: EMBER_CPU=%s is not supported by this CPU%s, using %s\n", force,
                    !strcmp(force, "amx") && g_cpu.amx_int8 && !g_cpu.amx_permitted ? " (tile permission refused)" : "",
                    best);
        else g_path = known[k];
    }
}

const ember_cpu_features *ember_cpu(void) {
    pthread_once(&g_once, detect);
    return &g_cpu;
}

static int path_ok(const ember_cpu_features *f, const char *path) {
    if (!strcmp(path, "scalar")) return 1;
    if (!strcmp(path, "avx2")) return f->avx2 && f->fma && f->f16c;
    /* F/BW/VL/DQ; the kernels that need VNNI or BF16 are added where the
     * CPU has them (kernels/dispatch.c) */
    if (!strcmp(path, "avx512"))
        return f->avx2 && f->fma && f->f16c && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq;
    /* avx512 plus AMX-INT8 tiles the OS saves and lets this process use */
    if (!strcmp(path, "amx")) return path_ok(f, "avx512") && f->amx_tile && f->amx_int8 && f->amx_permitted;
    /* the AMX kernels with their tile instructions modelled in C: for tests
     * on machines without AMX (slow) */
    if (!strcmp(path, "amx-emu")) return path_ok(f, "avx512");
    /* avx2 plus the AVX-VNNI int8 kernels built with EVEX VPDPBUSD on ymm
     * (AVX512-VNNI + VL): for tests on machines without AVX-VNNI. The real
     * AVX-VNNI kernels need no forced path: avx2 takes them where the CPU
     * has avx_vnni (EMBER_CPU_DISABLE=avx_vnni masks them) */
    if (!strcmp(path, "avxvnni-emu")) return path_ok(f, "avx2") && f->avx512f && f->avx512vl && f->avx512_vnni;
    return 0;
}

int ember_cpu_path_supported(const char *path) { return path && path_ok(ember_cpu(), path); }

const char *ember_cpu_path_name(void) {
    pthread_once(&g_once, detect);
    return g_path;
}

int ember_huge_pages_available(void) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return 0;
    char buf[128];
    const size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, "[always]") || strstr(buf, "[madvise]");
}
