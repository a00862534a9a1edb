/// <reference lib="dom" />
const svgNs = 'http://www.w3.org/2000/svg';
const width = 480;
const height = 90;
const axisHeight = 14;

export type DayCount = { day: string; events: number; alerts: number };

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>) {
  const node = document.createElementNS(svgNs, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/**
 * A preview's per-day counts as a small bar chart: per day a wide bar of matched briefs and,
 * inside it, a narrow one of the alerts they would fire; a tooltip per day, a label on the
 * first, the middle and the last day.
 */
export function renderDayChart(target: SVGSVGElement, days: readonly DayCount[]): void {
  target.setAttribute('viewBox', `0 0 ${width} ${height}`);
  target.setAttribute('preserveAspectRatio', 'none');
  const top = Math.max(1, ...days.map((day) => Math.max(day.events, day.alerts)));
  const slot = width / Math.max(days.length, 1);
  const plotHeight = height - axisHeight;
  const nodes: SVGElement[] = [
    svg('line', { class: 'baseline', x1: 0, x2: width, y1: plotHeight + 0.5, y2: plotHeight + 0.5 }),
  ];
  days.forEach((day, index) => {
    const x = index * slot;
    const eventsHeight = (day.events / top) * (plotHeight - 2);
    const alertsHeight = (day.alerts / top) * (plotHeight - 2);
    const group = svg('g', {
      class: 'day',
      'data-day': day.day,
      'data-events': day.events,
      'data-alerts': day.alerts,
    });
    group.append(
      svg('rect', {
        class: 'bar',
        x: x + 1,
        y: plotHeight - eventsHeight,
        width: Math.max(slot - 2, 1),
        height: eventsHeight,
      }),
      svg('rect', {
        class: 'bar alerts',
        x: x + slot / 4,
        y: plotHeight - alertsHeight,
        width: Math.max(slot / 2, 1),
        height: alertsHeight,
      }),
    );
    const tooltip = svg('title', {});
    tooltip.textContent = `${day.day}: ${day.events} matched, ${day.alerts} alert${day.alerts === 1 ? '' : 's'}`;
    group.append(tooltip);
    nodes.push(group);
    if (index === 0 || index === days.length - 1 || index === Math.floor(days.length / 2)) {
      const label = svg('text', { class: 'axis', x: Math.min(x + 2, width - 40), y: height - 3 });
      label.textContent = day.day.slice(5);
      nodes.push(label);
    }
  });
  target.replaceChildren(...nodes);
}
