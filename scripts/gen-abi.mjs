#!/usr/bin/env node
// Generates the C/C++ view of hypercalls/abi.json (the single source of truth of the
// guest/monitor ABI). Run by CMake at configure and whenever abi.json changes.
// Usage: node scripts/gen-abi.mjs <abi.json> <out.h>
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { emitAbiExtras } from './gen-abi-extras.mjs';

const [src, out] = process.argv.slice(2);
if (!src || !out) {
  console.error('usage: gen-abi.mjs <abi.json> <out.h>');
  process.exit(2);
}
const abi = JSON.parse(readFileSync(src, 'utf8'));
const hex = (n) => '0x' + BigInt(n).toString(16);
const sizes = { u32: 4, u64: 8 };
const ctype = { u32: 'uint32_t', u64: 'uint64_t' };

const lines = [];
const emit = (s = '') => lines.push(s);
emit('/* GENERATED from hypercalls/abi.json by scripts/gen-abi.mjs. Do not edit. */');
emit('#ifndef PVM_ABI_H');
emit('#define PVM_ABI_H');
emit('/* Usable from C, C++ and assembler (.S): constants are plain numbers there. */');
emit('#ifdef __ASSEMBLER__');
emit('#define PVM_U64(x) x');
emit('#else');
emit('#include <stdint.h>');
emit('#define PVM_U64(x) x##ULL');
emit('#endif');
emit('');
emit(`#define PVM_ABI_VERSION ${abi.version}`);
emit(`/* ${abi.abiNote.doc} */`);
emit(`#define PVM_ABI_NOTE_NAME "${abi.abiNote.NAME}"`);
emit(`#define PVM_ABI_NOTE_TYPE ${abi.abiNote.TYPE}`);
const hc = abi.hypercall;
emit(`/* ${hc.doc} */`);
emit(`#define PVM_HC_PORT ${hex(hc.port)}`);
emit('/* The exception stubs of the monitor\'s IDT write here (see layout). */');
emit(`#define PVM_FAULT_PORT ${hex(hc.faultPort)}`);
emit('/* The bench floor: a write here is answered with no work. */');
emit(`#define PVM_HC_FLOOR_PORT ${hex(hc.floorPort)}`);
emit(`/* ${hc.valueDoc} */`);
emit(`#define PVM_HC_BLOCK_GPA PVM_U64(${hex(hc.BLOCK_GPA)})`);
emit(`#define PVM_HC_BLOCK_STRIDE ${hc.BLOCK_STRIDE}`);
emit(`#define PVM_HC_MAX_ARGS ${hc.MAX_ARGS}`);
emit('');
for (const h of abi.hypercalls) {
  emit(`/* ${h.doc} args: (${h.args.join(', ')}) */`);
  emit(`#define PVM_HC_${h.name} ${h.nr}`);
}
emit('/* X-macro over every hypercall: X(NAME, nr, nargs) */');
emit('#define PVM_HYPERCALL_LIST(X) \\');
emit(abi.hypercalls.map((h) => `  X(${h.name}, ${h.nr}, ${h.args.length})`).join(' \\\n'));
emit('');
for (const e of abi.errors) emit(`#define PVM_${e.name} ${e.value} /* ${e.doc} */`);
emit('/* X-macro over every error: X(NAME, value) */');
emit('#define PVM_ERROR_LIST(X) \\');
emit(abi.errors.map((e) => `  X(${e.name}, ${e.value})`).join(' \\\n'));
emit('');
emit(`/* ${abi.layout.doc} */`);
for (const [k, v] of Object.entries(abi.layout)) {
  if (k === 'doc') continue;
  emit(`#define PVM_${k} PVM_U64(${hex(v)})`);
}
emit('');
// A C struct from a list of naturally aligned fields, with a size check and offsets.
function emitStruct(name, prefix, doc, fields) {
  emit(`/* ${doc} */`);
  emit('#ifndef __ASSEMBLER__');
  emit(`struct ${name} {`);
  let off = 0;
  const offsets = [];
  for (const f of fields) {
    if (off % sizes[f.type]) throw new Error(`${name}.${f.name} misaligned`);
    // `count`: an array of that many elements (offset = its first).
    const array = f.count ? `[${f.count}]` : '';
    emit(`  ${ctype[f.type]} ${f.name}${array}; /* offset ${off} */`);
    offsets.push(`#define ${prefix}_${f.name.toUpperCase()}_OFFSET ${off}`);
    off += sizes[f.type] * (f.count ?? 1);
  }
  emit('};');
  emit(`#define ${prefix}_STRUCT_SIZE ${off}`);
  emit('#ifdef __cplusplus');
  emit(`static_assert(sizeof(struct ${name}) == ${prefix}_STRUCT_SIZE, "${name} layout");`);
  emit('#else');
  emit(`_Static_assert(sizeof(struct ${name}) == ${prefix}_STRUCT_SIZE, "${name} layout");`);
  emit('#endif');
  emit('#endif /* !__ASSEMBLER__ */');
  for (const o of offsets) emit(o);
  return off;
}

emit(`/* ${abi.signals.doc} */`);
for (const [k, v] of Object.entries(abi.signals)) {
  if (k !== 'doc') emit(`#define PVM_SIG${k} ${v}`);
}
emit('');
emit(`/* ${abi.bootFlags.doc} */`);
for (const [k, v] of Object.entries(abi.bootFlags)) {
  if (k !== 'doc') emit(`#define PVM_BOOT_FLAG_${k} ${v}u`);
}
emit('');
emitStruct('pvm_boot_info', 'PVM_BOOT_INFO', abi.bootInfo.doc, abi.bootInfo.fields);
emit('');
const blockSize = emitStruct('pvm_hc_block', 'PVM_HC_BLOCK', hc.block.doc, hc.block.fields);
checkTransport(blockSize);
emit('');
const ch = abi.channel;
emit(`/* ${ch.doc} */`);
for (const [k, v] of Object.entries(ch)) {
  if (k === 'doc' || k === 'entry') continue;
  emit(`#define PVM_CHANNEL_${k} PVM_U64(${hex(v)})`);
}
const entrySize = emitStruct('pvm_channel_entry', 'PVM_CHANNEL_ENTRY', ch.entry.doc, ch.entry.fields);
if (ch.TABLE_GPA + ch.SLOTS * entrySize > abi.layout.BOOT_INFO_GPA + abi.layout.BOOT_INFO_SIZE) {
  throw new Error('the channel table does not fit the boot-info page');
}
if (ch.HEADER_SIZE + 2 * ch.RING_SIZE !== ch.SIZE || ch.SIZE > ch.SLOT_SIZE) throw new Error('channel sizes');
if (ch.WINDOW_GPA < abi.layout.MAX_RAM) throw new Error('the channel window overlaps RAM');
emit('');
emitAbiExtras(abi, emit);
emit('');
emit('#endif /* PVM_ABI_H */');

// The transport's numbers must agree with each other and with the layout: three
// distinct ports, an argument block in a page of its own between the console ring and
// the image, at or above 64 KiB (a process cannot map lower: the process backend).
function checkTransport(blockSize) {
  const L = abi.layout;
  if (new Set([hc.port, hc.faultPort, hc.floorPort]).size !== 3) throw new Error('hypercall ports must differ');
  if (blockSize > hc.BLOCK_STRIDE) throw new Error('the hypercall block is larger than BLOCK_STRIDE');
  const args = hc.block.fields.find((f) => f.name === 'args');
  if (!args || args.count !== hc.MAX_ARGS) throw new Error('block.args must have MAX_ARGS elements');
  const page = Math.floor(hc.BLOCK_GPA / L.PAGE_SIZE);
  if (hc.BLOCK_GPA % hc.BLOCK_STRIDE || (hc.BLOCK_GPA % L.PAGE_SIZE) + hc.BLOCK_STRIDE > L.PAGE_SIZE) {
    throw new Error('the hypercall block must be aligned and inside one page');
  }
  if (hc.BLOCK_GPA < 0x10000 || hc.BLOCK_GPA < L.CONSOLE_GPA + L.CONSOLE_SIZE || hc.BLOCK_GPA + hc.BLOCK_STRIDE > L.IMAGE_BASE) {
    throw new Error('the hypercall block must lie between the console ring and the image');
  }
}

// keep mtime when unchanged: no needless rebuilds
function writeIfChanged(path, text) {
  mkdirSync(dirname(path), { recursive: true });
  let old = '';
  try { old = readFileSync(path, 'utf8'); } catch {}
  if (old !== text) writeFileSync(path, text);
}
writeIfChanged(out, lines.join('\n') + '\n');

// The guest libc's errno values for the ABI's errors (hypercalls/include/errno.h).
const errnoLines = [
  '/* GENERATED from hypercalls/abi.json by scripts/gen-abi.mjs. Do not edit. */',
  '#ifndef PVM_ERRNO_VALUES_H',
  '#define PVM_ERRNO_VALUES_H',
  ...abi.errors.map((e) => `#define ${e.name} ${e.value} /* ${e.doc} */`),
  '#endif',
];
writeIfChanged(join(dirname(out), 'errno_values.h'), errnoLines.join('\n') + '\n');
