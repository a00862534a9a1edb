import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { examplesDir, renderExamples } from '../../../examples/email/render-examples.ts';
import { renderAlertEmail } from '../../../src/delivery/email/alert-email.ts';
import { renderDigestEmail } from '../../../src/delivery/email/digest-email.ts';
import type { EmailContext } from '../../../src/delivery/email/email-view.ts';

const context: EmailContext = {
  subscription: {
    id: 'subn_1',
    ruleIds: null,
    tags: ['trade'],
    minSeverity: 'high',
    mode: 'immediate',
    dailyHour: null,
  },
  recipient: { address: 'analyst@example.com', timeZone: 'America/New_York' },
  unsubscribeUrl: 'https://tocsin.example.test/u/abc.def',
  publicUrl: 'https://tocsin.example.test',
};

const hostileAlert = {
  id: 'alert-1',
  ruleId: 'rule-<1>',
  ruleName: '<img src=x onerror=alert(1)> & "rule"',
  severity: 'critical' as const,
  matches: [
    { field: 'title', text: '<b>', start: 0, end: 3 },
    { field: 'entities.name', text: '</mark><script>', start: 0, end: 15, index: 0 },
  ],
  event: {
    id: 'evt-"1"',
    title: '<b>bold</b> claims',
    summary: "It's <i>summary</i> & more",
    url: 'javascript:alert(document.cookie)',
    publishedAt: '2026-07-02T09:30:00Z',
    source: { name: 'Wire <x>', url: 'data:text/html,<script>alert(1)</script>' },
  },
};

describe('rendering', () => {
  it('escapes every piece of event and rule text in the HTML part, marks only matches', () => {
    const { html, text, subject } = renderAlertEmail({ ...context, alert: hostileAlert });
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('<i>');
    expect(html).toContain('&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt; &amp; &quot;rule&quot;');
    expect(html).toContain(
      '<mark style="background:#fde68a;color:inherit;padding:0 1px;">&lt;b&gt;</mark>bold&lt;/b&gt; claims',
    );
    expect(html).toContain('&lt;/mark&gt;&lt;script&gt;</mark>');
    // Only http(s) links: a javascript: or data: URL from a feed is shown as text or not at all.
    expect(html).not.toMatch(/href="(javascript|data):/i);
    expect(html).not.toContain('Read the source');
    // No remote assets: no images, fonts or stylesheets to fetch.
    expect(html).not.toMatch(/<img|<link|@import|url\(/i);
    // The plain-text part is not HTML: no entities.
    expect(text).toContain('*<b>*bold</b> claims');
    expect(text).toContain("It's <i>summary</i> & more");
    expect(subject).toBe('[CRITICAL] <img src=x onerror=alert(1)> & "rule": <b>bold</b> claims');
    // Published 09:30 UTC = 05:30 in New York (EDT).
    expect(text).toContain('Thu 2 Jul 2026, 05:30 EDT');
    expect(text).toContain(
      'sends alerts of any rule tagged trade, severity high or higher, to analyst@example.com as they happen',
    );
  });

  it('links the event and its source when they are http(s)', () => {
    const { html, text } = renderAlertEmail({
      ...context,
      alert: {
        ...hostileAlert,
        event: {
          ...hostileAlert.event,
          url: 'https://news.example.com/a?b=1&c=2',
          source: { name: 'Wire', url: 'https://wire.example.com/' },
        },
      },
    });
    expect(html).toContain('href="https://news.example.com/a?b&#x3D;1&amp;c&#x3D;2"');
    expect(html).toContain('href="https://wire.example.com/"');
    expect(text).toContain('Read the source: https://news.example.com/a?b=1&c=2');
  });

  it('renders an alert without summary, source or url', () => {
    const { html, text } = renderAlertEmail({
      ...context,
      alert: { ...hostileAlert, matches: [], event: { id: 'e', title: 'Plain', publishedAt: 'not a date' } },
    });
    expect(html).toContain('published not a date');
    expect(text).toContain('Plain\npublished not a date');
  });

  it('says in a digest of an immediate subscription why the alerts were held back', () => {
    const { subject, text } = renderDigestEmail({
      ...context,
      alerts: [hostileAlert],
      period: { start: new Date('2026-07-02T09:00:00Z'), end: new Date('2026-07-02T10:00:00Z') },
      maxAlerts: 10,
      hourlyLimit: 20,
    });
    expect(subject).toBe('Tocsin: 1 more alert past your hourly limit');
    expect(text).toContain(
      'You reached your limit of 20 alert emails per hour, so this alert was collected here',
    );
    expect(text).toContain('2 Jul 2026, 05:00 – 2 Jul 2026, 06:00 (America/New_York)');
  });
});

describe('examples/email', () => {
  it.each(Object.entries(renderExamples()))(
    '%s is up to date (node --import tsx examples/email/render-examples.ts)',
    (name, content) => {
      expect(readFileSync(join(examplesDir, name), 'utf8')).toBe(content);
    },
  );
});
