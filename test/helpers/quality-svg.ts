/** The quality picture: mean KL divergence (log scale) against bits per weight, presets as labelled
 * points and target-size runs as curves, as a self-contained SVG. */

export interface QualityPoint {
  label: string;
  bpw: number;
  kl: number;
}

export interface QualitySeries {
  name: string;
  points: QualityPoint[];
  style: 'points' | 'curve';
  color: string;
}

const W = 760, H = 460, LEFT = 70, RIGHT = 200, TOP = 40, BOTTOM = 50;

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function qualitySvg(o: { title: string; series: QualitySeries[] }): string {
  const all = o.series.flatMap((s) => s.points);
  const xMin = Math.floor(Math.min(...all.map((p) => p.bpw)) * 2) / 2, xMax = Math.ceil(Math.max(...all.map((p) => p.bpw)) * 2) / 2;
  const yMin = Math.floor(Math.log10(Math.min(...all.map((p) => p.kl)))), yMax = Math.ceil(Math.log10(Math.max(...all.map((p) => p.kl))));
  const x = (bpw: number): number => LEFT + ((bpw - xMin) / (xMax - xMin)) * (W - LEFT - RIGHT);
  const y = (kl: number): number => TOP + ((yMax - Math.log10(kl)) / (yMax - yMin)) * (H - TOP - BOTTOM);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(o.title)}</text>`,
  ];
  for (let e = yMin; e <= yMax; e++) {
    out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/>`);
    out.push(`<text x="${LEFT - 6}" y="${y(10 ** e) + 4}" text-anchor="end">1e${e}</text>`);
  }
  for (let b = xMin; b <= xMax + 1e-9; b += 0.5) {
    out.push(`<line x1="${x(b)}" x2="${x(b)}" y1="${TOP}" y2="${H - BOTTOM}" stroke="#eee"/>`);
    out.push(`<text x="${x(b)}" y="${H - BOTTOM + 16}" text-anchor="middle">${b.toFixed(1)}</text>`);
  }
  out.push(`<text x="${(LEFT + W - RIGHT) / 2}" y="${H - 12}" text-anchor="middle">bits per weight</text>`);
  out.push(`<text transform="translate(18 ${(TOP + H - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">mean KL divergence vs F32 (log)</text>`);
  o.series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a.bpw - b.bpw);
    if (s.style === 'curve') {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map((p) => `${x(p.bpw).toFixed(1)},${y(p.kl).toFixed(1)}`).join(' ')}"/>`);
    }
    for (const p of pts) {
      out.push(`<circle cx="${x(p.bpw).toFixed(1)}" cy="${y(p.kl).toFixed(1)}" r="${s.style === 'curve' ? 3 : 5}" fill="${s.color}"/>`);
      if (s.style === 'points') out.push(`<text x="${(x(p.bpw) + 7).toFixed(1)}" y="${(y(p.kl) - 6).toFixed(1)}" fill="${s.color}">${esc(p.label)}</text>`);
    }
    const ly = TOP + 20 + i * 22;
    out.push(`<circle cx="${W - RIGHT + 20}" cy="${ly}" r="5" fill="${s.color}"/>`);
    out.push(`<text x="${W - RIGHT + 32}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
