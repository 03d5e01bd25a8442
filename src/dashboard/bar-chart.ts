import { markup, type Html } from './markup.js';

/**
 * Series colours: Okabe and Ito's palette, told apart with the common colour-vision
 * deficiencies; the legend and each bar's title carry the names, so colour is never the only cue.
 */
export const SERIES_COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

export interface Series {
  key: string;
  label: string;
  colour: string;
}

export interface Bar {
  /** The label under the bar (a UTC day). */
  label: string;
  values: Readonly<Record<string, number>>;
}

const WIDTH = 720;
const HEIGHT = 200;
const AXIS = 28;
const TOP = 8;

/**
 * Stacked bars drawn on the server as SVG: no script and no chart library, so the page works
 * offline under a Content-Security-Policy without inline script. Colours are presentation
 * attributes (fill), which the policy's style-src does not govern.
 */
export function stackedBars(title: string, bars: readonly Bar[], series: readonly Series[]): Html {
  const totals = bars.map((bar) => series.reduce((sum, entry) => sum + (bar.values[entry.key] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const slot = (WIDTH - AXIS) / Math.max(1, bars.length);
  const barWidth = Math.max(1, slot * 0.7);
  const scale = (HEIGHT - AXIS - TOP) / max;
  const rects = bars.map((bar, index) => {
    const x = AXIS + index * slot + (slot - barWidth) / 2;
    let y = HEIGHT - AXIS;
    const parts = series.flatMap((entry) => {
      const value = bar.values[entry.key] ?? 0;
      if (value === 0) return [];
      const height = value * scale;
      y -= height;
      return [
        markup`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${height.toFixed(1)}" fill="${entry.colour}"><title>${bar.label} ${entry.label}: ${value}</title></rect>`,
      ];
    });
    // A day label every week, and the last day, so that thirty labels do not overlap.
    const labelled = (bars.length - 1 - index) % 7 === 0;
    // The last label ends at its bar, so that it stays inside the chart.
    const last = index === bars.length - 1;
    const label = labelled
      ? markup`<text x="${(last ? x + barWidth : x + barWidth / 2).toFixed(1)}" y="${HEIGHT - 10}" text-anchor="${last ? 'end' : 'middle'}">${bar.label.slice(5)}</text>`
      : '';
    return markup`<g>${parts}${label}</g>`;
  });
  const summary = `${title}: ${totals.reduce((sum, total) => sum + total, 0)} in all over ${bars.length} days, at most ${max} a day`;
  return markup`<figure class="chart">
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${summary}" preserveAspectRatio="none">
<line x1="${AXIS}" y1="${HEIGHT - AXIS}" x2="${WIDTH}" y2="${HEIGHT - AXIS}" stroke="#555"/>
<text x="${AXIS - 4}" y="${TOP + 10}" text-anchor="end">${max}</text>
<text x="${AXIS - 4}" y="${HEIGHT - AXIS}" text-anchor="end">0</text>
${rects}
</svg>
<figcaption>${title}<ul class="legend">${series.map(
    (entry) =>
      markup`<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="${entry.colour}"/></svg> ${entry.label}</li>`,
  )}</ul></figcaption>
</figure>`;
}
