// The bench chart (bench/chart.ts): one row per figure, names escaped, the ratio coloured
// by which side is better for the unit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderChart } from '../bench/chart.js';

test('one row per result, baseline bars and ratios, text escaped', () => {
  const svg = renderChart(
    [
      { name: 'fork.childReady.<64MiB>', unit: 'µs', value: 500, baseline: { name: 'process fork & wait', value: 1000 } },
      { name: 'ipc.pipe.throughput', unit: 'MB/s', value: 2000, baseline: { name: 'pipe', value: 4000 } },
      { name: 'spawn.only', unit: 'µs', value: 42 },
      { name: 'hypercall.rtt.process', unit: 'us', value: NaN, skipped: 'backend process: not built into this pvm' },
    ],
    'title <x>',
  );
  assert.is((svg.match(/<g class="row"/g) ?? []).length, 4);
  // A skipped row says why, and has no bar and no number.
  const skipped = svg.slice(svg.indexOf('data-name="hypercall.rtt.process"'));
  assert.match(skipped, /^[^]*?skipped: backend process: not built into this pvm<\/text>\n<\/g>/);
  assert.not.match(svg, /NaN/);
  // A ratio far below 1 keeps two significant digits.
  assert.match(renderChart([{ name: 'hypercall.rtt.process', unit: 'us', value: 0.12, baseline: { name: 'on kvm', value: 37.3 } }], 't'), />0\.0032× of baseline/);
  assert.match(svg, /fork\.childReady\.&#60;64MiB&#62;/);
  assert.match(svg, /process fork &#38; wait/);
  assert.match(svg, /title &#60;x&#62;/);
  assert.not.match(svg, /<x>/);
  // Half the latency of its baseline: better (green); half the throughput: worse (red).
  assert.match(svg, /fill="#276749">0\.50× of baseline/);
  assert.match(svg, /fill="#9b2c2c">0\.50× the baseline/);
  // Every element that opens is closed.
  assert.is((svg.match(/<g /g) ?? []).length, (svg.match(/<\/g>/g) ?? []).length);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
});

test.run();
