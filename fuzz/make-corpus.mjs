#!/usr/bin/env node
// Writes the seed corpus fuzz/corpus/<harness>/ (committed; run again after changing an
// input format in a harness): small well-formed inputs that get each harness past its
// first checks, so the fuzzer starts from the interesting paths. The input formats are
// documented at the top of each fuzz_<name>.cc; constants come from hypercalls/abi.json.
//
//   node fuzz/make-corpus.mjs [--guest build/guests/exitcode.pvm]
//
// --guest adds a real guest image (stripped with `strip`) to the ELF seeds.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const abi = JSON.parse(readFileSync(join(root, 'hypercalls/abi.json'), 'utf8'));
const L = abi.layout;
const HC = Object.fromEntries(abi.hypercalls.map((h) => [h.name, h.nr]));
const PAGE = L.PAGE_SIZE;
const BASE = L.IMAGE_BASE;

// ---- little-endian byte building ---------------------------------------------------
const u8 = (v) => Buffer.from([v & 0xff]);
const u16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v))); return b; };
const cat = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));

// ---- ELF images -----------------------------------------------------------------------
const PT_LOAD = 1, PT_DYNAMIC = 2, PT_INTERP = 3, PT_NOTE = 4, PT_GNU_STACK = 0x6474e551;
const PF_X = 1, PF_W = 2, PF_R = 4;

// The pvm ABI note (abi.json "abiNote") every image must carry: namesz, descsz, type,
// name, desc = the ABI version.
const abiNote = () => cat(u32(4), u32(4), u32(abi.abiNote.TYPE), `${abi.abiNote.NAME}\0`, u32(abi.version));

// An ELF64 x86-64 image: segments [{ type, flags, offset, vaddr, filesz, memsz }], file
// `size` bytes, `fill` [{ offset, bytes }] written over the zeros. Unless `note` is
// false, a PT_NOTE segment over the file's last bytes holds the pvm ABI note, so the
// image gets past the ABI check to what the seed is about.
function elf({ entry, segments, size, type = 2, machine = 62, fill = [], note = true }) {
  if (note) {
    const bytes = abiNote();
    segments = [...segments, { type: PT_NOTE, flags: PF_R, offset: size - bytes.length, filesz: bytes.length }];
    fill = [...fill, { offset: size - bytes.length, bytes }];
  }
  const image = Buffer.alloc(size);
  const ident = cat('\x7fELF', u8(2), u8(1), u8(1), Buffer.alloc(9));
  cat(ident, u16(type), u16(machine), u32(1), u64(entry), u64(64), u64(0), u32(0), u16(64), u16(56),
      u16(segments.length), u16(0), u16(0), u16(0)).copy(image, 0);
  segments.forEach((s, i) => {
    cat(u32(s.type ?? PT_LOAD), u32(s.flags ?? PF_R), u64(s.offset ?? 0), u64(s.vaddr ?? 0), u64(s.vaddr ?? 0),
        u64(s.filesz ?? 0), u64(s.memsz ?? s.filesz ?? 0), u64(PAGE)).copy(image, 64 + 56 * i);
  });
  for (const f of fill) f.bytes.copy(image, f.offset);
  return image;
}

// The smallest useful image: one R+X segment of two pages at the image base.
const tinyElf = () => elf({
  entry: BASE + 0x100, size: 2 * PAGE,
  segments: [{ flags: PF_R | PF_X, offset: 0, vaddr: BASE, filesz: 2 * PAGE }],
  fill: [{ offset: 0x100, bytes: Buffer.from([0xf4]) }],
});

// What a linker makes of a small guest: text, rodata, data + bss, and the usual extras.
const threeSegments = () => elf({
  entry: BASE + PAGE, size: 4 * PAGE,
  segments: [
    { flags: PF_R | PF_X, offset: PAGE, vaddr: BASE, filesz: PAGE + 0x123 },
    { flags: PF_R, offset: 3 * PAGE, vaddr: BASE + 2 * PAGE, filesz: 0x478 },
    { flags: PF_R | PF_W, offset: 3 * PAGE + 0x478, vaddr: BASE + 3 * PAGE + 0x478, filesz: 0x88, memsz: 0x3000 },
    { type: PT_GNU_STACK, flags: PF_R | PF_W },
    { type: PT_NOTE, flags: PF_R, offset: 0x100, filesz: 0x20 },
  ],
});

// ---- ELF harness seeds: [RAM selector] [argument selector] [image] ---------------------
function elfSeeds() {
  const seeds = {
    'tiny-4mib': cat(u8(0), u8(2), tinyElf()),
    'three-segments-6mib': cat(u8(1), u8(3), threeSegments()),
    // Read-only segments that share a page with the next (the shareable pages get cut).
    'shared-pages': cat(u8(2), u8(1), elf({
      entry: BASE, size: 5 * PAGE,
      segments: [
        { flags: PF_R | PF_X, offset: 0, vaddr: BASE, filesz: 2 * PAGE + 0x800 },
        { flags: PF_R, offset: 2 * PAGE + 0x800, vaddr: BASE + 2 * PAGE + 0x800, filesz: 2 * PAGE },
        { flags: PF_R | PF_W, offset: 4 * PAGE + 0x800, vaddr: BASE + 4 * PAGE + 0x800, filesz: 0x100, memsz: 0x100 },
      ],
    })),
    // File offset and address not congruent mod the page size: loaded, not shareable.
    'unaligned-offset': cat(u8(0), u8(1), elf({
      entry: BASE + 0x10, size: 2 * PAGE,
      segments: [{ flags: PF_R | PF_X, offset: 0x40, vaddr: BASE, filesz: PAGE }],
    })),
    // bss up to the stack exactly (fits), and one byte more (ImageTooLarge).
    'bss-to-stack': cat(u8(0), u8(0), elf({
      entry: BASE, size: PAGE,
      segments: [{ flags: PF_R | PF_X | PF_W, offset: 0, vaddr: BASE, filesz: PAGE, memsz: L.MIN_RAM - L.STACK_SIZE - BASE }],
    })),
    'bss-past-stack': cat(u8(0), u8(0), elf({
      entry: BASE, size: PAGE,
      segments: [{ flags: PF_R | PF_X, offset: 0, vaddr: BASE, filesz: PAGE, memsz: L.MIN_RAM - L.STACK_SIZE - BASE + 1 }],
    })),
    // Arguments that fill the args area exactly, and one byte too many.
    'args-fill': cat(u8(0), u8(0x0f), tinyElf()),
    'args-overflow': cat(u8(0), u8(0x1f), tinyElf()),
    // RAM that is not whole 2 MiB pages: the loader takes it, the boot set-up refuses.
    'odd-ram': cat(u8(0xc1), u8(1), tinyElf()),
    // Refused: interpreter, dynamic, PIE, truncated program header table.
    'pt-interp': cat(u8(0), u8(0), elf({
      entry: BASE, size: PAGE,
      segments: [{ type: PT_INTERP, offset: 0x200, filesz: 0x10 }, { flags: PF_R | PF_X, offset: 0, vaddr: BASE, filesz: PAGE }],
    })),
    'pt-dynamic': cat(u8(0), u8(0), elf({
      entry: BASE, size: PAGE,
      segments: [{ flags: PF_R | PF_X, offset: 0, vaddr: BASE, filesz: PAGE }, { type: PT_DYNAMIC, offset: 0x200, filesz: 0x10 }],
    })),
    'et-dyn': cat(u8(0), u8(0), elf({
      entry: BASE, size: PAGE, type: 3, segments: [{ flags: PF_R | PF_X, offset: 0, vaddr: BASE, filesz: PAGE }],
    })),
    'truncated-phdrs': cat(u8(0), u8(0), tinyElf().subarray(0, 64 + 20)),
    // Well formed, but no pvm ABI note, or one of another version (AbiMismatch).
    'no-abi-note': cat(u8(0), u8(2), elf({
      entry: BASE + 0x100, size: 2 * PAGE, note: false,
      segments: [{ flags: PF_R | PF_X, offset: 0, vaddr: BASE, filesz: 2 * PAGE }],
    })),
    'old-abi-note': cat(u8(0), u8(2), elf({
      entry: BASE + 0x100, size: 2 * PAGE, note: false,
      segments: [
        { flags: PF_R | PF_X, offset: 0, vaddr: BASE, filesz: 2 * PAGE },
        { type: PT_NOTE, flags: PF_R, offset: 0x200, filesz: 20 },
      ],
      fill: [{ offset: 0x200, bytes: cat(abiNote().subarray(0, 16), u32(abi.version - 1)) }],
    })),
  };
  return seeds;
}

function guestSeed(path) {
  const dir = join(tmpdir(), `pvm-corpus-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'guest');
  execFileSync('strip', ['-o', out, path]);
  const image = readFileSync(out);
  rmSync(dir, { recursive: true, force: true });
  return cat(u8(0), u8(3), image);
}

// ---- control harness seeds: [mode] ([spec] [length u16] [bytes])... ------------------------
// spec: fd count (bits 0-3), first fd kind (bits 4-5: 0 image memfd, 1 channel memfd,
// 2 eventfd, 3 /dev/null), 64 KiB padding (bit 6), all fds of that one kind (bit 7).
// mode: 0 framing, 1 Boot, 2 requests, 3 exec answer (+4: long args), 8 to the Poller.
const T = {
  Boot: 1, Fork: 2, Attach: 3, ExecImage: 4, Exec: 5,
  Ready: 100, Started: 101, Console: 102, Exit: 103, Error: 104, Forked: 105, Attached: 106,
  ExecRequest: 107, Execed: 108, Spare: 109,
};
const message = (type, body) => cat(u32(type), u32(body.length), body);
const chunk = (spec, bytes) => cat(u8(spec), u16(bytes.length), bytes);
const fds = (count, firstKind = 0) => count | (firstKind << 4);
const sameFds = (count, kind) => count | (kind << 4) | 0x80;
const EVENTFD = 2;
const strings = (...s) => cat(...s.map((x) => x + '\0'));

const boot = (argc, tail, flags = 0) =>
  message(T.Boot, cat(u64(2), u64(1), u64(64 << 20), u64(123), u32(argc), u32(flags), tail));
const fork = (tag) => message(T.Fork, u64(tag));
const attach = (tag, peer, side, flags) => message(T.Attach, cat(u64(tag), u64(peer), u32(side), u32(flags)));
const exec = (tag, ram, args) => message(T.Exec, cat(u64(tag), u64(ram), u32(args.length), u32(0), strings(...args)));
const execImage = (error) => message(T.ExecImage, u64(error));
// Monitor -> host.
const forked = ({ tag = 0, error = 0, child = 9, hostChannel = 0 }) => message(T.Forked,
  cat(u64(tag), u64(error), u64(child), u64(4242), u64(1), u64(2), u32(0), u32(hostChannel), u32(0), u32(1), u64(0)));
const exitMessage = () => message(T.Exit, cat(u32(0), u32(3), u32(0), u32(0xffffffff), u64(0), u64(BASE), u64(0),
  u64(5), Buffer.alloc(160)));

function controlSeeds() {
  return {
    // mode 0: ctl::receive framing.
    'receive-mixed': cat(u8(0),
      chunk(fds(2), boot(2, strings('hello', 'world'))),
      chunk(0, message(T.Console, Buffer.from('console bytes'))),
      chunk(0, cat(u32(T.Fork), u32(100), u64(1))),  // size says more than there is
      chunk(0, Buffer.from([1, 0, 0])),               // shorter than a header
      chunk(fds(1, 3), fork(7)),
      chunk(fds(9), fork(8)),                         // more fds than a message takes
      chunk(0x40, message(T.Console, Buffer.alloc(0))),  // past kMaxMessage
      chunk(0, Buffer.alloc(0))),                     // end of stream
    // mode 1: the Boot message.
    'boot-two-args': cat(u8(1), chunk(fds(2), boot(2, strings('a', 'bc')))),
    'boot-no-args-spares': cat(u8(1), chunk(fds(2, 1), boot(0, Buffer.alloc(0), 2))),
    'boot-argc-mismatch': cat(u8(1), chunk(fds(2), boot(3, strings('a', 'bc')))),
    'boot-one-fd': cat(u8(1), chunk(fds(1), boot(1, strings('x')))),
    'boot-wrong-type': cat(u8(1), chunk(fds(2), fork(1))),
    // mode 2: requests to a running pVM.
    'poll-requests': cat(u8(2),
      chunk(0, fork(11)),
      chunk(fds(1, 1), attach(12, 0, 1, 1)),           // shared memory: one memfd
      chunk(fds(3, 1), attach(13, 5, 0, 0)),           // channel: memfd, two doorbells
      chunk(fds(4, 1), attach(14, 5, 1, 0)),           // and the peer's pidfd
      chunk(fds(1), exec(15, 8 << 20, ['img', 'arg1'])),
      chunk(fds(1), fork(16)),                         // a fork with an fd: dropped
      chunk(0, exec(17, 0, ['no fd']))),               // an exec without one: dropped
    // mode 3: the host's answer to a guest's EXEC (the harness adds a refusal last).
    'exec-image': cat(u8(3), chunk(0, fork(21)), chunk(fds(1), execImage(0))),
    'exec-refused': cat(u8(3), chunk(0, execImage(-2))),
    'exec-no-fd': cat(u8(3), chunk(0, execImage(0))),
    'exec-long-args': cat(u8(7), chunk(fds(1), execImage(0))),
    // mode 8: what a monitor sends, as the addon's Poller takes it.
    'poller-life': cat(u8(8),
      chunk(0, message(T.Ready, cat(u64(77), u64(1), u64(2), Buffer.from('kvm'.padEnd(16, '\0')), u32(1), u32(0)))),
      chunk(0, message(T.Started, u64(3))),
      chunk(0, message(T.Console, Buffer.from('hello\n'))),
      chunk(0, message(T.ExecRequest, cat(u64(0), u32(1), u32(0), strings('/next', 'arg')))),
      chunk(0, message(T.Execed, cat(u64(0), u64(0), u32(0), u32(0), u64(1), u64(2)))),
      chunk(0, message(T.Attached, cat(u64(5), u64(0), u32(2), u32(0)))),
      chunk(0, message(T.Spare, u64(0))),
      chunk(0, exitMessage())),
    'poller-forks': cat(u8(8),
      chunk(sameFds(2, EVENTFD), forked({ tag: 0, child: 9 })),               // a guest's fork: adopted
      chunk(sameFds(5, EVENTFD), forked({ tag: 3, child: 10, hostChannel: 1 })),  // a host fork
      chunk(sameFds(2, EVENTFD), forked({ child: 9 })),                         // the same child id again
      chunk(fds(2), forked({ child: 11 })),                                     // fds the Poller cannot watch
      chunk(fds(1, EVENTFD), forked({ error: -12 })),                           // a failed fork with an fd
      chunk(0, Buffer.from([5])),                                               // malformed
      chunk(0, message(T.Error, cat(u32(1), u32(0), Buffer.from('bad image'))))),
    'poller-hangup': cat(u8(8), chunk(0, message(T.Spare, u64(1))), chunk(0, Buffer.alloc(0)),
      chunk(0, message(T.Spare, u64(2)))),
  };
}

// ---- hypercall harness seeds: [setup] [family] [data length u16] [data] [op]... ----------
// op < 0x80: hypercall nr = op & 15, bit 4: a signal arrives (then a byte), bit 5: the
// console head moves (then an arg); then [arg spec: 2 bits each] [args].
// arg spec 0: a byte, 1: IMAGE_BASE + u16, 2: a u64, 3: an index into the edge values.
const A = {
  byte: (v) => ({ spec: 0, bytes: u8(v) }),
  data: (off) => ({ spec: 1, bytes: u16(off) }),
  raw: (v) => ({ spec: 2, bytes: u64(v) }),
};
function hc(nr, args = [], { signal, console } = {}) {
  const all = [...args, A.byte(0), A.byte(0), A.byte(0)].slice(0, 3);
  const op = nr | (signal !== undefined ? 0x10 : 0) | (console ? 0x20 : 0);
  const pre = [u8(op)];
  if (signal !== undefined) pre.push(u8(signal));
  if (console) pre.push(u8(console.spec), console.bytes);
  const spec = all[0].spec | (all[1].spec << 2) | (all[2].spec << 4);
  return cat(...pre, u8(spec), ...all.map((a) => a.bytes));
}
const poke = (arg, bytes) => cat(u8(0x80), u8(arg.spec), arg.bytes, u8(bytes.length), bytes);
// A fault exit of kind 0 exception, 1 triple fault, 2 I/O, 3 MMIO, 4 halt, 5 internal:
// [spec] [rip] [vector] [error code] [cr2] [port u16] [size] [detail length] [detail];
// spec bits 0-1: how rip is given, 2: vector is a u32, 3: vector known, 4: has an error
// code, 5 and 6-7: how the error code and cr2 are given, 7: a write.
const fault = (kind, spec, ...rest) => cat(u8(0xc0 | kind), u8(spec), ...rest);
const hcSeed = (setup, family, data, ...ops) => cat(u8(setup), u8(family), u16(data.length), data, ...ops);

function hypercallSeeds() {
  // Guest data at IMAGE_BASE: a path, an argv array, and the WAIT slot list.
  const path = 0, argvAt = 0x40, slotsAt = 0x80, statusAt = 0xc0;
  const data = Buffer.alloc(0x100);
  Buffer.from('/guests/next.pvm\0', 'latin1').copy(data, path);
  Buffer.from('one\0two\0', 'latin1').copy(data, 0x20);
  cat(u64(BASE + 0x20), u64(BASE + 0x24), u64(0)).copy(data, argvAt);
  cat(u32(0), u32(1), u32(2)).copy(data, slotsAt);
  // EXEC's answer byte: 0 a refusal (then the errno byte), 1 the harness's tiny image,
  // 2 the guest's data as the image, 3 a raw error (then 8 bytes); bit 2: a fork and an
  // attach request first, bit 3: a malformed datagram first.
  const execCall = (answer, ...extra) =>
    cat(hc(HC.EXEC, [A.data(path), A.data(argvAt), A.byte(0)]), u8(answer), ...extra);
  return {
    'basics': hcSeed(0, 0, Buffer.alloc(0),
      hc(HC.GETID), hc(HC.TIME), hc(HC.CONSOLE_FLUSH, [], { console: A.byte(12) }),
      hc(HC.SIGNALS, [], { signal: 10 }), hc(HC.EXIT, [A.byte(42)])),
    'channels': hcSeed(3 | 8, 0, data,
      hc(HC.NOTIFY, [A.byte(0)]), hc(HC.WAIT, [A.data(slotsAt), A.byte(3), A.byte(0)]),
      hc(HC.NOTIFY, [A.byte(1)]), hc(HC.WAIT, [A.data(slotsAt), A.byte(2), A.byte(0)]),
      hc(HC.CLOSE, [A.byte(1)]), hc(HC.WAIT, [A.data(slotsAt), A.byte(2), A.byte(0)]),
      hc(HC.SHM_CREATE, [A.raw(3 * PAGE)]), hc(HC.CLOSE, [A.byte(1)]), hc(HC.NOTIFY, [A.byte(7)])),
    'crashed-peer': hcSeed(2 | 4 | 0x10, 0, data, hc(HC.WAIT, [A.data(slotsAt), A.byte(2), A.byte(0)]),
      hc(HC.NOTIFY, [A.byte(0)])),
    'family': hcSeed(0, 1 | 2 | 8, data,
      hc(HC.KILL, [A.byte(3), A.byte(15)]), hc(HC.KILL, [A.byte(6), A.byte(10)]),
      hc(HC.KILL, [A.byte(8), A.byte(9)]), hc(HC.KILL, [A.byte(3), A.byte(5)]),
      hc(HC.WAITPID, [A.byte(4), A.data(statusAt)]), hc(HC.WAITPID, [A.byte(0), A.byte(0)]),
      hc(HC.WAITPID, [A.byte(0), A.byte(0)])),
    'family-crashed-child': hcSeed(0, 4, data, hc(HC.WAITPID, [A.byte(0), A.data(statusAt)]),
      hc(HC.WAITPID, [A.byte(7), A.byte(0)])),
    'exec-tiny': hcSeed(1, 0, data, execCall(1), hc(HC.GETID)),
    'exec-refused': hcSeed(0, 0, data, execCall(0, u8(2)), execCall(3, u64(-22))),
    'exec-with-requests': hcSeed(0x10, 0, data, execCall(1 | 4 | 8), hc(HC.WAIT, [A.byte(0), A.byte(0), A.byte(0)])),
    // The guest's data is the image EXEC gets; its path is the image's first bytes.
    'exec-guest-image': hcSeed(0, 0, tinyElf(),
      hc(HC.EXEC, [A.data(0), A.byte(0), A.byte(0)]), u8(2), hc(HC.GETID)),
    // The host attaches regions and channels (main.cc's ServeHost), good and bad ones,
    // which the guest then uses. HostAttach: [spec] [size selector: 0 a page, 1 a channel,
    // 2 a slot, 3 a slot + a page, ...].
    'host-attach': hcSeed(0, 0, data,
      cat(u8(0xc6), u8(0), u8(0)), cat(u8(0xc6), u8(1), u8(0)), cat(u8(0xc6), u8(0), u8(3)),
      cat(u8(0xc7), u8(0), u8(1)), cat(u8(0xc7), u8(4 | 8), u8(1)), cat(u8(0xc7), u8(8 | 16), u8(1)),
      cat(u8(0xc7), u8(0), u8(0)), cat(u8(0xc7), u8(2), u8(1)),
      hc(HC.NOTIFY, [A.byte(1)]), hc(HC.WAIT, [A.data(slotsAt), A.byte(3), A.byte(0)]), hc(HC.CLOSE, [A.byte(0)]),
      execCall(1), hc(HC.CLOSE, [A.byte(1)])),
    'poke-and-faults': hcSeed(0, 0, data,
      poke(A.data(0x10), Buffer.from('written')),
      fault(0, 0x19, u16(0x10), u8(14), u8(2), u8(0), u16(0), u8(0), u8(0)),          // #PF in the image
      fault(1, 0x08, u8(0), u8(13), u8(0), u8(0), u16(0), u8(0), u8(0)),
      fault(2, 0x80, u8(0), u8(0), u8(0), u8(0), u16(0x3f8), u8(1), u8(0)),            // out to a COM port
      fault(3, 0x80, u8(0), u8(0), u8(0), u64(0x500000000), u16(0), u8(8), u8(0)),     // write past RAM
      fault(5, 0x00, u8(0), u8(0), u8(0), u8(0), u16(0), u8(0), u8(4), Buffer.from('oops'))),
  };
}

// ---- process backend decoding (fuzz_process.cc) -----------------------------------------
function processSeeds() {
  const SEGV = 0, BUS = 1, FPE = 3, SYS = 5;
  const SI_KERNEL = 0x80;
  const HCP = abi.hypercall.port, FLOOR = abi.hypercall.floorPort, BLOCK = abi.hypercall.BLOCK_GPA;
  // [signal] [si_code] [trapno] [err u16] [addr u64] [rax u32] [rdx u16] [syscall u16]
  // [rip offset] [call value u64] [call port u16] [guest bytes]
  const seed = ({ sig = SEGV, code = SI_KERNEL, trapno = 13, err = 0, addr = 0, rax = 0, rdx = 0, nr = 0, rip = 0,
    value = BLOCK, port = HCP }, bytes) =>
    cat(u8(sig), u8(code), u8(trapno), u16(err), u64(addr), u32(rax), u16(rdx), u16(nr), u8(rip), u64(value), u16(port),
      Buffer.from(bytes));
  return {
    'out-doorbell': seed({ rax: BLOCK }, [0xe7, HCP, 0x90]),
    'out-doorbell-16bit': seed({ rax: BLOCK }, [0x66, 0xe7, HCP]),
    'out-dx-floor': seed({ rdx: FLOOR, port: FLOOR, value: 0 }, [0xef]),
    'in-com-port': seed({ value: 1n << 40n }, [0xe4, 0x60]),
    'hlt': seed({ port: 0x3f8 }, [0xf4, 0xf4]),
    'prefix-at-end': seed({}, [0x90, 0x66]),
    'null-read': seed({ code: 1, trapno: 14, err: 4 }, [0x8b, 0x00]),
    'guard-write': seed({ code: 2, trapno: 14, err: 6, addr: 0xf00000 }, [0x89, 0x00]),
    'raw-syscall': seed({ sig: SYS, code: 1, nr: 39, rip: 2 }, [0x0f, 0x05]),
    'div0': seed({ sig: FPE, code: 1, trapno: 0 }, [0xf7, 0xf1]),
    'alignment': seed({ sig: BUS, code: 0x80, trapno: 17 }, [0x8b, 0x01]),
    'outside-guest': seed({ rip: 200 }, [0xe7, HCP]),
  };
}

// ---- write ------------------------------------------------------------------------------
function write(name, seeds) {
  const dir = join(root, 'fuzz/corpus', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [file, bytes] of Object.entries(seeds)) writeFileSync(join(dir, file), bytes);
  console.log(`fuzz/corpus/${name}: ${Object.keys(seeds).length} seeds`);
}

const guestAt = process.argv.indexOf('--guest');
const elfs = elfSeeds();
if (guestAt > 0) elfs['guest-stripped'] = guestSeed(process.argv[guestAt + 1]);
write('elf', elfs);
write('control', controlSeeds());
write('process', processSeeds());
write('hypercall', hypercallSeeds());
