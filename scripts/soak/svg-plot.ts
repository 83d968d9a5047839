// A small SVG line plot for the soak report (no dependency): series of (x, y) points on linear
// axes, with vertical marks for events (kills, restarts).
export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: { name: string; points: [number, number][] }[];
  marks?: { x: number; label: string }[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export function linePlot({ title, xLabel, yLabel, series, marks = [] }: PlotOptions): string {
  const W = 800, H = 400, L = 60, R = 140, T = 40, B = 50;
  const all = series.flatMap((s) => s.points);
  const maxX = Math.max(1, ...all.map((p) => p[0]));
  const maxY = Math.max(1, ...all.map((p) => p[1])) * 1.1;
  const x = (v: number) => L + (v / maxX) * (W - L - R);
  const y = (v: number) => H - B - (v / maxY) * (H - T - B);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const ticks = (max: number) => Array.from({ length: 6 }, (_, i) => (max * i) / 5);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="15" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 15 ${(T + H - B) / 2})">${esc(yLabel)}</text>`,
  ];
  for (const v of ticks(maxX)) out.push(`<text x="${x(v)}" y="${H - B + 15}" text-anchor="middle">${v.toFixed(0)}</text>`);
  for (const v of ticks(maxY)) {
    out.push(`<text x="${L - 5}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`);
    out.push(`<line x1="${L}" y1="${y(v)}" x2="${W - R}" y2="${y(v)}" stroke="#eee"/>`);
  }
  for (const m of marks) {
    out.push(`<line x1="${x(m.x)}" y1="${T}" x2="${x(m.x)}" y2="${H - B}" stroke="${m.label === 'restart' ? '#d62728' : '#999'}" stroke-dasharray="3,3"/>`);
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    if (s.points.length > 0) {
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>`);
    }
    out.push(`<rect x="${W - R + 10}" y="${T + i * 16}" width="10" height="10" fill="${color}"/>`);
    out.push(`<text x="${W - R + 25}" y="${T + i * 16 + 9}">${esc(s.name)}</text>`);
  });
  const legendY = T + series.length * 16 + 10;
  out.push(`<text x="${W - R + 10}" y="${legendY + 9}" fill="#999">- - kill</text>`);
  out.push(`<text x="${W - R + 10}" y="${legendY + 25}" fill="#d62728">- - restart</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
