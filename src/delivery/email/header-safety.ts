import addressparser from 'nodemailer/lib/addressparser';

/**
 * Everything that reaches an email header goes through here: rule names, event titles and
 * addresses come from rule authors, upstream feeds and API clients, and a CR or LF in a header
 * value would let them add headers of their own (`\r\nBcc: someone@else`).
 *
 * `headerText` removes every line break and control character — not only CR and LF, but also
 * NEL (U+0085) and the Unicode line and paragraph separators that some parsers treat as line
 * ends — and collapses the whitespace around them, so a value is always one line. Nodemailer
 * then encodes non-ASCII text as RFC 2047 encoded words; folding long values is its job.
 */

// C0 controls (CR, LF, TAB included), DEL, C1 controls (NEL included), U+2028, U+2029.
const unsafeInHeader = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/** One line of header text, at most `maxLength` UTF-16 units (cut on a whole character, with "…"). */
export function headerText(value: string, maxLength = 200): string {
  const line = value.replace(unsafeInHeader, ' ').replace(/\s+/g, ' ').trim();
  if (line.length <= maxLength) return line;
  let cut = maxLength - 1;
  // Never split a surrogate pair.
  if (/[\ud800-\udbff]/.test(line.charAt(cut - 1))) cut -= 1;
  return `${line.slice(0, cut).trimEnd()}…`;
}

/** True when the text holds a character that must never reach a header. */
export function hasUnsafeHeaderCharacters(value: string): boolean {
  return new RegExp(unsafeInHeader.source).test(value);
}

/**
 * An addr-spec Tocsin is willing to send to or from: `local@domain`, the local part a
 * dot-atom of RFC 5322 atext (no quoted local parts, no comments, no IP literals), the domain
 * dot-separated labels of letters, digits and hyphens (an internationalised domain in
 * Unicode letters is accepted: nodemailer encodes it with punycode). At most 254 characters,
 * the local part at most 64 (RFC 5321 §4.5.3.1.1: servers may refuse longer ones).
 * Subscribers' addresses are checked with it when they are stored and again before sending.
 */
const atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const localPart = `${atext}(?:\\.${atext})*`;
const label = '[\\p{L}\\p{N}](?:[\\p{L}\\p{N}-]{0,61}[\\p{L}\\p{N}])?';
const addressPattern = new RegExp(`^${localPart}@${label}(?:\\.${label})*$`, 'u');

export function isEmailAddress(address: string): boolean {
  return (
    address.length <= 254 &&
    address.lastIndexOf('@') <= 64 &&
    addressPattern.test(address) &&
    !hasUnsafeHeaderCharacters(address)
  );
}

export type Mailbox = { name: string; address: string };

/**
 * Parses one mailbox, `Name <local@domain>` or `local@domain` (RFC 5322 `mailbox`, by
 * nodemailer's address parser). Undefined when the text is not exactly one valid address
 * (groups, lists, a bare word, a line break anywhere).
 */
export function parseMailbox(text: string): Mailbox | undefined {
  if (hasUnsafeHeaderCharacters(text)) return undefined;
  const parsed = addressparser(text);
  if (parsed.length !== 1) return undefined;
  const [entry] = parsed;
  if (!entry || 'group' in entry) return undefined;
  const address = entry.address.trim();
  if (!isEmailAddress(address)) return undefined;
  return { name: headerText(entry.name ?? ''), address };
}
