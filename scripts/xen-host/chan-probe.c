/* Channel probe for the xen backend (issue 19): which Xen mechanism puts one channel
 * page into two HVM domains driven from dom0, with the guests making no hypercalls.
 * Run in dom0 (npm run xen:host -- scripts/xen-host/chan-probe). Prints one line per
 * experiment: "<name>: ok|FAIL rc errno ...", timings as medians in microseconds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <xencall.h>
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/hvm/save.h>

#define PAGES 256     /* guest RAM: gfns 0..255 */
#define CHAN_GFN_A 16 /* the channel page, in A's RAM */
#define WIN_GFN 0x1000 /* the channel window in B (above RAM) */
#define REPS 50

static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static double median(double *v, int n) { qsort(v, n, sizeof *v, cmpd); return v[n / 2]; }

static uint32_t make_domain(xc_interface *xch) {
  struct xen_domctl_createdomain cfg = {0};
  cfg.flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap;
  cfg.max_vcpus = 1; cfg.max_evtchn_port = 1023;
  cfg.max_grant_frames = -1; cfg.max_maptrack_frames = -1;
  cfg.grant_opts = XEN_DOMCTL_GRANT_version(1);
  cfg.arch.emulation_flags = XEN_X86_EMU_LAPIC;
  uint32_t d = 0;
  if (xc_domain_create(xch, &d, &cfg) < 0) { perror("xc_domain_create"); exit(1); }
  xc_domain_max_vcpus(xch, d, 1);
  xc_domain_setmaxmem(xch, d, PAGES * 4 + 1024);
  xen_pfn_t pfns[PAGES];
  for (int i = 0; i < PAGES; i++) pfns[i] = i;
  if (xc_domain_populate_physmap_exact(xch, d, PAGES, 0, 0, pfns)) { perror("populate"); exit(1); }
  return d;
}

/* Reads B's window through a foreign map: the page B would see there. */
static void check_window(xenforeignmemory_handle *fm, uint32_t b, const char *what) {
  xen_pfn_t g = WIN_GFN; int err = 0;
  uint32_t *p = xenforeignmemory_map(fm, b, PROT_READ, 1, &g, &err);
  if (!p || err) { printf("  %s: B's window not mappable (err %d errno %d)\n", what, err, errno); return; }
  printf("  %s: B's window reads %08x (A wrote cafe0001)\n", what, p[0]);
  xenforeignmemory_unmap(fm, p, 1);
}

/* dom0's own grant-table frame numbers (GNTTABOP_setup_table on DOMID_SELF): a PV dom0
 * gets machine frames, so its grant entries can be read through a map by mfn. */
static int dom0_grant_frames(unsigned nr, unsigned long *out) {
  xencall_handle *xc = xencall_open(NULL, 0);
  if (!xc) return -1;
  struct gnttab_setup_table *op = xencall_alloc_buffer(xc, sizeof *op);
  unsigned long *frames = xencall_alloc_buffer(xc, nr * sizeof *frames);
  if (!op || !frames) return -1;
  memset(op, 0, sizeof *op);
  op->dom = DOMID_SELF; op->nr_frames = nr;
  op->frame_list.p = (void *)frames;  /* raw handle: xenctrl.h redefines the macro */
  int rc = xencall3(xc, __HYPERVISOR_grant_table_op, GNTTABOP_setup_table, (uintptr_t)op, 1);
  if (rc == 0 && op->status == 0) memcpy(out, frames, nr * sizeof *frames);
  else { printf("  setup_table: rc %d status %d errno %d\n", rc, op->status, errno); rc = -1; }
  xencall_close(xc);
  return rc;
}

/* Runs a 5-instruction 32-bit guest in domain d: it copies the window's words 0 and 1 to
 * its RAM at 0x2000, writes tag into word 1, halts with IF=0 (Xen then powers it off).
 * Returns the two words it read, or -1 when it did not finish in 2 s. */
static int run_window_guest(xc_interface *xch, xenforeignmemory_handle *fm, uint32_t d, uint32_t win, uint32_t tag, uint32_t out[2]) {
  uint8_t code[] = {0xa1, 0, 0, 0, 0, 0xa3, 0x00, 0x20, 0, 0, 0xa1, 0, 0, 0, 0, 0xa3, 0x04, 0x20, 0, 0,
                    0xc7, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0xf4, 0xeb, 0xfd};
  uint32_t w1 = win + 4;
  memcpy(code + 1, &win, 4); memcpy(code + 11, &w1, 4); memcpy(code + 22, &w1, 4); memcpy(code + 26, &tag, 4);
  xen_pfn_t g[2] = {1, 2}; int errs[2] = {0, 0};
  uint8_t *ram = xenforeignmemory_map(fm, d, PROT_READ | PROT_WRITE, 2, g, errs);
  if (!ram || errs[0] || errs[1]) return -1;
  memcpy(ram, code, sizeof code);
  memset(ram + 4096, 0xee, 8);
  int size = xc_domain_hvm_getcontext(xch, d, NULL, 0);
  uint8_t *ctx = malloc(size);
  size = xc_domain_hvm_getcontext(xch, d, ctx, size);
  /* A vCPU that never ran has no CPU record (Xen skips vCPUs that are down): add one after
   * the header, with a write-back MTRR, as the monitor's hvm_context.cc does. */
  struct hvm_hw_cpu c; memset(&c, 0, sizeof c);
  c.rip = 0x1000; c.rflags = 2; c.cr0 = 0x11;  /* PE + ET, no paging, IF=0 */
  c.cs_limit = c.ds_limit = c.es_limit = c.ss_limit = c.fs_limit = c.gs_limit = 0xffffffff;
  c.cs_arbytes = 0xc9b;  /* 32-bit flat code */
  c.ds_arbytes = c.es_arbytes = c.ss_arbytes = c.fs_arbytes = c.gs_arbytes = 0xc93;
  c.tr_limit = 0x67; c.tr_arbytes = 0x8b; c.ldtr_arbytes = 0x82;
  c.dr6 = 0xffff0ff0; c.dr7 = 0x400;
  struct hvm_hw_mtrr m; memset(&m, 0, sizeof m);
  m.msr_pat_cr = 0x0007040600070406ull; m.msr_mtrr_cap = (1 << 10) | (1 << 8) | MTRR_VCNT;
  m.msr_mtrr_def_type = (1 << 11) | 6;
  uint8_t *nctx = malloc(size + 2 * sizeof(struct hvm_save_descriptor) + sizeof c + sizeof m);
  int n = 0;
  for (int off = 0; off + (int)sizeof(struct hvm_save_descriptor) <= size;) {
    struct hvm_save_descriptor *de = (void *)(ctx + off);
    int next = off + sizeof *de + de->length;
    int drop = (de->typecode == HVM_SAVE_CODE(CPU) || de->typecode == HVM_SAVE_CODE(MTRR)) && de->instance == 0;
    if (!drop) { memcpy(nctx + n, ctx + off, next - off); n += next - off; }
    if (de->typecode == HVM_SAVE_CODE(HEADER)) {
      struct hvm_save_descriptor dc = {HVM_SAVE_CODE(CPU), 0, sizeof c}, dm = {HVM_SAVE_CODE(MTRR), 0, sizeof m};
      memcpy(nctx + n, &dc, sizeof dc); n += sizeof dc; memcpy(nctx + n, &c, sizeof c); n += sizeof c;
      memcpy(nctx + n, &dm, sizeof dm); n += sizeof dm; memcpy(nctx + n, &m, sizeof m); n += sizeof m;
    }
    if (de->typecode == HVM_SAVE_CODE(END)) break;
    off = next;
  }
  free(ctx); ctx = nctx; size = n;
  int rc = xc_domain_hvm_setcontext(xch, d, ctx, size);
  free(ctx);
  if (rc) { printf("  setcontext d%u: errno %d\n", d, errno); return -1; }
  double s = now_us();
  xc_domain_unpause(xch, d);
  int done = 0;
  while (!done && now_us() - s < 2e6) {
    xc_domaininfo_t info;
    if (xc_domain_getinfolist(xch, d, 1, &info) == 1 && (info.flags & XEN_DOMINF_shutdown)) done = 1;
    else usleep(1000);
  }
  if (!done) {  /* where it stopped */
    xc_domaininfo_t info;
    xc_domain_getinfolist(xch, d, 1, &info);
    printf("  d%u getinfo flags %#x (running %d blocked %d paused %d)\n", d, info.flags, !!(info.flags & XEN_DOMINF_running),
           !!(info.flags & XEN_DOMINF_blocked), !!(info.flags & XEN_DOMINF_paused));
    if (xc_domain_hvm_getcontext_partial(xch, d, HVM_SAVE_CODE(CPU), 0, &c, sizeof c) == 0)
      printf("  d%u flags %#x rip %#llx cr0 %#llx rflags %#llx pending_event %#x\n", d, info.flags,
             (unsigned long long)c.rip, (unsigned long long)c.cr0, (unsigned long long)c.rflags, c.pending_event);
  }
  memcpy(out, ram + 4096, 8);
  xenforeignmemory_unmap(fm, ram, 2);
  return done ? 0 : -1;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  xc_interface *xch = xc_interface_open(NULL, NULL, 0);
  xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
  xengnttab_handle *gt = xengnttab_open(NULL, 0);
  if (!xch || !fm) { perror("open"); return 1; }
  double t0 = now_us();
  uint32_t a = make_domain(xch), b = make_domain(xch);
  printf("domains A=%u B=%u (%d pages each) in %.0f us\n", a, b, PAGES, now_us() - t0);
  double v[REPS];

  /* Host path: dom0 maps A's channel page (what the monitor does for RAM today). */
  for (int i = 0; i < REPS; i++) {
    xen_pfn_t g = CHAN_GFN_A; int err = 0;
    double s = now_us();
    uint32_t *p = xenforeignmemory_map(fm, a, PROT_READ | PROT_WRITE, 1, &g, &err);
    if (!p || err) { printf("foreign_map: FAIL errno %d err %d\n", errno, err); break; }
    p[0] = 0xcafe0001;
    xenforeignmemory_unmap(fm, p, 1);
    v[i] = now_us() - s;
  }
  printf("foreign_map (dom0 <- A, 1 page, map+write+unmap): median %.1f us\n", median(v, REPS));

  /* (a) A's page into B's physmap as a foreign page. */
  {
    xen_ulong_t idx = CHAN_GFN_A; xen_pfn_t gpfn = WIN_GFN; int errs = 0;
    double s = now_us();
    int rc = xc_domain_add_to_physmap_batch(xch, b, a, XENMAPSPACE_gmfn_foreign, 1, &idx, &gpfn, &errs);
    int e = errno;
    printf("(a) add_to_physmap_batch(B, foreign A, gmfn_foreign): rc %d errno %d (%s) errs[0] %d, %.1f us\n", rc, e, strerror(e), errs, now_us() - s);
    if (rc == 0 && errs == 0) check_window(fm, b, "(a)");
  }
  /* (a2) the same through XENMEM_add_to_physmap's plain gmfn space is A-only; also try
   * moving B's own page (privileged caller, B's physmap): shows dom0 may edit B's p2m. */
  {
    double s = now_us();
    int rc = xc_domain_add_to_physmap(xch, b, XENMAPSPACE_gmfn, 17, WIN_GFN + 1);
    int e = errno;
    printf("(a2) add_to_physmap(B, gmfn 17 -> 0x%x): rc %d errno %d (%s), %.1f us\n", WIN_GFN + 1, rc, e, strerror(e), now_us() - s);
  }

  /* (b) A's grant table mapped by the monitor; it writes a v1 grant for dom0 and for B. */
  {
    void *gtab = NULL;
    double s = now_us();
    xenforeignmemory_resource_handle *r = xenforeignmemory_map_resource(fm, a, XENMEM_resource_grant_table,
        XENMEM_resource_grant_table_id_shared, 0, 1, &gtab, PROT_READ | PROT_WRITE, 0);
    double ms = now_us() - s;
    if (!r) { printf("(b) map_resource(A, grant_table): FAIL errno %d (%s)\n", errno, strerror(errno)); }
    else {
      printf("(b) map_resource(A, grant_table frame 0): ok, %.1f us\n", ms);
      grant_entry_v1_t *ge = gtab;
      ge[10].domid = 0; ge[10].frame = CHAN_GFN_A; __sync_synchronize(); ge[10].flags = GTF_permit_access;
      ge[11].domid = b; ge[11].frame = CHAN_GFN_A; __sync_synchronize(); ge[11].flags = GTF_permit_access;
      if (!gt) printf("(b) xengnttab_open: FAIL errno %d\n", errno);
      else {
        int ok = 1;
        for (int i = 0; i < REPS; i++) {
          double s2 = now_us();
          uint32_t *p = xengnttab_map_grant_ref(gt, a, 10, PROT_READ | PROT_WRITE);
          if (!p) { printf("(b) gnttab map (dom0 <- A ref 10): FAIL errno %d (%s)\n", errno, strerror(errno)); ok = 0; break; }
          if (i == 0) printf("(b) dom0's grant map of A's page reads %08x\n", p[0]);
          xengnttab_unmap(gt, p, 1);
          v[i] = now_us() - s2;
        }
        if (ok) printf("(b) gnttab map+unmap (dom0 <- A, 1 page): median %.1f us\n", median(v, REPS));
        printf("(b) A's grant entry flags after dom0's maps: %#x (GTF_reading/writing cleared)\n", ge[10].flags);
      }
      xenforeignmemory_unmap_resource(fm, r);
    }
  }

  /* (c) B's own grant-table frame placed in B's physmap by dom0 (a privileged caller). */
  {
    double s = now_us();
    int rc = xc_domain_add_to_physmap(xch, b, XENMAPSPACE_grant_table, 0, WIN_GFN + 2);
    int e = errno;
    printf("(c) add_to_physmap(B, grant_table frame 0 -> 0x%x): rc %d errno %d (%s), %.1f us\n", WIN_GFN + 2, rc, e, strerror(e), now_us() - s);
  }

  /* (d) memory sharing: A's page nominated and added to B's physmap (CoW, needs memshr). */
  {
    int rc = xc_memshr_control(xch, a, 1);
    int e = errno;
    printf("(d) memshr_control(A): rc %d errno %d (%s)\n", rc, e, strerror(e));
    if (rc == 0) {
      uint64_t h = 0;
      xc_memshr_control(xch, b, 1);
      rc = xc_memshr_nominate_gfn(xch, a, CHAN_GFN_A, &h);
      printf("(d) nominate A gfn: rc %d errno %d\n", rc, errno);
      if (rc == 0) {
        rc = xc_memshr_add_to_physmap(xch, a, CHAN_GFN_A, h, b, WIN_GFN + 3);
        printf("(d) memshr_add_to_physmap(A -> B): rc %d errno %d (shared pages are copy-on-write: not a channel)\n", rc, errno);
      }
    }
  }

  /* (e) one machine frame mapped into both domains as direct memory (XEN_DOMCTL_memory_mapping,
   * the passthrough-MMIO call): a dom0 page shared with xengntshr, its mfn read from dom0's
   * own grant entry (a PV dom0 grants machine frames). */
  {
    xengntshr_handle *gs = xengntshr_open(NULL, 0);
    uint32_t ref = 0;
    uint32_t *page = gs ? xengntshr_share_pages(gs, a, 1, &ref, 1) : NULL;
    if (!page) printf("(e) xengntshr_share_pages: FAIL errno %d (%s)\n", errno, strerror(errno));
    else {
      page[0] = 0xcafe0002;
      unsigned long gframes[64]; unsigned nr = ref / 512 + 1;
      xen_pfn_t gf = 0; int gerr = 0; grant_entry_v1_t *own = NULL;
      if (nr > 64 || dom0_grant_frames(nr, gframes)) printf("(e) dom0's grant frames: FAIL\n");
      else { gf = gframes[ref / 512]; own = xenforeignmemory_map(fm, DOMID_SELF, PROT_READ, 1, &gf, &gerr);  /* 0 is refused: "itself as foreign" */ }
      if (!own || gerr) printf("(e) map of dom0's grant frame by mfn %#lx: FAIL errno %d err %d\n", (unsigned long)gf, errno, gerr);
      else {
        unsigned long mfn = own[ref % 512].frame;
        xenforeignmemory_unmap(fm, own, 1);
        printf("(e) dom0 page shared as ref %u: mfn %#lx\n", ref, mfn);
        uint32_t doms[2] = {a, b};
        for (int k = 0; k < 2; k++) {
          double s = now_us();
          int rc1 = xc_domain_iomem_permission(xch, doms[k], mfn, 1, 1);
          int e1 = errno;
          int rc2 = xc_domain_memory_mapping(xch, doms[k], WIN_GFN + 4, mfn, 1, DPCI_ADD_MAPPING);
          int e2 = errno;
          printf("(e) dom %u: iomem_permission %s (errno %d); memory_mapping(gfn 0x%x) %s (errno %d), %.1f us\n",
                 doms[k], rc1 ? "FAIL" : "ok", rc1 ? e1 : 0, WIN_GFN + 4, rc2 ? "FAIL" : "ok", rc2 ? e2 : 0, now_us() - s);
        }
        xen_pfn_t g = WIN_GFN + 4; int err = 0;
        uint32_t *p = xenforeignmemory_map(fm, b, PROT_READ, 1, &g, &err);
        if (!p || err) printf("(e) B's direct window not foreign-mappable from dom0 (err %d): expected for an MMIO-typed entry\n", err);
        else { printf("(e) B's direct window reads %08x (dom0 wrote cafe0002)\n", p[0]); xenforeignmemory_unmap(fm, p, 1); }
        /* (f) both guests run: A reads dom0's word and writes its tag, then B reads both. */
        for (int k = 0; k < 2; k++) {
          uint32_t got[2] = {0, 0};
          int rc = run_window_guest(xch, fm, doms[k], (WIN_GFN + 4) << 12, 0xa0 + k, got);
          printf("(f) guest in dom %u: %s; read window words %08x %08x; dom0's page now %08x %08x\n", doms[k],
                 rc ? "did not finish" : "halted", got[0], got[1], page[0], page[1]);
        }
        for (int k = 0; k < 2; k++) xc_domain_memory_mapping(xch, doms[k], WIN_GFN + 4, mfn, 1, DPCI_REMOVE_MAPPING);
      }
    }
  }

  /* (g) the cost of a 16-page channel (64 KiB) mapped into one domain page by page (dom0's
   * pages are not machine-contiguous, so one memory_mapping call per page). */
  {
    enum { N = 16 };
    xengntshr_handle *gs = xengntshr_open(NULL, 0);
    uint32_t refs[N];
    void *pages = gs ? xengntshr_share_pages(gs, b, N, refs, 1) : NULL;
    unsigned long gframes[64], mfns[N];
    unsigned nr = 0;
    for (int i = 0; i < N; i++) if (refs[i] / 512 + 1 > nr) nr = refs[i] / 512 + 1;
    int ok = pages && nr <= 64 && dom0_grant_frames(nr, gframes) == 0;
    for (int i = 0; ok && i < N; i++) {
      xen_pfn_t gf = gframes[refs[i] / 512]; int gerr = 0;
      grant_entry_v1_t *own = xenforeignmemory_map(fm, DOMID_SELF, PROT_READ, 1, &gf, &gerr);
      if (!own || gerr) { ok = 0; break; }
      mfns[i] = own[refs[i] % 512].frame;
      xenforeignmemory_unmap(fm, own, 1);
    }
    if (!ok) printf("(g) FAIL: could not share or find the pages' frames\n");
    else {
      for (int rep = 0; rep < 3; rep++) {
        double s = now_us();
        int bad = 0;
        for (int i = 0; i < N; i++) {
          bad |= xc_domain_iomem_permission(xch, b, mfns[i], 1, 1);
          bad |= xc_domain_memory_mapping(xch, b, WIN_GFN + 0x10 + i, mfns[i], 1, DPCI_ADD_MAPPING);
        }
        double mapped = now_us() - s;
        s = now_us();
        for (int i = 0; i < N; i++) {
          bad |= xc_domain_memory_mapping(xch, b, WIN_GFN + 0x10 + i, mfns[i], 1, DPCI_REMOVE_MAPPING);
          bad |= xc_domain_iomem_permission(xch, b, mfns[i], 1, 0);
        }
        printf("(g) 16-page channel into B: map %.0f us, unmap %.0f us%s\n", mapped, now_us() - s, bad ? " (a call FAILED)" : "");
      }
    }
  }

  /* Doorbell: an interdomain event channel between two dom0 processes (two monitors). */
  {
    xenevtchn_handle *e1 = xenevtchn_open(NULL, 0);
    int p1 = e1 ? xenevtchn_bind_unbound_port(e1, 0) : -1;
    int tochild[2], back[2];
    if (p1 < 0 || pipe(tochild) || pipe(back)) printf("doorbell: FAIL errno %d\n", errno);
    else {
      pid_t pid = fork();
      if (pid == 0) {
        xenevtchn_handle *e2 = xenevtchn_open(NULL, 0);
        int lp = e2 ? xenevtchn_bind_interdomain(e2, 0, p1) : -1;
        int ok = lp >= 0; if (write(back[1], &ok, sizeof ok) < 0) _exit(1);
        for (int i = 0; ok && i < 1000; i++) {
          int got = xenevtchn_pending(e2); if (got < 0) break;
          xenevtchn_unmask(e2, got); xenevtchn_notify(e2, lp);
        }
        _exit(0);
      }
      int ok = 0; if (read(back[0], &ok, sizeof ok) < 0) ok = 0;
      if (!ok) printf("doorbell: bind_interdomain(dom0, dom0) FAIL\n");
      else {
        double w[1000];
        for (int i = 0; i < 1000; i++) {
          double s = now_us();
          xenevtchn_notify(e1, p1);
          int got = xenevtchn_pending(e1); xenevtchn_unmask(e1, got);
          w[i] = now_us() - s;
        }
        printf("doorbell: evtchn ping-pong between two dom0 processes: median %.1f us (1000 round trips)\n", median(w, 1000));
      }
      waitpid(pid, NULL, 0);
    }
  }

  xc_domain_destroy(xch, a); xc_domain_destroy(xch, b);
  /* Wait until both are gone (a dying domain still lists): later tests expect dom0 alone. */
  for (double s = now_us(); now_us() - s < 10e6;) {
    xc_domaininfo_t info[4];
    int n = xc_domain_getinfolist(xch, 1, 4, info), left = 0;
    for (int i = 0; i < n; i++) left += info[i].domain == a || info[i].domain == b;
    if (!left) break;
    usleep(10000);
  }
  printf("done\n");
  return 0;
}
