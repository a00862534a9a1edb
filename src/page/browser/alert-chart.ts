/// <reference lib="dom" />
const svgNs = 'http://www.w3.org/2000/svg';
const hourMs = 3_600_000;
const width = 480;
const height = 90;
const axisHeight = 14;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>) {
  const node = document.createElementNS(svgNs, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/** Alerts per hour over the 24 hours ending with the current hour (oldest bar first). */
export function countByHour(receivedAt: readonly string[], now: number): number[] {
  const end = Math.floor(now / hourMs) * hourMs + hourMs;
  const counts = Array.from({ length: 24 }, () => 0);
  for (const iso of receivedAt) {
    const bin = 23 - Math.floor((end - 1 - Date.parse(iso)) / hourMs);
    if (bin >= 0 && bin < 24) counts[bin]! += 1;
  }
  return counts;
}

/** A small bar chart as inline SVG: one bar per hour, a label every 6 hours, a tooltip per bar. */
export function renderChart(target: SVGSVGElement, counts: readonly number[], now: number): void {
  target.setAttribute('viewBox', `0 0 ${width} ${height}`);
  target.setAttribute('preserveAspectRatio', 'none');
  const top = Math.max(1, ...counts);
  const barWidth = width / counts.length;
  const plotHeight = height - axisHeight;
  const firstHour = Math.floor(now / hourMs) * hourMs - (counts.length - 1) * hourMs;
  const nodes: SVGElement[] = [
    svg('line', { class: 'baseline', x1: 0, x2: width, y1: plotHeight + 0.5, y2: plotHeight + 0.5 }),
  ];
  counts.forEach((count, index) => {
    const barHeight = (count / top) * (plotHeight - 2);
    const start = new Date(firstHour + index * hourMs);
    const bar = svg('rect', {
      class: 'bar',
      x: index * barWidth + 1,
      y: plotHeight - barHeight,
      width: barWidth - 2,
      height: barHeight,
      'data-count': count,
    });
    const tooltip = svg('title', {});
    tooltip.textContent = `${start.getHours().toString().padStart(2, '0')}:00 — ${count} alert${count === 1 ? '' : 's'}`;
    bar.append(tooltip);
    nodes.push(bar);
    if (index % 6 === 0) {
      const label = svg('text', { class: 'axis', x: index * barWidth + 2, y: height - 3 });
      label.textContent = `${start.getHours().toString().padStart(2, '0')}h`;
      nodes.push(label);
    }
  });
  target.replaceChildren(...nodes);
}
