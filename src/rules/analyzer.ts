/**
 * Text analysis (shared/spec/rule-language.md, "Text analysis"): Unicode NFKD, combining
 * marks (category M) removed, lower case; tokens are the maximal runs of letters and digits
 * (`\p{L}`, `\p{N}`). Event values and query words go through this same function, so
 * `Zürich` in a rule matches `ZURICH` in an event.
 *
 * This is the hot path (every string value of every event), so it is a hand-written scanner:
 * ASCII goes through a lookup table and a token that stays ASCII is one `slice` of the input;
 * a non-ASCII code point is normalised on its own (NFKD decomposes code point by code
 * point, and the canonical reordering it adds only moves marks, which we drop) and the result
 * is cached. Offsets always refer to the ORIGINAL string in UTF-16 code units: a token starts
 * at the first code point that contributed to it and ends after the last one (a combining mark
 * right after a token extends it, so `cafe\u0301` highlights the accent too).
 */

/** The tokens of one string value, as parallel arrays: `terms[i]` spans `text.slice(starts[i], ends[i])`. */
export type AnalyzedText = {
  /** The original, un-normalised value. */
  readonly text: string;
  readonly terms: string[];
  readonly starts: number[];
  readonly ends: number[];
};

/** 0: separator, 1: lower-case letter or digit, 2: upper-case letter. */
const asciiClass = new Uint8Array(128);
for (let c = 48; c <= 57; c++) asciiClass[c] = 1;
for (let c = 97; c <= 122; c++) asciiClass[c] = 1;
for (let c = 65; c <= 90; c++) asciiClass[c] = 2;

const SPACE = 32;
const isMark = /^\p{M}$/u;
const isLetterOrDigit = /^[\p{L}\p{N}]$/u;

/**
 * What one non-ASCII code point becomes: its letters and digits, normalised and lower-cased,
 * with a space wherever it holds a separator (`½` → `1 2`); `''` when it is only marks.
 */
const mappedCodePoints = new Map<number, string>();

function mapCodePoint(cp: number): string {
  let mapped = mappedCodePoints.get(cp);
  if (mapped !== undefined) return mapped;
  mapped = '';
  for (const part of String.fromCodePoint(cp).normalize('NFKD')) {
    if (isMark.test(part)) continue;
    if (!isLetterOrDigit.test(part)) {
      mapped += ' ';
      continue;
    }
    // Lower-casing can itself produce marks (`İ` → `i̇`); drop them as well.
    for (const lower of part.toLowerCase()) {
      if (isMark.test(lower)) continue;
      mapped += isLetterOrDigit.test(lower) ? lower : ' ';
    }
  }
  mappedCodePoints.set(cp, mapped);
  return mapped;
}

/** Analyses one string value into tokens with offsets into the original string. */
export function analyzeText(text: string): AnalyzedText {
  const terms: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const n = text.length;
  // The token being read: [tokenStart, tokenEnd) of the original; `built` holds its normalised
  // text once it stopped being a plain ASCII slice, `hasUpper` whether the slice needs lowering.
  let tokenStart = -1;
  let tokenEnd = -1;
  let built: string | null = null;
  let hasUpper = false;

  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c < 128) {
      const kind = asciiClass[c]!;
      if (kind === 0) {
        if (tokenStart >= 0) {
          if (built === null) {
            const slice = text.slice(tokenStart, tokenEnd);
            terms.push(hasUpper ? slice.toLowerCase() : slice);
          } else {
            terms.push(built);
          }
          starts.push(tokenStart);
          ends.push(tokenEnd);
          tokenStart = -1;
        }
        i++;
        continue;
      }
      if (tokenStart < 0) {
        tokenStart = i;
        built = null;
        hasUpper = false;
      }
      if (built !== null) built += kind === 2 ? String.fromCharCode(c + 32) : text[i];
      else if (kind === 2) hasUpper = true;
      tokenEnd = ++i;
      continue;
    }

    let cp = c;
    let width = 1;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = (c - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
        width = 2;
      }
    }
    const mapped = mapCodePoint(cp);
    const after = i + width;
    for (let j = 0; j < mapped.length; ) {
      if (mapped.charCodeAt(j) === SPACE) {
        if (tokenStart >= 0) {
          if (built === null) {
            const slice = text.slice(tokenStart, tokenEnd);
            terms.push(hasUpper ? slice.toLowerCase() : slice);
          } else {
            terms.push(built);
          }
          starts.push(tokenStart);
          ends.push(tokenEnd);
          tokenStart = -1;
        }
        j++;
        continue;
      }
      let k = j + 1;
      while (k < mapped.length && mapped.charCodeAt(k) !== SPACE) k++;
      const piece = mapped.slice(j, k);
      if (tokenStart < 0) {
        tokenStart = i;
        built = piece;
      } else if (built === null) {
        const slice = text.slice(tokenStart, i);
        built = (hasUpper ? slice.toLowerCase() : slice) + piece;
      } else {
        built += piece;
      }
      tokenEnd = after;
      j = k;
    }
    // A code point that is only marks extends the token it follows (and is skipped otherwise);
    // the token's text can no longer be a slice of the original, which holds the mark.
    if (mapped.length === 0 && tokenStart >= 0) {
      if (built === null) {
        const slice = text.slice(tokenStart, i);
        built = hasUpper ? slice.toLowerCase() : slice;
      }
      tokenEnd = after;
    }
    i = after;
  }
  if (tokenStart >= 0) {
    if (built === null) {
      const slice = text.slice(tokenStart, tokenEnd);
      terms.push(hasUpper ? slice.toLowerCase() : slice);
    } else {
      terms.push(built);
    }
    starts.push(tokenStart);
    ends.push(tokenEnd);
  }
  return { text, terms, starts, ends };
}

/** The tokens alone, for query words and tests. */
export function analyzeTerms(text: string): string[] {
  return analyzeText(text).terms;
}
