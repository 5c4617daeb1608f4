// The C view of abi.json's waitStatus, noChannel and exceptions sections, for
// scripts/gen-abi.mjs (kept apart so the hypercall part of that script can change alone).
// emit(line) appends one line to pvm/abi.h.

const ctype = { u32: 'uint32_t', i32: 'int32_t' };

export function emitAbiExtras(abi, emit) {
  const w = abi.waitStatus;
  emit(`/* ${w.doc} */`);
  for (const [k, v] of Object.entries(w.kinds)) emit(`#define PVM_WAIT_${k} ${v}`);
  emit('#ifndef __ASSEMBLER__');
  emit(`struct ${w.cName} {`);
  let off = 0;
  for (const f of w.fields) {
    if (!ctype[f.type]) throw new Error(`waitStatus.${f.name}: u32 or i32 only`);
    emit(`  ${ctype[f.type]} ${f.name}; /* offset ${off} */`);
    off += 4;
  }
  emit('};');
  emit('#ifdef __cplusplus');
  emit(`static_assert(sizeof(struct ${w.cName}) == ${off}, "${w.cName} layout");`);
  emit('#else');
  emit(`_Static_assert(sizeof(struct ${w.cName}) == ${off}, "${w.cName} layout");`);
  emit('#endif');
  emit('#endif /* !__ASSEMBLER__ */');
  emit('');
  emit(`/* ${abi.noChannel.doc} */`);
  emit(`#define PVM_NO_CHANNEL 0x${abi.noChannel.value.toString(16)}u`);
  emit('');
  const ex = abi.exceptions;
  emit(`/* ${ex.doc} */`);
  for (const e of ex.vectors) emit(`#define PVM_EXC_${e.mnemonic.replace('#', '')} ${e.vector} /* ${e.name} */`);
  emit('/* X-macro over the named vectors: X(vector, "mnemonic", "name") */');
  emit('#define PVM_EXCEPTION_LIST(X) \\');
  emit(ex.vectors.map((e) => `  X(${e.vector}, "${e.mnemonic}", "${e.name}")`).join(' \\\n'));
}
