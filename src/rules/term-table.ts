import { defaultFields, type WordPattern } from './query-ast.ts';

/**
 * The words rules look up — one entry per distinct exact token or prefix, shared by all rules
 * of a rule index — and, while the index scans an event, where their occurrences in it are
 * recorded.
 *
 * Memory layout is the point: matching is bound by memory accesses, not arithmetic. Entries
 * are small integer ids; the maps give ids, and an entry's per-event state lives in one
 * interleaved `Int32Array` (one cache line serves two entries), stamped with the event's epoch
 * so nothing is cleared between events. Occurrences go to two append-only logs shared by all
 * entries (each record links to the entry's next one): the first occurrence per field slot of
 * every entry, and every occurrence of the entries phrases and NEAR read. Reading an entry's
 * occurrences follows its links, which come in scan order: field slot, value, token.
 *
 * Field slots: the default fields are slots 0–9 in their spec order, other fields rules name
 * get the next slots. `DEFAULT_SLOT` stands for "any default field".
 */

export const DEFAULT_SLOT = -1;
export const defaultCount = defaultFields.length;

/** Per-entry state, `STRIDE` ints each. */
const STRIDE = 8;
export const EPOCH = 0;
export const LAST_SLOT = 1;
export const FIRST_HEAD = 2;
export const FIRST_TAIL = 3;
export const ALL_HEAD = 4;
export const ALL_TAIL = 5;
/** In how many events it occurred in a default field (learned selectivity). */
export const DF_DEFAULT = 6;

/** Log records: field slot, value index, token index, next record of the entry (or -1). */
export const RECORD = 4;
/** Field slots below this also learn per-slot occurrence counts. */
export const LEARNED_SLOTS = 16;

/** Distinct event tokens whose matching entries are remembered. */
const maxCachedTokens = 200_000;

/** Presearch postings for occurrences in one field slot (see rule-index.ts for the encoding). */
export type FieldPostings = { readonly fieldSlot: number; readonly postings: number[] };

export function isWanted(fieldSlot: number, wanted: number): boolean {
  return wanted === DEFAULT_SLOT ? fieldSlot < defaultCount : fieldSlot === wanted;
}

/**
 * The bucket of a prefix (or token) by its first three UTF-16 units, folded into a small
 * integer so that no number is allocated per token; different heads may share a bucket.
 */
export function headKey(text: string): number {
  return (
    ((text.charCodeAt(0) & 0x3ff) << 20) | ((text.charCodeAt(1) & 0x3ff) << 10) | (text.charCodeAt(2) & 0x3ff)
  );
}

export type TermTable = ReturnType<typeof createTermTable>;

export function createTermTable() {
  const exact = new Map<string, number>();
  const prefixes = new Map<string, number>();
  /** Prefix entry ids by `headKey`: a token of three units or more looks into one bucket. */
  const prefixHeads = new Map<number, number[]>();

  let capacity = 0;
  const tokens: string[] = [];
  const isPrefix: boolean[] = [];
  let refs = new Int32Array(0);
  /** References from phrases and NEAR operands, which need every occurrence, not only the first. */
  let positional = new Int32Array(0);
  /** Presearch postings for occurrences in a default field, and in named fields. */
  const postings: number[][] = [];
  const scoped: (FieldPostings[] | null)[] = [];
  const free: number[] = [];

  /**
   * The entries each token seen in events matches (its exact entry, then the prefixes it
   * starts with): one lookup per token instead of one per map and a walk of a prefix bucket.
   * Events reuse a bounded vocabulary, so this fills up and then mostly hits; it is emptied when
   * an entry comes or goes, and when it grows past `maxCachedTokens`.
   */
  const matchCache = new Map<string, readonly number[]>();
  const noMatch: readonly number[] = Object.freeze([]);

  const table = {
    exact,
    prefixes,
    prefixHeads,
    tokens,
    isPrefix,
    postings,
    scoped,
    /** Per-entry per-event state (see the offsets above). */
    state: new Int32Array(0),
    /** Occurrences per entry and learned field slot, for selectivity. */
    slotCounts: new Int32Array(0),
    positional,
    firstLog: new Int32Array(4_096),
    firstLogSize: 0,
    allLog: new Int32Array(4_096),
    allLogSize: 0,
    /** The event being scanned; entries whose `EPOCH` differs have no occurrence in it. */
    epoch: 0,

    lookup(word: WordPattern): number | undefined {
      return (word.prefix ? prefixes : exact).get(word.token);
    },

    /** The id of a word's entry, created when new; the caller holds one reference until `release`. */
    acquire(word: WordPattern, isPositional: boolean): number {
      const map = word.prefix ? prefixes : exact;
      let id = map.get(word.token);
      if (id === undefined) {
        id = free.pop() ?? tokens.length;
        if (id >= capacity) grow(Math.max(64, capacity * 2));
        tokens[id] = word.token;
        isPrefix[id] = word.prefix;
        postings[id] = [];
        scoped[id] = null;
        table.state.fill(0, id * STRIDE, (id + 1) * STRIDE);
        table.slotCounts.fill(0, id * LEARNED_SLOTS, (id + 1) * LEARNED_SLOTS);
        map.set(word.token, id);
        matchCache.clear();
        if (word.prefix) {
          const key = headKey(word.token);
          const bucket = prefixHeads.get(key);
          if (bucket === undefined) prefixHeads.set(key, [id]);
          else bucket.push(id);
        }
      }
      refs[id]!++;
      if (isPositional) positional[id]!++;
      return id;
    },

    release(id: number, isPositional: boolean): void {
      if (isPositional) positional[id]!--;
      if (--refs[id]! > 0) return;
      const token = tokens[id]!;
      if (isPrefix[id]) {
        prefixes.delete(token);
        const key = headKey(token);
        const bucket = prefixHeads.get(key)!.filter((other) => other !== id);
        if (bucket.length === 0) prefixHeads.delete(key);
        else prefixHeads.set(key, bucket);
      } else {
        exact.delete(token);
      }
      postings[id] = [];
      scoped[id] = null;
      free.push(id);
      matchCache.clear();
    },

    /** The entries a token matches: its exact entry and the prefixes it starts with. */
    matchesOf(token: string): readonly number[] {
      let ids = matchCache.get(token);
      if (ids !== undefined) return ids;
      const found: number[] = [];
      const id = exact.get(token);
      if (id !== undefined) found.push(id);
      if (token.length >= 3) {
        const bucket = prefixHeads.get(headKey(token));
        if (bucket !== undefined)
          for (const prefix of bucket) if (token.startsWith(tokens[prefix]!)) found.push(prefix);
      }
      ids = found.length === 0 ? noMatch : found;
      if (matchCache.size >= maxCachedTokens) matchCache.clear();
      matchCache.set(token, ids);
      return ids;
    },

    /** Ids of the entries in use. */
    ids(): number[] {
      return [...exact.values(), ...prefixes.values()];
    },

    /** Starts recording a new event. */
    beginEvent(): void {
      if (++table.epoch === 0x7fffffff) table.resetEpochs();
      table.firstLogSize = 0;
      table.allLogSize = 0;
      // Do not keep huge logs alive because one event was huge.
      if (table.firstLog.length > 1 << 20) table.firstLog = new Int32Array(4_096);
      if (table.allLog.length > 1 << 20) table.allLog = new Int32Array(4_096);
    },

    /** Forgets every stamp and restarts the epochs at 1 (practically never: every 2^27 events). */
    resetEpochs(): void {
      table.epoch = 1;
      for (let id = 0; id < capacity; id++) table.state[id * STRIDE + EPOCH] = 0;
    },

    /** Whether the entry occurred in this event. */
    occurred(id: number): boolean {
      return table.state[id * STRIDE + EPOCH] === table.epoch;
    },

    /** The log index of the entry's first occurrence in a wanted field slot this event, or -1. */
    firstWanted(id: number, wanted: number): number {
      const state = table.state;
      if (state[id * STRIDE + EPOCH] !== table.epoch) return -1;
      const log = table.firstLog;
      for (let at = state[id * STRIDE + FIRST_HEAD]!; at >= 0; at = log[at + 3]!) {
        if (isWanted(log[at]!, wanted)) return at;
      }
      return -1;
    },

    /** How often (0–1) the entry occurred in a field slot (DEFAULT_SLOT: any default field) over `events`. */
    rate(id: number, fieldSlot: number, events: number): number {
      let seen: number;
      if (fieldSlot === DEFAULT_SLOT) seen = table.state[id * STRIDE + DF_DEFAULT]!;
      else if (fieldSlot < LEARNED_SLOTS) seen = table.slotCounts[id * LEARNED_SLOTS + fieldSlot]!;
      else seen = table.state[id * STRIDE + DF_DEFAULT]!;
      return (seen + 0.5) / (events + 1);
    },
  };

  function grow(size: number): void {
    const copy = <T extends Int32Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    refs = copy(refs, new Int32Array(size));
    positional = copy(positional, new Int32Array(size));
    table.positional = positional;
    table.state = copy(table.state, new Int32Array(size * STRIDE));
    table.slotCounts = copy(table.slotCounts, new Int32Array(size * LEARNED_SLOTS));
    capacity = size;
  }

  return table;
}

/** Appends an occurrence record to a log, growing it when full; returns the log. */
export function appendRecord(
  log: Int32Array<ArrayBuffer>,
  at: number,
  fieldSlot: number,
  valueIndex: number,
  token: number,
): Int32Array<ArrayBuffer> {
  let target = log;
  if (at + RECORD > log.length) {
    target = new Int32Array(log.length * 2);
    target.set(log);
  }
  target[at] = fieldSlot;
  target[at + 1] = valueIndex;
  target[at + 2] = token;
  target[at + 3] = -1;
  return target;
}

export const stateStride = STRIDE;
