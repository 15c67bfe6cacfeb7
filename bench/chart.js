// A horizontal bar chart (log scale) of python against pynwheel per script, as plain SVG: one
// pair of bars a script, the ratio written at the end, and the target as a tick.
'use strict';

function escape(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

const ms = (v) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms`);

/** rows: [{ label, python, pynwheel, target? }] in ms (target: a ratio); notes: lines under the chart. */
function barChart(rows, title, notes = []) {
  const width = 960;
  const left = 170;
  const right = 190; // room for the labels after the longest bar
  const barHeight = 13;
  const rowHeight = 2 * barHeight + 12;
  const top = 58;
  const plotBottom = top + rows.length * rowHeight;
  const height = plotBottom + 34 + notes.length * 17 + 10;
  const max = Math.max(...rows.flatMap((r) => [r.python, r.pynwheel]));
  const min = 1;
  const x = (v) => left + ((Math.log10(Math.max(v, min)) - Math.log10(min)) / (Math.log10(max * 1.2) - Math.log10(min))) * (width - left - right);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="12" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<rect x="${left}" y="34" width="12" height="10" fill="#9aa5b1"/><text x="${left + 16}" y="43">python</text>`,
    `<rect x="${left + 75}" y="34" width="12" height="10" fill="#2f7ed8"/><text x="${left + 91}" y="43">pynwheel, warm (× = pynwheel/python)</text>`,
    `<line x1="${left + 330}" y1="33" x2="${left + 330}" y2="45" stroke="#d9480f" stroke-width="2"/><text x="${left + 336}" y="43">the issue's target</text>`,
  ];
  for (const tick of [1, 3, 10, 30, 100, 300, 1000, 3000, 10000].filter((v) => v <= max * 1.2)) {
    parts.push(`<line x1="${x(tick)}" y1="${top - 6}" x2="${x(tick)}" y2="${plotBottom}" stroke="#e6e6e6"/>`);
    parts.push(`<text x="${x(tick)}" y="${plotBottom + 16}" text-anchor="middle" fill="#666">${ms(tick)}</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    parts.push(`<text x="${left - 8}" y="${y + barHeight + 5}" text-anchor="end">${escape(r.label)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${x(r.python) - left}" height="${barHeight}" fill="#9aa5b1"><title>python ${ms(r.python)}</title></rect>`);
    parts.push(`<text x="${x(r.python) + 4}" y="${y + 10}" fill="#333">${ms(r.python)}</text>`);
    const y2 = y + barHeight + 2;
    parts.push(`<rect x="${left}" y="${y2}" width="${x(r.pynwheel) - left}" height="${barHeight}" fill="#2f7ed8"><title>pynwheel ${ms(r.pynwheel)}</title></rect>`);
    const ratio = r.pynwheel / r.python;
    const met = r.target ? (ratio <= r.target ? ' (target met)' : ` (target ×${r.target})`) : '';
    parts.push(`<text x="${x(r.pynwheel) + 4}" y="${y2 + 10}" fill="#333">${ms(r.pynwheel)}  ×${ratio < 0.01 ? ratio.toFixed(4) : ratio.toFixed(3)}${met}</text>`);
    if (r.target) {
      const tx = x(r.python * r.target);
      parts.push(`<line x1="${tx}" y1="${y2 - 2}" x2="${tx}" y2="${y2 + barHeight + 2}" stroke="#d9480f" stroke-width="2"/>`);
    }
  });
  notes.forEach((note, i) => parts.push(`<text x="12" y="${plotBottom + 40 + i * 17}" fill="#444">${escape(note)}</text>`));
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

module.exports = { barChart };
