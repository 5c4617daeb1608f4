#include "monitor/x86_length.h"

namespace pvm::monitor {

namespace {

// Bytes a ModRM (at code[at]) and what follows it (SIB, displacement) take, or 0 if cut off.
size_t ModrmBytes(const uint8_t* code, size_t avail, size_t at) {
  if (at >= avail) return 0;
  uint8_t modrm = code[at];
  unsigned mod = modrm >> 6, rm = modrm & 7;
  size_t n = 1;
  if (mod == 3) return n;
  if (rm == 4) {
    if (at + 1 >= avail) return 0;
    uint8_t sib = code[at + 1];
    n++;
    if (mod == 0 && (sib & 7) == 5) return n + 4;
  }
  if (mod == 0) return rm == 5 ? n + 4 : n;  // rm 5: rip-relative disp32
  return n + (mod == 1 ? 1 : 4);
}

// 0F map (also VEX/EVEX map 1): the opcodes with an imm8 after the ModRM.
bool Map1Imm8(uint8_t op) {
  return (op >= 0x70 && op <= 0x73) || op == 0xa4 || op == 0xac || op == 0xba || op == 0xc2 ||
         (op >= 0xc4 && op <= 0xc6) || op == 0x0f;
}

// 0F map: opcodes with no ModRM.
bool Map1NoModrm(uint8_t op) {
  switch (op) {
    case 0x05: case 0x06: case 0x07: case 0x08: case 0x09: case 0x0b: case 0x0e:
    case 0x30: case 0x31: case 0x32: case 0x33: case 0x34: case 0x35: case 0x37:
    case 0x77: case 0xa0: case 0xa1: case 0xa2: case 0xa8: case 0xa9: case 0xaa:
      return true;
    default:
      return (op >= 0xc8 && op <= 0xcf) || (op >= 0x80 && op <= 0x8f);
  }
}

// Length of a VEX/EVEX-encoded instruction whose opcode is at code[at], map `map`.
size_t VexTail(const uint8_t* code, size_t avail, size_t at, unsigned map) {
  if (at >= avail || map == 0 || map > 7 || map == 4) return 0;
  uint8_t op = code[at];
  if (map == 1 && op == 0x77) return at + 1;  // vzeroupper/vzeroall: no ModRM
  size_t m = ModrmBytes(code, avail, at + 1);
  if (m == 0) return 0;
  size_t n = at + 1 + m;
  if (map == 3 || (map == 1 && Map1Imm8(op))) n++;
  return n <= avail ? n : 0;
}

}  // namespace

size_t X86Length(const uint8_t* code, size_t avail) {
  size_t i = 0;
  bool opsize = false, rex_w = false;
  // Legacy prefixes (at most 14 bytes of them in all), then one REX.
  for (;; i++) {
    if (i >= avail || i >= 14) return 0;
    uint8_t b = code[i];
    if (b == 0x66) { opsize = true; continue; }
    if (b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x26 ||
        b == 0x64 || b == 0x65) {
      continue;
    }
    break;
  }
  if ((code[i] & 0xf0) == 0x40) {
    rex_w = (code[i] & 8) != 0;
    if (++i >= avail) return 0;
  }
  size_t imm_z = opsize && !rex_w ? 2 : 4;  // "Iz": imm16 under 66, else imm32
  uint8_t op = code[i];
  auto with = [&](size_t modrm_at, size_t imm) -> size_t {
    size_t m = ModrmBytes(code, avail, modrm_at);
    if (m == 0) return 0;
    size_t n = modrm_at + m + imm;
    return n <= avail ? n : 0;
  };
  auto plain = [&](size_t imm) -> size_t { return i + 1 + imm <= avail ? i + 1 + imm : 0; };

  if (op == 0x0f) {
    if (i + 1 >= avail) return 0;
    uint8_t op2 = code[i + 1];
    if (op2 == 0x38) return i + 2 < avail ? with(i + 3, 0) : 0;
    if (op2 == 0x3a) return i + 2 < avail ? with(i + 3, 1) : 0;
    if (op2 >= 0x80 && op2 <= 0x8f) return i + 2 + 4 <= avail ? i + 2 + 4 : 0;  // jcc rel32
    if (op2 == 0x04 || op2 == 0x0a || op2 == 0x0c || op2 == 0x24 || op2 == 0x25 || op2 == 0x26 || op2 == 0x27 ||
        op2 == 0x36 || op2 == 0x39 || (op2 >= 0x3b && op2 <= 0x3f)) {
      return 0;  // invalid
    }
    if (Map1NoModrm(op2)) return i + 2 <= avail ? i + 2 : 0;
    return with(i + 2, Map1Imm8(op2) ? 1 : 0);
  }
  if (op == 0xc5) {  // 2-byte VEX: map 0F
    return i + 2 < avail ? VexTail(code, avail, i + 2, 1) : 0;
  }
  if (op == 0xc4) {  // 3-byte VEX
    return i + 3 < avail ? VexTail(code, avail, i + 3, code[i + 1] & 0x1f) : 0;
  }
  if (op == 0x62) {  // EVEX
    return i + 4 < avail ? VexTail(code, avail, i + 4, code[i + 1] & 7) : 0;
  }
  if (op < 0x40) {
    unsigned lo = op & 7;
    if (lo <= 3) return with(i + 1, 0);
    if (lo == 4) return plain(1);
    if (lo == 5) return plain(imm_z);
    return 0;  // 06 07 0e 16 17 1e 1f 27 2f 37 3f: invalid in 64-bit mode (prefixes handled above)
  }
  if (op >= 0x50 && op <= 0x5f) return plain(0);
  if (op >= 0x70 && op <= 0x7f) return plain(1);
  if (op >= 0x84 && op <= 0x8f) return with(i + 1, 0);
  if (op >= 0x90 && op <= 0x99) return plain(0);
  if (op >= 0xb0 && op <= 0xb7) return plain(1);
  if (op >= 0xb8 && op <= 0xbf) return plain(rex_w ? 8 : imm_z);
  if (op >= 0xd8 && op <= 0xdf) return with(i + 1, 0);
  switch (op) {
    case 0x63: return with(i + 1, 0);
    case 0x68: return plain(imm_z);
    case 0x69: return with(i + 1, imm_z);
    case 0x6a: return plain(1);
    case 0x6b: return with(i + 1, 1);
    case 0x6c: case 0x6d: case 0x6e: case 0x6f: return plain(0);
    case 0x80: case 0x83: return with(i + 1, 1);
    case 0x81: return with(i + 1, imm_z);
    case 0x9b: case 0x9c: case 0x9d: case 0x9e: case 0x9f: return plain(0);
    case 0xa0: case 0xa1: case 0xa2: case 0xa3: return plain(8);  // moffs64 (67: moffs32, never emitted)
    case 0xa4: case 0xa5: case 0xa6: case 0xa7: case 0xaa: case 0xab: case 0xac: case 0xad: case 0xae: case 0xaf:
      return plain(0);
    case 0xa8: return plain(1);
    case 0xa9: return plain(imm_z);
    case 0xc0: case 0xc1: case 0xc6: return with(i + 1, 1);
    case 0xc7: return with(i + 1, imm_z);
    case 0xc2: case 0xca: return plain(2);
    case 0xc3: case 0xc9: case 0xcb: case 0xcc: case 0xcf: return plain(0);
    case 0xc8: return plain(3);
    case 0xcd: return plain(1);
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: return with(i + 1, 0);
    case 0xd7: return plain(0);
    case 0xe0: case 0xe1: case 0xe2: case 0xe3: case 0xe4: case 0xe5: case 0xe6: case 0xe7: case 0xeb:
      return plain(1);
    case 0xe8: case 0xe9: return plain(4);
    case 0xec: case 0xed: case 0xee: case 0xef: case 0xf1: case 0xf4: case 0xf5: return plain(0);
    case 0xf6: case 0xf7: {
      if (i + 1 >= avail) return 0;
      unsigned reg = (code[i + 1] >> 3) & 7;
      size_t imm = reg <= 1 ? (op == 0xf6 ? 1 : imm_z) : 0;
      return with(i + 1, imm);
    }
    case 0xf8: case 0xf9: case 0xfa: case 0xfb: case 0xfc: case 0xfd: return plain(0);
    case 0xfe: case 0xff: return with(i + 1, 0);
    default: return 0;  // 60 61 82 9a c4/c5 handled, ce d4 d5 d6 ea: invalid in 64-bit mode
  }
}

}  // namespace pvm::monitor
