import { describe, expect, it } from 'vitest';
import { highlightSegments, otherMatches, rangesOf } from '../../../src/delivery/email/highlight.ts';

const marked = (segments: { text: string; marked: boolean }[]) =>
  segments.map((segment) => (segment.marked ? `[${segment.text}]` : segment.text)).join('');

describe('highlightSegments', () => {
  it.each([
    ['rare earth export controls', [{ start: 0, end: 10 }], '[rare earth] export controls'],
    ['rare earth export controls', [{ start: 11, end: 26 }], 'rare earth [export controls]'],
    [
      'abcdef',
      [
        { start: 1, end: 3 },
        { start: 2, end: 5 },
      ],
      'a[bcde]f',
    ],
    [
      'abcdef',
      [
        { start: 1, end: 2 },
        { start: 2, end: 4 },
      ],
      'a[bcd]ef',
    ],
    [
      'abcdef',
      [
        { start: 4, end: 5 },
        { start: 0, end: 1 },
      ],
      '[a]bcd[e]f',
    ],
    ['abc', [{ start: -5, end: 99 }], '[abc]'],
    ['abc', [{ start: 2, end: 2 }], 'abc'],
    ['abc', [], 'abc'],
    ['', [], ''],
    // Offsets are UTF-16 units; a range never splits a surrogate pair.
    ['a😀b', [{ start: 1, end: 2 }], 'a[😀]b'],
    ['a😀b', [{ start: 2, end: 4 }], 'a[😀b]'],
  ])('%j with %j → %j', (text, ranges, expected) => {
    expect(marked(highlightSegments(text, ranges))).toBe(expected);
  });
});

describe('rangesOf and otherMatches', () => {
  const matches = [
    { field: 'title', text: 'Rare-earth', start: 0, end: 10 },
    { field: 'title', text: 'stale', start: 0, end: 5 },
    { field: 'commodities', text: 'dysprosium', start: 0, end: 10, index: 1 },
    { field: 'body', text: 'export controls', start: 1708, end: 1723 },
    { field: 'body', text: 'export controls', start: 1708, end: 1723 },
  ];

  it('keeps the ranges of a field whose offsets still point at their text', () => {
    expect(rangesOf(matches, 'title', 'Rare-earth race')).toEqual([{ start: 0, end: 10 }]);
  });

  it('lists the other fields once, arrays with their index', () => {
    expect(otherMatches(matches, ['title', 'summary'])).toEqual([
      { field: 'commodities[1]', text: 'dysprosium' },
      { field: 'body', text: 'export controls' },
    ]);
  });
});
