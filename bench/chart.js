// A horizontal bar chart (log scale) of python against pynwheel per script, as plain SVG.
'use strict';

function escape(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

/** rows: [{ label, python, pynwheel }] in ms. */
function barChart(rows, title) {
  const width = 900;
  const left = 190;
  const barHeight = 14;
  const rowHeight = 2 * barHeight + 14;
  const top = 50;
  const height = top + rows.length * rowHeight + 40;
  const max = Math.max(...rows.flatMap((r) => [r.python, r.pynwheel]));
  const min = 1;
  const scale = (ms) => ((Math.log10(Math.max(ms, min)) - Math.log10(min)) / (Math.log10(max * 1.3) - Math.log10(min))) * (width - left - 80);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${left}" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<rect x="${left}" y="30" width="12" height="10" fill="#9aa5b1"/><text x="${left + 16}" y="39">python</text>`,
    `<rect x="${left + 80}" y="30" width="12" height="10" fill="#2f7ed8"/><text x="${left + 96}" y="39">pynwheel (warm)</text>`,
  ];
  for (const ms of [1, 10, 100, 1000, 10000].filter((v) => v <= max * 1.3)) {
    const x = left + scale(ms);
    parts.push(`<line x1="${x}" y1="${top - 6}" x2="${x}" y2="${height - 30}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${x}" y="${height - 16}" text-anchor="middle" fill="#666">${ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`}</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    parts.push(`<text x="${left - 8}" y="${y + barHeight + 4}" text-anchor="end">${escape(r.label)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${scale(r.python)}" height="${barHeight}" fill="#9aa5b1"/>`);
    parts.push(`<text x="${left + scale(r.python) + 4}" y="${y + 11}" fill="#333">${r.python.toFixed(1)} ms</text>`);
    parts.push(`<rect x="${left}" y="${y + barHeight + 2}" width="${scale(r.pynwheel)}" height="${barHeight}" fill="#2f7ed8"/>`);
    parts.push(`<text x="${left + scale(r.pynwheel) + 4}" y="${y + barHeight + 13}" fill="#333">${r.pynwheel.toFixed(1)} ms (×${(r.pynwheel / r.python).toFixed(3)})</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

module.exports = { barChart };
