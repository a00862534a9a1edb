/**
 * Renders the example emails in this folder from `sample-alerts.json` (the alerts `tocsin
 * match --rules rules --events examples/events.jsonl` gives, with their event snapshots):
 *
 *   node --import tsx examples/email/render-examples.ts
 *
 * - `alert.html` / `alert.txt`: the immediate email for "Rare-earth export-control change";
 * - `digest.html` / `digest.txt`: the daily 08:00 Europe/Berlin digest of 6–7 July 2026.
 *
 * A test (test/delivery/email/examples.test.ts) fails when these files are stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Alert } from '../../src/alerts/alert.ts';
import { renderAlertEmail } from '../../src/delivery/email/alert-email.ts';
import { renderDigestEmail } from '../../src/delivery/email/digest-email.ts';
import { lastEndedPeriod } from '../../src/delivery/email/digest-period.ts';
import type { EmailContext } from '../../src/delivery/email/email-view.ts';

export const examplesDir = import.meta.dirname;

type SampleAlert = Pick<Alert, 'id' | 'ruleId' | 'ruleName' | 'severity' | 'matches' | 'event'>;

const recipient = { address: 'analyst@example.com', timeZone: 'Europe/Berlin' };
const publicUrl = 'https://tocsin.example.com';
const unsubscribeUrl = `${publicUrl}/u/c3Vibl9leGFtcGxl.3mXq0sV1cJ9eYtq2bGf8kLwZ4nHa7PdR`;

/** File name → content of every example. */
export function renderExamples(): Record<string, string> {
  const alerts = JSON.parse(readFileSync(join(examplesDir, 'sample-alerts.json'), 'utf8')) as SampleAlert[];

  const immediate: EmailContext = {
    subscription: {
      id: 'subn_example_immediate',
      ruleIds: ['rare-earth-export-controls'],
      tags: null,
      minSeverity: 'medium',
      mode: 'immediate',
      dailyHour: null,
    },
    recipient,
    unsubscribeUrl,
    publicUrl,
  };
  const alert = alerts.find((candidate) => candidate.ruleId === 'rare-earth-export-controls');
  if (!alert) throw new Error('sample-alerts.json has no rare-earth-export-controls alert');
  const alertEmail = renderAlertEmail({ ...immediate, alert });

  const daily: EmailContext = {
    ...immediate,
    subscription: {
      id: 'subn_example_daily',
      ruleIds: null,
      tags: null,
      minSeverity: 'medium',
      mode: 'daily',
      dailyHour: 8,
    },
  };
  const period = lastEndedPeriod(
    { mode: 'daily', dailyHour: 8 },
    recipient.timeZone,
    new Date('2026-07-07T06:00:00Z'),
  );
  const inPeriod = alerts
    .filter((candidate) => {
      const at = Date.parse(candidate.event.publishedAt);
      return at >= period.start.getTime() && at < period.end.getTime();
    })
    // The store lists a digest's alerts newest first.
    .reverse();
  const digestEmail = renderDigestEmail({ ...daily, alerts: inPeriod, period, maxAlerts: 50 });

  return {
    'alert.html': alertEmail.html,
    'alert.txt': `Subject: ${alertEmail.subject}\n\n${alertEmail.text}`,
    'digest.html': digestEmail.html,
    'digest.txt': `Subject: ${digestEmail.subject}\n\n${digestEmail.text}`,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const [name, content] of Object.entries(renderExamples())) {
    writeFileSync(join(examplesDir, name), content);
    process.stdout.write(`wrote examples/email/${name}\n`);
  }
}
