// The dashboard's SVG charts without a server: axis steps, stacked bar heights, hatching for
// failures, dashes for lines, and labels escaped (a translation or key never becomes markup).
import { describe, expect, it } from 'vitest';
import { axisStep, chartSvg, type Chart } from '../../src/interactions/dashboard-chart.js';

const chart = (over: Partial<Chart>): Chart => ({
  id: 'c',
  kind: 'stacked',
  series: [],
  bucketLabels: ['10:00', '10:01', '10:02', '10:03'],
  ticks: [0, 2],
  xTitle: 'Minute (UTC)',
  yTitle: 'Count',
  ...over,
});

describe('dashboard charts', () => {
  it('steps the axis by 1, 2 or 5 times a power of ten, four intervals at most', () => {
    expect([0, 1, 4, 5, 8, 9, 20, 21, 399, 401, 12_000].map(axisStep)).toEqual([1, 1, 1, 2, 2, 5, 5, 10, 100, 200, 5000]);
  });

  it('stacks bars per bucket, hatches failures with a pattern of their colour, and leaves zero out', () => {
    const svg = chartSvg(
      chart({
        series: [
          { colour: 0, hatched: false, values: [1, 0, 2, 0] },
          { colour: 0, hatched: true, values: [3, 0, 0, 0] },
        ],
      }),
      'cap',
      'leg',
    );
    expect(svg.startsWith('<svg class="chart" viewBox="0 0 400 210" role="img" aria-labelledby="cap" aria-describedby="leg">')).toBe(true);
    expect(svg).toContain('<pattern id="c-hatch-0" patternUnits="userSpaceOnUse" width="4" height="4" patternTransform="rotate(45)">');
    const bars = [...svg.matchAll(/<rect class="chart-bar ([^"]+)"(?: fill="([^"]+)")? x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"\/>/g)].map((m) => [
      m[1],
      m[2] ?? null,
      Number(m[4]),
      Number(m[6]),
    ]);
    // Plot from y=8 to y=164 (156 high), axis to 4 (step 1): 39 per unit.
    expect(bars).toEqual([
      ['chart-c0 chart-fill', null, 125, 39],
      ['chart-c0', 'url(#c-hatch-0)', 8, 117],
      ['chart-c0 chart-fill', null, 86, 78],
    ]);
    expect([...svg.matchAll(/text-anchor="middle">(\d\d:\d\d)</g)].map((m) => m[1])).toEqual(['10:00', '10:02']);
  });

  it('draws lines dashed differently, and escapes every label', () => {
    const svg = chartSvg(
      chart({
        kind: 'lines',
        xTitle: '<script>alert(1)</script>',
        bucketLabels: ['"a"', 'b&c', 'c', 'd'],
        series: [
          { colour: 0, hatched: false, values: [0, 1, 0, 0] },
          { colour: 1, hatched: false, values: [1, 1, 1, 1] },
        ],
      }),
      'cap',
      'leg',
    );
    expect(svg).not.toContain('<script');
    expect(svg).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(svg).toContain('>&#34;a&#34;</text>');
    expect([...svg.matchAll(/<polyline class="chart-line (chart-c\d)"( stroke-dasharray="[^"]+")?/g)].map((m) => [m[1], m[2] ?? ''])).toEqual([
      ['chart-c0', ''],
      ['chart-c1', ' stroke-dasharray="6 3"'],
    ]);
  });
});
