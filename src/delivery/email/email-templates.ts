import Handlebars from 'handlebars';

/**
 * The email templates (Handlebars). The HTML templates escape every `{{value}}` — there is no
 * triple-stash anywhere — so event text, rule names and addresses can never become markup;
 * highlighted text arrives as segments and only the template writes `<mark>`. The plain-text
 * templates are compiled without escaping (they are not HTML).
 *
 * Mailbox providers' rendering rules shape the HTML: a table layout, inline styles only, no
 * images or fonts from elsewhere (nothing remote is needed to read the email), 600 px wide.
 * `strict` makes a missing field a rendering error instead of a silently empty email: view
 * models pass `null` for what is absent.
 */

const hbs = Handlebars.create();

hbs.registerPartial(
  'segments',
  '{{#each segments}}{{#if marked}}<mark style="background:#fde68a;color:inherit;padding:0 1px;">{{text}}</mark>{{else}}{{text}}{{/if}}{{/each}}',
);
// A helper, not a partial: a partial alone on its line would swallow the line break after it.
hbs.registerHelper('plainSegments', (segments: { text: string; marked: boolean }[]) =>
  segments.map((segment) => (segment.marked ? `*${segment.text}*` : segment.text)).join(''),
);

hbs.registerPartial(
  'layout',
  `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{{documentTitle}}</title>
</head>
<body style="margin:0;padding:0;background:#f3f4f6;">
<div style="display:none;max-height:0;overflow:hidden;">{{preheader}}</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f4f6;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:600px;background:#ffffff;border:1px solid #e5e7eb;border-radius:8px;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#111827;">
<tr><td style="padding:14px 24px;border-bottom:1px solid #e5e7eb;font-size:13px;color:#6b7280;"><strong style="color:#111827;letter-spacing:0.04em;">TOCSIN</strong> &middot; {{kicker}}</td></tr>
{{> @partial-block}}
<tr><td style="padding:16px 24px 20px;border-top:1px solid #e5e7eb;font-size:12px;line-height:18px;color:#6b7280;">
<p style="margin:0 0 8px;">{{reason}}</p>
<p style="margin:0;"><a href="{{unsubscribeUrl}}" style="color:#374151;">Unsubscribe</a> &mdash; from this subscription or from all Tocsin email, on one page, without signing in.</p>
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`,
);

hbs.registerPartial(
  'limitNote',
  `{{#if limitNote}}<tr><td style="padding:0 24px 16px;"><p style="margin:0;padding:10px 12px;background:#eff6ff;border-left:3px solid #1d4ed8;font-size:13px;line-height:19px;color:#1e3a8a;">{{limitNote}}</p></td></tr>{{/if}}`,
);

const alertHtmlSource = `{{#> layout}}
{{> limitNote}}
<tr><td style="padding:20px 24px 4px;">
<span style="display:inline-block;padding:2px 8px;border-radius:4px;background:{{severity.color}};color:#ffffff;font-size:12px;font-weight:bold;letter-spacing:0.05em;">{{severity.label}}</span>
<span style="font-size:13px;color:#374151;padding-left:6px;">{{ruleName}}</span>
</td></tr>
<tr><td style="padding:8px 24px 0;">
<h1 style="margin:0;font-size:20px;line-height:28px;font-weight:600;">{{#if eventUrl}}<a href="{{eventUrl}}" style="color:#111827;text-decoration:none;">{{> segments segments=title}}</a>{{else}}{{> segments segments=title}}{{/if}}</h1>
<p style="margin:6px 0 0;font-size:13px;color:#6b7280;">{{#if source}}{{#if source.url}}<a href="{{source.url}}" style="color:#6b7280;">{{source.name}}</a>{{else}}{{source.name}}{{/if}} &middot; {{/if}}published {{publishedAt}}</p>
</td></tr>
{{#if summary}}<tr><td style="padding:14px 24px 0;font-size:15px;line-height:23px;color:#1f2937;"><p style="margin:0;">{{> segments segments=summary}}</p></td></tr>{{/if}}
{{#if otherMatches.length}}<tr><td style="padding:14px 24px 0;">
<p style="margin:0 0 4px;font-size:12px;color:#6b7280;text-transform:uppercase;letter-spacing:0.05em;">Also matched</p>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="font-size:13px;line-height:20px;">
{{#each otherMatches}}<tr><td style="padding:0 12px 0 0;color:#6b7280;font-family:Menlo,Consolas,monospace;">{{field}}</td><td><mark style="background:#fde68a;color:inherit;padding:0 1px;">{{text}}</mark></td></tr>
{{/each}}</table>
</td></tr>{{/if}}
<tr><td style="padding:18px 24px 20px;">
{{#if eventUrl}}<a href="{{eventUrl}}" style="display:inline-block;padding:8px 14px;border-radius:6px;background:#111827;color:#ffffff;font-size:14px;text-decoration:none;">Read the source</a>{{/if}}
<p style="margin:12px 0 0;font-size:12px;color:#9ca3af;">Alert {{alertId}} &middot; event {{eventId}} &middot; rule {{ruleId}}</p>
</td></tr>
{{/layout}}`;

const alertTextSource = `{{#if limitNote}}{{limitNote}}

{{/if}}[{{severity.label}}] {{ruleName}}

{{plainSegments title}}
{{#if source}}{{source.name}} · {{/if}}published {{publishedAt}}
{{#if summary}}
{{plainSegments summary}}
{{/if}}{{#if otherMatches.length}}
Also matched:
{{#each otherMatches}}  {{field}}: *{{text}}*
{{/each}}{{/if}}{{#if eventUrl}}
Read the source: {{eventUrl}}
{{/if}}
Alert {{alertId}} · event {{eventId}} · rule {{ruleId}}

--
{{reason}}
Unsubscribe (this subscription or all Tocsin email): {{unsubscribeUrl}}
`;

const digestHtmlSource = `{{#> layout}}
<tr><td style="padding:20px 24px 12px;">
<h1 style="margin:0;font-size:20px;line-height:28px;font-weight:600;">{{heading}}</h1>
<p style="margin:4px 0 0;font-size:13px;color:#6b7280;">{{periodLabel}}</p>
</td></tr>
{{> limitNote}}
{{#each groups}}<tr><td style="padding:8px 24px 4px;">
<h2 style="margin:0;font-size:15px;line-height:22px;font-weight:600;border-bottom:1px solid #e5e7eb;padding-bottom:4px;">
<span style="display:inline-block;padding:1px 6px;border-radius:4px;background:{{severity.color}};color:#ffffff;font-size:11px;font-weight:bold;letter-spacing:0.05em;vertical-align:middle;margin-right:6px;">{{severity.label}}</span>
{{ruleName}} <span style="font-weight:normal;color:#6b7280;font-size:13px;">({{countLabel}})</span></h2>
</td></tr>
{{#each alerts}}<tr><td style="padding:6px 24px 6px 36px;">
<p style="margin:0;font-size:14px;line-height:21px;">{{#if eventUrl}}<a href="{{eventUrl}}" style="color:#111827;">{{> segments segments=title}}</a>{{else}}{{> segments segments=title}}{{/if}}</p>
<p style="margin:2px 0 0;font-size:12px;color:#6b7280;">{{#if sourceName}}{{sourceName}} &middot; {{/if}}{{publishedAt}}</p>
</td></tr>
{{/each}}{{/each}}
{{#if more}}<tr><td style="padding:10px 24px 4px;font-size:14px;"><a href="{{more.url}}" style="color:#1d4ed8;">&hellip; and {{more.count}} more</a></td></tr>{{/if}}
<tr><td style="padding:0 0 16px;"></td></tr>
{{/layout}}`;

const digestTextSource = `{{heading}}
{{periodLabel}}
{{#if limitNote}}

{{limitNote}}
{{/if}}
{{#each groups}}

== [{{severity.label}}] {{ruleName}} ({{countLabel}}) ==
{{#each alerts}}
- {{plainSegments title}}
  {{#if sourceName}}{{sourceName}} · {{/if}}{{publishedAt}}{{#if eventUrl}}
  {{eventUrl}}{{/if}}
{{/each}}
{{/each}}
{{#if more}}

… and {{more.count}} more: {{more.url}}
{{/if}}

--
{{reason}}
Unsubscribe (this subscription or all Tocsin email): {{unsubscribeUrl}}
`;

const htmlOptions = { strict: true } as const;
const textOptions = { strict: true, noEscape: true } as const;

export const alertHtmlTemplate = hbs.compile(alertHtmlSource, htmlOptions);
export const alertTextTemplate = hbs.compile(alertTextSource, textOptions);
export const digestHtmlTemplate = hbs.compile(digestHtmlSource, htmlOptions);
export const digestTextTemplate = hbs.compile(digestTextSource, textOptions);
