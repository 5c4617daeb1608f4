// Shared by the benchmarks: result shape, statistics, output.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nativeDir, packageRoot } from '../lib/paths.js';

/** One figure, optionally with the baseline measured in the same run. */
export interface Result {
  name: string;
  unit: string;
  /** The figure; NaN (null in JSON) when {@link Result.skipped}. */
  value: number;
  baseline?: { name: string; value: number };
  /** Set when the figure could not be measured in this run: why (no number is made up). */
  skipped?: string;
}

/**
 * Which figures a bench measures: all (undefined or ''), those `--only <prefix>` names
 * (a prefix either way), or a list of exact names (the `.process` rows, bench/backends.ts).
 */
export type Only = string | readonly string[] | undefined;

/** True if a result named `name` is wanted with `only`. */
export function wanted(name: string, only: Only): boolean {
  if (typeof only !== 'string') return only === undefined || only.includes(name);
  return !only || name.startsWith(only) || only.startsWith(name);
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const round = (v: number, digits = 1) => Number(v.toFixed(digits));

/** A ratio for the table and chart: two decimals, or two significant digits below 0.1 (0.0032, not 0). */
export const ratioText = (ratio: number) => (ratio < 0.1 ? ratio.toPrecision(2) : ratio.toFixed(2));

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

export function printTable(results: Result[]): void {
  const rows = results.map((r) => [
    r.name,
    r.skipped !== undefined ? `skipped: ${r.skipped}` : `${r.value} ${r.unit}`,
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
