/// <reference lib="dom" />
import { type PageAlert, type PageFilter, type Severity, severityRank } from './page-types.ts';

/**
 * The filter lives in the page URL (`/?rules=a,b&tags=x&minSeverity=high`), so a filtered
 * dashboard can be bookmarked; the form edits it and the stream receives it.
 */

const list = (text: string | null) =>
  (text ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

const isSeverity = (text: string): text is Severity => Object.hasOwn(severityRank, text);

export function filterFromUrl(url: URL): PageFilter {
  const severity = url.searchParams.get('minSeverity') ?? '';
  return {
    rules: list(url.searchParams.get('rules')),
    tags: list(url.searchParams.get('tags')),
    minSeverity: isSeverity(severity) ? severity : '',
  };
}

export function filterFromForm(form: HTMLFormElement): PageFilter {
  const data = new FormData(form);
  const severity = String(data.get('minSeverity') ?? '');
  return {
    rules: list(String(data.get('rules') ?? '')),
    tags: list(String(data.get('tags') ?? '')),
    minSeverity: isSeverity(severity) ? severity : '',
  };
}

export function showFilterInForm(form: HTMLFormElement, filter: PageFilter): void {
  (form.elements.namedItem('rules') as HTMLInputElement).value = filter.rules.join(', ');
  (form.elements.namedItem('tags') as HTMLInputElement).value = filter.tags.join(', ');
  (form.elements.namedItem('minSeverity') as HTMLSelectElement).value = filter.minSeverity;
}

/** Query parameters of the filter, for the page URL and the stream URL alike. */
export function filterParams(filter: PageFilter): Record<string, string> {
  const params: Record<string, string> = {};
  if (filter.rules.length > 0) params.rules = filter.rules.join(',');
  if (filter.tags.length > 0) params.tags = filter.tags.join(',');
  if (filter.minSeverity !== '') params.minSeverity = filter.minSeverity;
  return params;
}

/** The server's semantics (delivery/websocket/stream-filter.ts), for alerts the page already holds. */
export function matchesFilter(filter: PageFilter, alert: PageAlert): boolean {
  if (filter.minSeverity !== '' && severityRank[alert.severity] < severityRank[filter.minSeverity])
    return false;
  if (filter.rules.length > 0 && !filter.rules.includes(alert.ruleId)) return false;
  if (filter.tags.length > 0 && !alert.tags.some((tag) => filter.tags.includes(tag))) return false;
  return true;
}
