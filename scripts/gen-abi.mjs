#!/usr/bin/env node
// Generates the C/C++ view of hypercalls/abi.json (the single source of truth of the
// guest/monitor ABI). Run by CMake at configure and whenever abi.json changes.
// Usage: node scripts/gen-abi.mjs <abi.json> <out.h>
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

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
emit(`/* ${abi.hypercall.doc} */`);
emit(`#define PVM_HC_PORT ${hex(abi.hypercall.port)}`);
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
emit(`/* ${abi.bootInfo.doc} */`);
emit('#ifndef __ASSEMBLER__');
emit('struct pvm_boot_info {');
let off = 0;
const offsets = [];
for (const f of abi.bootInfo.fields) {
  if (off % sizes[f.type]) throw new Error(`boot-info field ${f.name} misaligned`);
  emit(`  ${ctype[f.type]} ${f.name}; /* offset ${off} */`);
  offsets.push(`#define PVM_BOOT_INFO_${f.name.toUpperCase()}_OFFSET ${off}`);
  off += sizes[f.type];
}
emit('};');
emit(`#define PVM_BOOT_INFO_STRUCT_SIZE ${off}`);
emit('#ifdef __cplusplus');
emit('static_assert(sizeof(struct pvm_boot_info) == PVM_BOOT_INFO_STRUCT_SIZE, "boot info layout");');
emit('#else');
emit('_Static_assert(sizeof(struct pvm_boot_info) == PVM_BOOT_INFO_STRUCT_SIZE, "boot info layout");');
emit('#endif');
emit('#endif /* !__ASSEMBLER__ */');
for (const o of offsets) emit(o);
emit('');
emit('#endif /* PVM_ABI_H */');

mkdirSync(dirname(out), { recursive: true });
const text = lines.join('\n') + '\n';
let old = '';
try { old = readFileSync(out, 'utf8'); } catch {}
if (old !== text) writeFileSync(out, text); // keep mtime when unchanged: no needless rebuilds
