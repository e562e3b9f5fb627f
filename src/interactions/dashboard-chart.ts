// Charts for the console dashboard as inline SVG made on the server (no script, no library, nothing
// the CSP would refuse: shapes and presentation attributes only, colours from the stylesheet's
// classes so they follow the light or dark scheme). Stacked bars, or lines for series that are not
// parts of one whole. Colour is never the only cue: failures are hatched, lines dashed differently,
// and every chart's figure carries a legend with totals and a table of the numbers (the EJS page).
export interface ChartSeries {
  /** Colour index (0-5): the stylesheet's chart-c0..chart-c5. */
  colour: number;
  /** Drawn hatched (a failure or refusal). */
  hatched: boolean;
  values: number[];
}

export interface Chart {
  /** Unique on the page: prefixes pattern ids. */
  id: string;
  kind: 'stacked' | 'lines';
  series: ChartSeries[];
  /** One label per bucket. */
  bucketLabels: string[];
  /** The buckets whose label the x axis shows (round times). */
  ticks: readonly number[];
  xTitle: string;
  yTitle: string;
}

const WIDTH = 400;
const HEIGHT = 210;
const PLOT = { left: 48, right: 8, top: 8, bottom: 46 };
const DASHES = ['', '6 3', '2 3', '8 3 2 3'];

const escapeXml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fixed = (n: number) => Number(n.toFixed(2));

/** A step of 1, 2 or 5 times a power of ten giving at most 4 intervals up to `max`. */
export function axisStep(max: number): number {
  const rough = Math.max(1, max / 4);
  const power = 10 ** Math.floor(Math.log10(rough));
  return ([1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power) || 1;
}

function highest(chart: Chart): number {
  const buckets = chart.bucketLabels.length;
  let top = 0;
  for (let b = 0; b < buckets; b++) {
    const values = chart.series.map((s) => s.values[b] ?? 0);
    top = Math.max(top, chart.kind === 'stacked' ? values.reduce((a, v) => a + v, 0) : Math.max(0, ...values));
  }
  return top;
}

/** A hatch per hatched colour: stripes of the colour over the page's background. */
function patterns(chart: Chart): string {
  const colours = [...new Set(chart.series.filter((s) => s.hatched).map((s) => s.colour))];
  return colours
    .map(
      (c) =>
        `<pattern id="${chart.id}-hatch-${c}" patternUnits="userSpaceOnUse" width="4" height="4" patternTransform="rotate(45)">` +
        `<rect width="4" height="4" class="chart-bg"/><rect width="2" height="4" class="chart-fill chart-c${c}"/></pattern>`,
    )
    .join('');
}

function axes(chart: Chart, top: number, step: number, x: (b: number) => number, y: (v: number) => number): string {
  const parts: string[] = [];
  for (let v = 0; v <= top; v += step) {
    parts.push(`<line class="chart-grid" x1="${PLOT.left}" x2="${WIDTH - PLOT.right}" y1="${fixed(y(v))}" y2="${fixed(y(v))}"/>`);
    parts.push(`<text class="chart-label" x="${PLOT.left - 4}" y="${fixed(y(v) + 4)}" text-anchor="end">${v}</text>`);
  }
  chart.bucketLabels.forEach((label, b) => {
    if (!chart.ticks.includes(b)) return;
    parts.push(`<line class="chart-axis" x1="${fixed(x(b + 0.5))}" x2="${fixed(x(b + 0.5))}" y1="${HEIGHT - PLOT.bottom}" y2="${HEIGHT - PLOT.bottom + 4}"/>`);
    parts.push(`<text class="chart-label" x="${fixed(x(b + 0.5))}" y="${HEIGHT - PLOT.bottom + 16}" text-anchor="middle">${escapeXml(label)}</text>`);
  });
  parts.push(`<line class="chart-axis" x1="${PLOT.left}" x2="${WIDTH - PLOT.right}" y1="${HEIGHT - PLOT.bottom}" y2="${HEIGHT - PLOT.bottom}"/>`);
  parts.push(`<text class="chart-label" x="${(PLOT.left + WIDTH - PLOT.right) / 2}" y="${HEIGHT - 6}" text-anchor="middle">${escapeXml(chart.xTitle)}</text>`);
  parts.push(`<text class="chart-label" transform="translate(14 ${(PLOT.top + HEIGHT - PLOT.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yTitle)}</text>`);
  return parts.join('');
}

function bars(chart: Chart, x: (b: number) => number, y: (v: number) => number, slot: number): string {
  const parts: string[] = [];
  const width = fixed(Math.max(1, slot * 0.75));
  chart.bucketLabels.forEach((_label, b) => {
    let base = 0;
    for (const s of chart.series) {
      const value = s.values[b] ?? 0;
      if (value <= 0) continue;
      const top = y(base + value);
      const fill = s.hatched ? ` fill="url(#${chart.id}-hatch-${s.colour})"` : '';
      parts.push(
        `<rect class="chart-bar chart-c${s.colour}${s.hatched ? '' : ' chart-fill'}"${fill} x="${fixed(x(b) + (slot - width) / 2)}" y="${fixed(top)}" width="${width}" height="${fixed(y(base) - top)}"/>`,
      );
      base += value;
    }
  });
  return parts.join('');
}

function lines(chart: Chart, x: (b: number) => number, y: (v: number) => number): string {
  return chart.series
    .map((s, i) => {
      const points = chart.bucketLabels.map((_l, b) => `${fixed(x(b + 0.5))},${fixed(y(s.values[b] ?? 0))}`).join(' ');
      const dash = DASHES[i % DASHES.length] ? ` stroke-dasharray="${DASHES[i % DASHES.length]}"` : '';
      return `<polyline class="chart-line chart-c${s.colour}"${dash} points="${points}"/>`;
    })
    .join('');
}

/** The dash pattern of the i-th line (for its legend swatch). */
export const lineDash = (i: number) => DASHES[i % DASHES.length] ?? '';

/** The chart's SVG; `labelledBy` and `describedBy` name the figure's caption and legend. */
export function chartSvg(chart: Chart, labelledBy: string, describedBy: string): string {
  const buckets = chart.bucketLabels.length;
  const step = axisStep(highest(chart));
  const top = Math.max(step, Math.ceil(highest(chart) / step) * step);
  const slot = (WIDTH - PLOT.left - PLOT.right) / buckets;
  const x = (b: number) => PLOT.left + b * slot;
  const y = (v: number) => PLOT.top + (HEIGHT - PLOT.top - PLOT.bottom) * (1 - v / top);
  return (
    `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="${labelledBy}" aria-describedby="${describedBy}">` +
    `<defs>${patterns(chart)}</defs>` +
    axes(chart, top, step, x, y) +
    (chart.kind === 'stacked' ? bars(chart, x, y, slot) : lines(chart, x, y)) +
    '</svg>'
  );
}
