/*
 * xen-create-baseline: what Xen itself charges to make and end a domain of a pVM's
 * shape, the floor under spawn.firstInstruction.xen (bench/xen.ts). Run in a Xen dom0.
 *   usage: xen-create-baseline <RAM MiB> <runs>
 * Each run, timed step by step with CLOCK_MONOTONIC: create an HVM|HAP domain with one
 * vCPU and no emulated devices but the LAPIC (the monitor's configuration), give it
 * <RAM MiB> in 2 MiB extents, map all of it into this process and write every page
 * (what loading and zeroing through dom0 costs at most), unmap, destroy. No guest runs:
 * this is the bare cost of the domain, without pvm's monitor, loader or protocol.
 * Prints one JSON line of medians (µs):
 *   {"createUs":…, "populateUs":…, "mapWriteUs":…, "destroyUs":…, "totalUs":…, "runs":N}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xenctrl.h>
#include <xenforeignmemory.h>

#include "baseline.h"

static void die(const char *what)
{
  fprintf(stderr, "xen-create-baseline: %s: %s\n", what, strerror(errno));
  exit(1);
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: xen-create-baseline <RAM MiB> <runs>\n");
    return 2;
  }
  unsigned long mib = strtoul(argv[1], 0, 10);
  int runs = atoi(argv[2]);
  if (mib == 0 || mib % 2 || runs <= 0) {
    fprintf(stderr, "xen-create-baseline: RAM must be a non-zero even number of MiB, runs > 0\n");
    return 2;
  }
  xc_interface *xc = xc_interface_open(0, 0, 0);
  xenforeignmemory_handle *fmem = xenforeignmemory_open(0, 0);
  if (!xc || !fmem) die("opening Xen's control interfaces (not a dom0?)");
  size_t pages = mib * 256, extents = mib / 2;
  xen_pfn_t *extent_pfns = calloc(extents, sizeof *extent_pfns);
  xen_pfn_t *pfns = calloc(pages, sizeof *pfns);
  int *errs = calloc(pages, sizeof *errs);
  double *create = calloc(runs, sizeof(double)), *populate = calloc(runs, sizeof(double));
  double *mapwrite = calloc(runs, sizeof(double)), *destroy = calloc(runs, sizeof(double));
  double *total = calloc(runs, sizeof(double));
  if (!extent_pfns || !pfns || !errs || !create || !populate || !mapwrite || !destroy || !total) die("calloc");
  for (size_t i = 0; i < extents; i++) extent_pfns[i] = i * 512;
  for (size_t i = 0; i < pages; i++) pfns[i] = i;

  for (int r = 0; r < runs; r++) {
    struct xen_domctl_createdomain cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap;
    cfg.max_vcpus = 1;
    cfg.max_evtchn_port = 1023;
    cfg.max_grant_frames = -1;
    cfg.max_maptrack_frames = -1;
    cfg.grant_opts = XEN_DOMCTL_GRANT_version(1);
    cfg.arch.emulation_flags = XEN_X86_EMU_LAPIC;
    uint32_t domid = 0;
    uint64_t t0 = now_ns();
    if (xc_domain_create(xc, &domid, &cfg) < 0) die("xc_domain_create");
    if (xc_domain_max_vcpus(xc, domid, 1) < 0) goto fail;
    uint64_t t1 = now_ns();
    if (xc_domain_setmaxmem(xc, domid, mib * 1024 + 1024) < 0) goto fail;
    if (xc_domain_populate_physmap_exact(xc, domid, extents, 9, 0, extent_pfns) != 0) goto fail;
    uint64_t t2 = now_ns();
    void *ram = xenforeignmemory_map(fmem, domid, PROT_READ | PROT_WRITE, pages, pfns, errs);
    if (!ram) goto fail;
    for (size_t i = 0; i < pages; i++) ((volatile char *)ram)[i * 4096] = 1;
    xenforeignmemory_unmap(fmem, ram, pages);
    uint64_t t3 = now_ns();
    if (xc_domain_destroy(xc, domid) < 0) die("xc_domain_destroy");
    uint64_t t4 = now_ns();
    create[r] = (t1 - t0) / 1e3;
    populate[r] = (t2 - t1) / 1e3;
    mapwrite[r] = (t3 - t2) / 1e3;
    destroy[r] = (t4 - t3) / 1e3;
    total[r] = (t4 - t0) / 1e3;
    continue;
  fail:
    fprintf(stderr, "xen-create-baseline: run %d: %s\n", r, strerror(errno));
    xc_domain_destroy(xc, domid);
    return 1;
  }
  printf("{\"createUs\": %.1f, \"populateUs\": %.1f, \"mapWriteUs\": %.1f, \"destroyUs\": %.1f, \"totalUs\": %.1f, \"runs\": %d}\n",
         median(create, runs), median(populate, runs), median(mapwrite, runs), median(destroy, runs), median(total, runs), runs);
  xenforeignmemory_close(fmem);
  xc_interface_close(xc);
  return 0;
}
