// Shared by the benchmarks: result shape, statistics, output.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nativeDir, packageRoot } from '../lib/paths.js';

/** One figure, optionally with the baseline measured in the same run. */
export interface Result {
  name: string;
  unit: string;
  value: number;
  baseline?: { name: string; value: number };
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const round = (v: number, digits = 1) => Number(v.toFixed(digits));

const execFileAsync = promisify(execFile);

/** A helper script of the benchmarks (bench/*.mjs), from the source or the compiled bench alike. */
export function benchScript(name: string): string {
  return join(packageRoot, 'bench', name);
}

/** Runs a native baseline program (build/Release, or the prebuild) and returns its stdout. */
export async function runNative(program: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(join(nativeDir, program), args, { maxBuffer: 1 << 20 });
  return stdout;
}

/** A ratio with two significant digits at least (0.0031x, not 0x). */
const ratioText = (r: number) => String(r >= 0.1 || r === 0 ? round(r, 2) : Number(r.toPrecision(2)));

export function printTable(results: Result[]): void {
  const rows = results.map((r) => [
    r.name,
    `${r.value} ${r.unit}`,
    r.baseline ? `${r.baseline.value} ${r.unit}` : '',
    r.baseline ? r.baseline.name : '',
    r.baseline && r.baseline.value > 0 ? `${ratioText(r.value / r.baseline.value)}x` : '',
  ]);
  const head = ['benchmark', 'pvm', 'baseline', 'baseline is', 'ratio'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}
