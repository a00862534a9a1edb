import { describe, expect, it } from 'vitest';
import { headerText, isEmailAddress, parseMailbox } from '../../../src/delivery/email/header-safety.ts';

describe('headerText', () => {
  it.each([
    ['Rule\r\nBcc: x@y', 'Rule Bcc: x@y'],
    ['a\rb\nc', 'a b c'],
    ['tab\there', 'tab here'],
    ['nel\u0085sep\u2028par\u2029end', 'nel sep par end'],
    ['nul\u0000del\u007f', 'nul del'],
    ['  spaces   inside  ', 'spaces inside'],
    ['Ünïcödé — “quotes”', 'Ünïcödé — “quotes”'],
  ])('%j → %j', (input, expected) => {
    expect(headerText(input)).toBe(expected);
  });

  it('cuts long text on a whole character, with an ellipsis', () => {
    expect(headerText('abcdefghij', 5)).toBe('abcd…');
    // "😀" is two UTF-16 units: never half of it.
    const cut = headerText(`abc${'😀'.repeat(5)}`, 5);
    expect(cut).toBe('abc…');
    expect(cut.length).toBeLessThanOrEqual(5);
  });
});

describe('addresses', () => {
  it.each([
    'analyst@example.com',
    'first.last+tag@sub.example.co.uk',
    'alerts@localhost',
    "o'brien@example.ie",
    'x@bücher.de',
    `${'a'.repeat(64)}@example.com`,
  ])('accepts %s', (address) => {
    expect(isEmailAddress(address)).toBe(true);
  });

  it.each([
    '',
    'plain',
    '@example.com',
    'a@',
    'a..b@example.com',
    '.a@example.com',
    'a@-example.com',
    'a@example..com',
    '"quoted"@example.com',
    'a b@example.com',
    'a@example.com\r\nBcc: x@y',
    'a@example.com\nbcc: x@y',
    `${'a'.repeat(250)}@example.com`,
    `${'a'.repeat(65)}@example.com`,
  ])('refuses %j', (address) => {
    expect(isEmailAddress(address)).toBe(false);
  });

  it('parses one mailbox with or without a name, and refuses lists, groups and line breaks', () => {
    expect(parseMailbox('Tocsin <alerts@example.com>')).toEqual({
      name: 'Tocsin',
      address: 'alerts@example.com',
    });
    expect(parseMailbox('alerts@example.com')).toEqual({ name: '', address: 'alerts@example.com' });
    expect(parseMailbox('a@example.com, b@example.com')).toBeUndefined();
    expect(parseMailbox('Team: a@example.com, b@example.com;')).toBeUndefined();
    expect(parseMailbox('Tocsin <alerts@example.com>\r\nBcc: x@y')).toBeUndefined();
    expect(parseMailbox('not an address')).toBeUndefined();
  });
});
