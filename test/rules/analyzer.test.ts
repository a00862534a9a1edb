import { describe, expect, it } from 'vitest';
import { analyzeText } from '../../src/rules/analyzer.ts';

/** Each token with the original text it spans. */
function tokens(text: string): [string, string][] {
  const analysed = analyzeText(text);
  return analysed.terms.map((term, i) => [term, text.slice(analysed.starts[i], analysed.ends[i])]);
}

describe('analyzeText', () => {
  it.each([
    [
      'lower case',
      'Rare Earth',
      [
        ['rare', 'Rare'],
        ['earth', 'Earth'],
      ],
    ],
    [
      'hyphen separates',
      'rare-earth',
      [
        ['rare', 'rare'],
        ['earth', 'earth'],
      ],
    ],
    [
      'slash separates',
      'RARE/EARTH',
      [
        ['rare', 'RARE'],
        ['earth', 'EARTH'],
      ],
    ],
    [
      'abbreviation',
      'U.S.',
      [
        ['u', 'U'],
        ['s', 'S'],
      ],
    ],
    [
      'curly apostrophe',
      'Japan’s',
      [
        ['japan', 'Japan'],
        ['s', 's'],
      ],
    ],
    [
      'straight apostrophe',
      "Japan's",
      [
        ['japan', 'Japan'],
        ['s', 's'],
      ],
    ],
    ['precomposed diacritic', 'Zürich', [['zurich', 'Zürich']]],
    ['decomposed diacritic', 'Zu\u0308rich', [['zurich', 'Zu\u0308rich']]],
    ['upper case diacritic', 'ZÜRICH', [['zurich', 'ZÜRICH']]],
    [
      'French',
      'Société Générale',
      [
        ['societe', 'Société'],
        ['generale', 'Générale'],
      ],
    ],
    [
      'ligature (NFKD longer than the input)',
      'ﬁnance oﬃce',
      [
        ['finance', 'ﬁnance'],
        ['office', 'oﬃce'],
      ],
    ],
    [
      'trailing combining mark stays in the span',
      'cafe\u0301 au lait',
      [
        ['cafe', 'cafe\u0301'],
        ['au', 'au'],
        ['lait', 'lait'],
      ],
    ],
    [
      'emoji separates, surrogate pair offsets',
      '🚢export🚢 ban',
      [
        ['export', 'export'],
        ['ban', 'ban'],
      ],
    ],
    [
      'digits are token characters',
      'Q3 2026-07-01',
      [
        ['q3', 'Q3'],
        ['2026', '2026'],
        ['07', '07'],
        ['01', '01'],
      ],
    ],
    [
      'compatibility digits',
      '½ ²',
      [
        ['1', '½'],
        ['2', '½'],
        ['2', '²'],
      ],
    ],
    ['Turkish dotted capital I', 'İstanbul', [['istanbul', 'İstanbul']]],
    [
      'non-Latin letters',
      'Москва 東京',
      [
        ['москва', 'Москва'],
        ['東京', '東京'],
      ],
    ],
    ['punctuation only', '— “” !?', []],
    ['empty', '', []],
  ] as const)('%s', (_, text, expected) => {
    expect(tokens(text)).toEqual(expected);
  });

  it('gives offsets in UTF-16 code units of the original string', () => {
    const text = '😀 Zu\u0308rich ﬁnal';
    const analysed = analyzeText(text);
    expect(analysed.terms).toEqual(['zurich', 'final']);
    expect(analysed.starts).toEqual([3, 11]);
    expect(analysed.ends).toEqual([10, 15]);
  });

  it('treats a lone surrogate as a separator', () => {
    expect(analyzeText('ab\ud800cd').terms).toEqual(['ab', 'cd']);
  });

  it('analyses a long ASCII text token by token', () => {
    const text = 'Export controls on rare earths, '.repeat(2_000);
    const analysed = analyzeText(text);
    expect(analysed.terms.length).toBe(10_000);
    expect(analysed.terms.slice(0, 5)).toEqual(['export', 'controls', 'on', 'rare', 'earths']);
    expect(analysed.starts[5]).toBe(32);
  });
});
