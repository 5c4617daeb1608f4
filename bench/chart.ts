// Bench results as an SVG chart: one row per figure, pvm's bar next to its baseline's,
// both scaled to the larger of the two (units differ from row to row), the ratio at the
// end. Plain SVG, no dependencies, readable in a browser or a README.
import { ratioText, type Result } from './lib.js';

const ROW = 34;
const LABEL_WIDTH = 300;
const BAR_WIDTH = 360;
const RATIO_WIDTH = 150;
const TOP = 56;

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function figure(value: number, unit: string): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

// Lower is better for latencies; higher for throughputs (MB/s, GB/s, ops/s, req/s).
export function higherIsBetter(unit: string): boolean {
  return /\/s$/.test(unit);
}

/** An SVG document charting `results`; `title` goes on top. */
export function renderChart(results: Result[], title: string): string {
  const width = LABEL_WIDTH + BAR_WIDTH + RATIO_WIDTH + 20;
  const height = TOP + results.length * ROW + 40;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="10" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`);
  out.push(`<rect x="10" y="32" width="12" height="10" fill="#2b6cb0"/><text x="26" y="41">pvm</text>`);
  out.push(`<rect x="70" y="32" width="12" height="10" fill="#a0aec0"/><text x="86" y="41">baseline (same run)</text>`);
  results.forEach((r, i) => {
    const y = TOP + i * ROW;
    const scale = Math.max(r.value, r.baseline?.value ?? 0) || 1;
    const w = (v: number) => Math.max(1, (v / scale) * (BAR_WIDTH - 90));
    out.push(`<g class="row" data-name="${escape(r.name)}">`);
    out.push(`<text x="10" y="${y + 12}" font-weight="bold">${escape(r.name)}</text>`);
    if (r.skipped !== undefined) {
      // Not measured in this run: the reason where the bars would be, no number.
      out.push(`<text x="${LABEL_WIDTH}" y="${y + 12}" fill="#555">skipped: ${escape(r.skipped)}</text>`);
      out.push(`</g>`);
      return;
    }
    if (r.baseline) out.push(`<text x="10" y="${y + 26}" fill="#555">vs ${escape(r.baseline.name)}</text>`);
    out.push(`<rect x="${LABEL_WIDTH}" y="${y + 2}" width="${w(r.value).toFixed(1)}" height="12" fill="#2b6cb0"/>`);
    out.push(`<text x="${(LABEL_WIDTH + w(r.value) + 4).toFixed(1)}" y="${y + 12}">${escape(figure(r.value, r.unit))}</text>`);
    if (r.baseline) {
      const b = r.baseline.value;
      out.push(`<rect x="${LABEL_WIDTH}" y="${y + 16}" width="${w(b).toFixed(1)}" height="12" fill="#a0aec0"/>`);
      out.push(`<text x="${(LABEL_WIDTH + w(b) + 4).toFixed(1)}" y="${y + 26}">${escape(figure(b, r.unit))}</text>`);
      if (b > 0 && r.value > 0) {
        const better = higherIsBetter(r.unit) ? r.value >= b : r.value <= b;
        const ratio = r.value / b;
        out.push(
          `<text x="${LABEL_WIDTH + BAR_WIDTH}" y="${y + 19}" fill="${better ? '#276749' : '#9b2c2c'}">${ratioText(ratio)}× ${higherIsBetter(r.unit) ? 'the' : 'of'} baseline</text>`,
        );
      }
    }
    out.push(`</g>`);
  });
  out.push(
    `<text x="10" y="${height - 14}" fill="#555">Bars are scaled per row (units differ). Green: pvm is faster; red: slower.</text>`,
  );
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}
