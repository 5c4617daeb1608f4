#!/usr/bin/env node
// Generates every view of the host<->monitor control protocol from its one definition,
// addon/common/control.json: the C++ header (both ends), the addon's message -> JS code
// and the TypeScript tables. The outputs are committed (tsc needs the TS without a native
// build); the build and `npm run gen` rewrite them, test/generated.test.ts checks them.
// Usage: node scripts/gen-control.mjs [--check]
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = 'addon/common/control.json';
const CPP_OUT = 'addon/common/control_gen.h';
const EVENTS_OUT = 'addon/binding/events_gen.inc';
const TS_OUT = 'lib/generated/control.ts';

const ints = {
  u32: { c: 'uint32_t', size: 4 },
  i32: { c: 'int32_t', size: 4 },
  u64: { c: 'uint64_t', size: 8 },
  i64: { c: 'int64_t', size: 8 },
};

/** The generated files as { repo-relative path: text }. */
export function controlOutputs(root) {
  const def = JSON.parse(readFileSync(join(root, SOURCE), 'utf8'));
  const abi = JSON.parse(readFileSync(join(root, 'hypercalls/abi.json'), 'utf8'));
  const model = check(def, abi);
  return {
    [CPP_OUT]: cppHeader(def, model),
    [EVENTS_OUT]: eventsCode(def, model),
    [TS_OUT]: tsTables(def, model),
  };
}

// Resolves field types and layouts; throws on anything the outputs could not express.
function check(def, abi) {
  const enums = new Map(def.enums.map((e) => [e.name, e]));
  const unique = (what, list) => {
    const seen = new Set();
    for (const x of list) {
      if (seen.has(x)) throw new Error(`control.json: ${what} ${x} appears twice`);
      seen.add(x);
    }
  };
  unique('type number', def.types.map((t) => t.value));
  unique('type name', def.types.map((t) => t.name));
  unique('event', [...def.types.filter((t) => t.event).map((t) => t.event), ...def.localEvents.events.map((e) => e.event)]);
  for (const e of def.enums) unique(`${e.name} value`, e.values.map((v) => v.value));
  const structs = new Map();
  const fieldType = (t) => {
    if (t === 'Type') return { kind: 'enum', c: 'Type', size: 4 };
    if (ints[t]) return { kind: 'int', c: ints[t].c, size: ints[t].size, int: t };
    const chars = /^char\[(\d+)\]$/.exec(t);
    if (chars) return { kind: 'chars', c: 'char', size: Number(chars[1]), align: 1, length: Number(chars[1]) };
    const e = enums.get(t);
    if (e) return { kind: 'enum', c: e.plain ? 'uint32_t' : e.name, size: 4, enum: e };
    throw new Error(`control.json: unknown field type ${t}`);
  };
  for (const s of def.structs) {
    let off = 0;
    let align = 1;
    const fields = s.fields.map((f) => {
      const t = fieldType(f.type);
      const a = t.align ?? t.size;
      if (off % a) throw new Error(`control.json: ${s.name}.${f.name} is misaligned (offset ${off})`);
      const out = { ...f, t, offset: off };
      off += t.size;
      align = Math.max(align, a);
      return out;
    });
    if (off % align) throw new Error(`control.json: ${s.name} needs tail padding; add a reserved field`);
    structs.set(s.name, { ...s, fields, size: off });
  }
  for (const t of def.types) {
    if (t.struct && !structs.has(t.struct)) throw new Error(`control.json: type ${t.name} names no struct ${t.struct}`);
    if (t.event && t.from !== 'monitor') throw new Error(`control.json: only monitor messages become events (${t.name})`);
  }
  const waitKinds = abi.waitStatus?.kinds;
  for (const e of def.enums) {
    if (!e.values.some((v) => v.js === e.unknown)) throw new Error(`control.json: ${e.name}.unknown is no value's js`);
    if (e.waitKinds) {
      for (const v of e.values) {
        if (waitKinds?.[v.name.toUpperCase()] !== v.value && !(v.name === 'Code' && waitKinds?.EXIT === v.value)) {
          throw new Error(`control.json: ${e.name}.${v.name} is not abi.json waitStatus's number`);
        }
      }
    }
  }
  const abiErrors = new Map(abi.errors.map((e) => [e.name, e.value]));
  for (const name of Object.keys(def.errors.pvmErrors)) {
    if (!abiErrors.has(name)) throw new Error(`control.json: errors.pvmErrors names ${name}, not an abi.json error`);
  }
  return { structs, enums, abiErrors };
}

const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const jsName = (f) => f.jsName ?? camel(f.name);
const comment = (doc) => (doc ? `  // ${doc}` : '');

// ---- C++ ------------------------------------------------------------------------------
function cppHeader(def, { structs }) {
  const L = [];
  L.push('// GENERATED from addon/common/control.json by scripts/gen-control.mjs (npm run gen). Do not edit.');
  L.push(`// ${def.doc}`);
  L.push(`// Errors: ${def.errors.doc}`);
  L.push('#pragma once');
  L.push('');
  L.push('#include <cstddef>');
  L.push('#include <cstdint>');
  L.push('');
  L.push('#include "pvm/abi.h"');
  L.push('');
  L.push('namespace pvm::ctl {');
  L.push('');
  for (const c of def.constants) {
    L.push(`// ${c.doc}`);
    L.push(`constexpr ${c.type} ${c.name} = ${c.value > 0xffff ? '0x' + c.value.toString(16) : c.value};`);
  }
  L.push('');
  L.push('enum class Type : uint32_t {');
  for (const from of ['host', 'monitor', 'monitor-to-spare']) {
    L.push(`  // from ${from === 'monitor-to-spare' ? 'a monitor to its own warm spare (never the host)' : `the ${from}`}`);
    for (const t of def.types.filter((x) => x.from === from)) L.push(`  ${t.name} = ${t.value},${comment(t.doc)}`);
  }
  L.push('};');
  L.push('');
  for (const e of def.enums) {
    L.push(`// ${e.doc}`);
    L.push(e.plain ? 'enum : uint32_t {' : `enum class ${e.name} : uint32_t {`);
    for (const v of e.values) L.push(`  ${v.name} = ${v.value},${comment(v.doc)}`);
    L.push('};');
    if (e.waitKinds) {
      for (const v of e.values) {
        const k = v.name === 'Code' ? 'EXIT' : v.name.toUpperCase();
        L.push(`static_assert(static_cast<uint32_t>(${e.name}::${v.name}) == PVM_WAIT_${k}, "the WAITPID kind numbers");`);
      }
    }
  }
  L.push('');
  for (const f of def.flags) L.push(`constexpr uint32_t ${f.name} = ${f.value};  // ${f.field}: ${f.doc}`);
  L.push('');
  for (const s of structs.values()) {
    L.push(`// ${s.doc}`);
    L.push(`struct ${s.name} {`);
    for (const f of s.fields) {
      const decl = f.t.kind === 'chars' ? `char ${f.name}[${f.t.length}]` : `${f.t.c} ${f.name}`;
      L.push(`  ${decl};${comment(f.doc)}`);
    }
    L.push('};');
    L.push(`static_assert(sizeof(${s.name}) == ${s.size}, "${s.name} layout");`);
    for (const f of s.fields) L.push(`static_assert(offsetof(${s.name}, ${f.name}) == ${f.offset}, "${s.name} layout");`);
    L.push('');
  }
  L.push('}  // namespace pvm::ctl');
  return L.join('\n') + '\n';
}

// ---- the addon: message -> JS object ---------------------------------------------------
function eventsCode(def, { structs, enums }) {
  const L = [];
  L.push('// GENERATED from addon/common/control.json by scripts/gen-control.mjs (npm run gen). Do not edit.');
  L.push('// Included by addon/binding/events.cc only, which defines before it Big(env, u64) and an');
  L.push('// ExtraToJs(env, message, fixed struct, object) for each message with "extra" fields.');
  L.push('');
  for (const e of enums.values()) {
    const arg = e.plain ? 'uint32_t' : `ctl::${e.name}`;
    const scope = e.plain ? 'ctl::' : `ctl::${e.name}::`;
    L.push(`inline const char* ${e.name}Js(${arg} v) {`);
    L.push('  switch (v) {');
    for (const v of e.values) L.push(`    case ${scope}${v.name}: return "${v.js}";`);
    if (e.plain) L.push('    default: break;');
    L.push('  }');
    L.push(`  return "${e.unknown}";`);
    L.push('}');
    L.push('');
  }
  L.push('// Sets "type" and the fields of a monitor\'s message; false: it is malformed.');
  L.push('inline bool MessageToJs(Napi::Env env, ctl::Message& m, Napi::Object o) {');
  L.push('  switch (m.type) {');
  for (const t of def.types.filter((x) => x.event)) {
    L.push(`    case ctl::Type::${t.name}: {`);
    if (t.struct) {
      L.push(`      const auto* p = m.as<ctl::${t.struct}>();`);
      L.push('      if (!p) return false;');
      if (t.extra) L.push('      if (!ExtraToJs(env, m, *p, o)) return false;');
    }
    L.push(`      o.Set("type", "${t.event}");`);
    for (const f of t.struct ? structs.get(t.struct).fields : []) {
      if (f.js === false) continue;
      L.push(`      o.Set("${jsName(f)}", ${jsValue(f)});`);
    }
    if (t.tail?.as === 'text') L.push(`      o.Set("${t.tail.jsName}", m.tail<ctl::${t.struct}>());`);
    if (t.tail?.as === 'bytes') {
      if (t.struct) throw new Error(`control.json: ${t.name}: a bytes tail only for messages without a struct`);
      L.push(`      o.Set("${t.tail.jsName}", Napi::Buffer<uint8_t>::Copy(env, m.body.data(), m.body.size()));`);
    }
    L.push('      return true;');
    L.push('    }');
  }
  L.push('    default:');
  L.push('      return false;');
  L.push('  }');
  L.push('}');
  return L.join('\n') + '\n';
}

function jsValue(f) {
  const v = `p->${f.name}`;
  if (f.t.kind === 'chars') return `std::string(${v}, strnlen(${v}, sizeof ${v}))`;
  if (f.t.kind === 'enum') return `${f.t.enum.name}Js(${v})`;
  if (f.js === 'bigint') return `Big(env, ${v})`;
  if (f.js === 'boolean') return `Napi::Boolean::New(env, ${v} != 0)`;
  if (f.jsNone) return `Napi::Number::New(env, ${v} == ctl::${f.jsNone} ? -1.0 : static_cast<double>(${v}))`;
  return `Napi::Number::New(env, static_cast<double>(${v}))`;
}

// ---- TypeScript ------------------------------------------------------------------------
function tsTables(def, { structs, enums, abiErrors }) {
  const L = [];
  const union = (e) => e.values.map((v) => `'${v.js}'`).join(' | ');
  const tsType = (f) => {
    if (f.t.kind === 'chars') return 'string';
    if (f.t.kind === 'enum') return `${f.t.enum.name}Name`;
    return f.js === 'bigint' ? 'bigint' : f.js === 'boolean' ? 'boolean' : 'number';
  };
  L.push('// GENERATED from addon/common/control.json by scripts/gen-control.mjs (npm run gen). Do not edit.');
  L.push('/**');
  L.push(' * The control protocol as the library sees it: the events the addon hands over and the');
  L.push(' * tables that name their numbers. Internal.');
  L.push(' * @internal');
  L.push(' * @module');
  L.push(' */');
  L.push("import type { PvmErrorCode } from '../errors.js';");
  L.push('');
  for (const e of enums.values()) {
    L.push(`/** @internal ${e.doc} */`);
    L.push(`export type ${e.name}Name = ${union(e)};`);
  }
  L.push('');
  L.push('/** @internal What the addon hands over: one event per message from a monitor, or its own. */');
  L.push('export type MonitorEvent =');
  for (const t of def.types.filter((x) => x.event)) {
    const fields = ['id: number', `type: '${t.event}'`];
    for (const f of t.struct ? structs.get(t.struct).fields : []) if (f.js !== false) fields.push(`${jsName(f)}: ${tsType(f)}`);
    if (t.tail) fields.push(`${t.tail.jsName}: ${t.tail.as === 'bytes' ? 'Buffer' : 'string'}`);
    for (const [k, v] of Object.entries(t.extra ?? {})) fields.push(`${k}: ${v}`);
    L.push(`  | { ${fields.join('; ')} }`);
  }
  for (const ev of def.localEvents.events) {
    const fields = ['id: number', `type: '${ev.event}'`, ...Object.entries(ev.fields).map(([k, v]) => `${k}: ${v}`)];
    L.push(`  | { ${fields.join('; ')} }`);
  }
  L[L.length - 1] += ';';
  L.push('');
  const errorCodes = enums.get('ErrorCode');
  L.push('/** @internal The PvmError code of each monitor ErrorCode (a failed boot or exec). */');
  L.push('export const BOOT_ERROR_CODES: Readonly<Record<ErrorCodeName, PvmErrorCode>> = {');
  for (const v of errorCodes.values) L.push(`  ${v.js}: '${v.pvmError}',`);
  L.push('};');
  L.push('');
  L.push('/**');
  L.push(` * @internal ${def.errors.doc}`);
  L.push(' */');
  L.push('const WIRE_ERRORS: Readonly<Record<number, PvmErrorCode>> = {');
  for (const [name, code] of Object.entries(def.errors.pvmErrors)) L.push(`  ${abiErrors.get(name)}: '${code}', // ${name}`);
  L.push('};');
  L.push('');
  L.push('/** @internal The PvmError code of a wire error (0 or -errno of abi.json), if it has one. */');
  L.push('export function wireErrorCode(error: number): PvmErrorCode | undefined {');
  L.push('  return WIRE_ERRORS[-error];');
  L.push('}');
  L.push('');
  L.push('/** @internal Flag bits of message fields (see control.json flags). */');
  L.push('export const CONTROL_FLAGS = {');
  for (const f of def.flags) L.push(`  ${f.name}: ${f.value}, // ${f.field}: ${f.doc}`);
  L.push('} as const;');
  return L.join('\n') + '\n';
}

// ---- files -----------------------------------------------------------------------------
/** Writes the outputs that differ (keeps mtimes: no needless rebuilds); returns the stale ones. */
export function writeOutputs(root, outputs, { check = false } = {}) {
  const stale = [];
  for (const [rel, text] of Object.entries(outputs)) {
    const path = join(root, rel);
    let old;
    try {
      old = readFileSync(path, 'utf8');
    } catch {
      old = undefined;
    }
    if (old === text) continue;
    stale.push(rel);
    if (check) continue;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  return stale;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const check = process.argv.includes('--check');
  const stale = writeOutputs(root, controlOutputs(root), { check });
  if (check && stale.length) {
    console.error(`stale (run npm run gen): ${stale.join(', ')}`);
    process.exit(1);
  }
}
