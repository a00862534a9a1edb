import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Alert, MatchExplanation } from '../../src/alerts/alert.ts';
import { alertIdOf, createAlertEngine } from '../../src/alerts/alert-engine.ts';
import type { OwnerGroupChange, OwnerGroupRow } from '../../src/alerts/owner-step.ts';
import type { IntelEvent } from '../../src/ingest/event-schema.ts';
import type { CompiledRule, RuleMatch } from '../../src/rules/compiled-rule.ts';
import { parseDuration, type RuleInput, ruleSchema } from '../../src/rules/rule-schema.ts';

// The engine only reads a rule's id, definition and durations; the query is the matcher's business.
function ruleOf(input: Partial<RuleInput> & { id: string }): CompiledRule {
  const definition = ruleSchema.parse({ name: input.id, query: 'x', ...input });
  return {
    id: definition.id,
    definition,
    origin: 'test',
    query: { kind: 'test' } as unknown as CompiledRule['query'],
    ...(definition.threshold ? { withinMs: parseDuration(definition.threshold.within) } : {}),
    ...(definition.throttle ? { throttleMs: parseDuration(definition.throttle) } : {}),
  };
}

const t0 = Date.parse('2026-07-02T00:00:00Z');
const at = (minutes: number) => new Date(t0 + minutes * 60_000).toISOString();

function eventOf(id: string, minutes: number, extra: Record<string, unknown> = {}): IntelEvent {
  return { id, publishedAt: at(minutes), title: `brief ${id}`, ...extra } as IntelEvent;
}

const explanation = (id: string): MatchExplanation[] => [
  { field: 'title', text: id, start: 6, end: 6 + id.length },
];

/** Runs events through the engine, every event matching every rule; returns compact alerts. */
/** The engine as one-shot runs use it: plain-rule dedup in memory (the service leaves it to the store). */
const engineOf = (rows?: OwnerGroupRow[]) => createAlertEngine(rows, { dedupIds: true });

function run(rules: CompiledRule[], events: IntelEvent[], engine = engineOf()) {
  const out: { rule: string; group: string | null; ids: string[]; suppressed: boolean }[] = [];
  for (const event of events) {
    const matches: RuleMatch[] = rules.map((rule) => ({ rule, matches: explanation(event.id) }));
    for (const alert of engine.process(event, matches)) {
      out.push({ rule: alert.ruleId, group: alert.group, ids: alert.eventIds, suppressed: alert.suppressed });
    }
  }
  return out;
}

describe('plain rules', () => {
  it('alerts once per matching event, with the rule as its group', () => {
    const engine = engineOf();
    const rule = ruleOf({ id: 'plain', severity: 'high', tags: ['t'] });
    const event = eventOf('e1', 5, { summary: 's', source: { name: 'Nikkei' }, body: 'long' });
    const [alert, ...rest] = engine.process(event, [{ rule, matches: explanation('e1') }]);
    expect(rest).toEqual([]);
    expect(alert).toEqual<Alert>({
      id: alertIdOf('plain', '', ['e1']),
      ruleId: 'plain',
      ruleName: 'plain',
      severity: 'high',
      tags: ['t'],
      group: null,
      eventIds: ['e1'],
      eventTime: at(5),
      matches: explanation('e1'),
      event: { id: 'e1', title: 'brief e1', publishedAt: at(5), summary: 's', source: { name: 'Nikkei' } },
      suppressed: false,
    });
  });

  it('keeps the rules in the order the matcher gave them', () => {
    const rules = [ruleOf({ id: 'b' }), ruleOf({ id: 'a' })];
    expect(run(rules, [eventOf('e1', 0)]).map((alert) => alert.rule)).toEqual(['b', 'a']);
  });

  it.each([
    ['a redelivered event', ['e1', 'e1'], [['e1']]],
    ['a redelivery after other events', ['e1', 'e2', 'e1', 'e3', 'e2'], [['e1'], ['e2'], ['e3']]],
  ])('ignores %s', (_name, ids, expected) => {
    const events = ids.map((id, index) => eventOf(id, index));
    expect(run([ruleOf({ id: 'plain' })], events).map((alert) => alert.ids)).toEqual(expected);
  });

  it('dedups per rule: another rule still sees the event', () => {
    const engine = engineOf();
    const a = ruleOf({ id: 'a' });
    const b = ruleOf({ id: 'b' });
    expect(run([a], [eventOf('e1', 0)], engine)).toHaveLength(1);
    expect(run([a, b], [eventOf('e1', 0)], engine).map((alert) => alert.rule)).toEqual(['b']);
  });
});

describe('threshold', () => {
  const threshold = (count: number, within: string, groupBy?: string) =>
    ruleOf({ id: 'th', threshold: { count, within, ...(groupBy ? { groupBy } : {}) } });

  it.each<[string, [string, number][], string[][]]>([
    [
      'fires when count events are within the window, then empties',
      [
        ['a', 0],
        ['b', 10],
        ['c', 20],
        ['d', 30],
        ['e', 40],
      ],
      [['a', 'b', 'c']],
    ],
    [
      'drops events more than `within` before the newest',
      [
        ['a', 0],
        ['b', 50],
        ['c', 120],
        ['d', 130],
        ['e', 140],
      ],
      [['c', 'd', 'e']],
    ],
    [
      'keeps an event exactly `within` before the newest',
      [
        ['a', 0],
        ['b', 30],
        ['c', 60],
      ],
      [['a', 'b', 'c']],
    ],
    [
      'orders a late event by event time, oldest first',
      [
        ['a', 30],
        ['b', 0],
        ['c', 10],
      ],
      [['b', 'c', 'a']],
    ],
    [
      'keeps arrival order between events of the same time',
      [
        ['x', 10],
        ['y', 0],
        ['z', 10],
      ],
      [['y', 'x', 'z']],
    ],
    [
      'drops a late event that is already outside the window',
      [
        ['a', 120],
        ['b', 0],
        ['c', 125],
        ['d', 130],
      ],
      [['a', 'c', 'd']],
    ],
    [
      'never counts a redelivered event, before or after the group fired',
      [
        ['a', 0],
        ['a', 1],
        ['b', 2],
        ['c', 3],
        ['c', 4],
        ['a', 5],
        ['d', 6],
        ['e', 7],
        ['f', 8],
      ],
      [
        ['a', 'b', 'c'],
        ['d', 'e', 'f'],
      ],
    ],
  ])('%s', (_name, stream, expected) => {
    const events = stream.map(([id, minutes]) => eventOf(id, minutes));
    const alerts = run([threshold(3, '1h')], events);
    expect(alerts.map((alert) => alert.ids)).toEqual(expected);
    expect(alerts.every((alert) => alert.group === null)).toBe(true);
  });

  it('dates a threshold alert by its newest event, not the one that fired it', () => {
    const engine = engineOf();
    const rule = threshold(2, '1h');
    engine.process(eventOf('a', 30), [{ rule, matches: [] }]);
    const [alert] = engine.process(eventOf('b', 0), [{ rule, matches: explanation('b') }]);
    expect(alert).toMatchObject({ eventIds: ['b', 'a'], eventTime: at(30), matches: explanation('b') });
    expect(alert!.event.id).toBe('b');
  });

  const entities = (...names: string[]) => ({ entities: names.map((name) => ({ name, type: 'country' })) });

  it.each<[string, string, [string, Record<string, unknown>][], [string | null, string[]][]]>([
    [
      'counts an event once in the group of each value',
      'entities.name',
      [
        ['e1', entities('Japan', 'India')],
        ['e2', entities('India', 'China')],
        ['e3', entities('China', 'Japan')],
      ],
      [
        ['India', ['e1', 'e2']],
        ['China', ['e2', 'e3']],
        ['Japan', ['e1', 'e3']],
      ],
    ],
    [
      'fires the groups of one event in the order their values first appear in it',
      'entities.name',
      [
        ['e1', entities('Japan', 'India')],
        ['e2', entities('India', 'Japan', 'India')],
      ],
      [
        ['India', ['e1', 'e2']],
        ['Japan', ['e1', 'e2']],
      ],
    ],
    [
      'counts a value repeated in one event once',
      'regions',
      [
        ['e1', { regions: ['Asia', 'Asia'] }],
        ['e2', { regions: ['Europe'] }],
      ],
      [],
    ],
    [
      'counts an event with no value nowhere',
      'entities.name',
      [
        ['e1', {}],
        ['e2', entities()],
        ['e3', { entities: [{ type: 'company' }] }],
        ['e4', { entities: [{ name: null }, { name: '' }] }],
        ['e5', entities('Japan')],
      ],
      [],
    ],
    [
      'compares numbers by their JSON text and keeps strings apart from numbers',
      'meta.code',
      [
        ['e1', { meta: { code: 4 } }],
        ['e2', { meta: { code: '4' } }],
        ['e3', { meta: { code: 4.0 } }],
        ['e4', { meta: { code: '4' } }],
        ['e5', { meta: { code: true } }],
        ['e6', { meta: { code: [true, 0.5] } }],
      ],
      [
        ['4', ['e1', 'e3']],
        ['4', ['e2', 'e4']],
        ['true', ['e5', 'e6']],
      ],
    ],
    [
      'compares strings exactly, without analysis',
      'regions',
      [
        ['e1', { regions: ['East Asia'] }],
        ['e2', { regions: ['east asia'] }],
        ['e3', { regions: ['East  Asia'] }],
      ],
      [],
    ],
    [
      'flattens arrays at every level of the path',
      'deals.parties.name',
      [
        ['e1', { deals: [{ parties: [{ name: 'A' }, { name: 'B' }] }, { parties: { name: ['C'] } }] }],
        ['e2', { deals: { parties: [[{ name: 'C' }], { name: 'A' }] } }],
      ],
      [
        ['C', ['e1', 'e2']],
        ['A', ['e1', 'e2']],
      ],
    ],
  ])('%s', (_name, groupBy, stream, expected) => {
    const events = stream.map(([id, extra], index) => eventOf(id, index, extra));
    const alerts = run([threshold(2, '1d', groupBy)], events);
    expect(alerts.map((alert) => [alert.group, alert.ids])).toEqual(expected);
  });

  it('gives each group its own alert id', () => {
    const alerts = run(
      [threshold(1, '1h', 'regions')],
      [eventOf('e1', 0, { regions: ['Asia', 'Europe'] }), eventOf('e2', 0, { regions: [4, '4'] })],
    );
    expect(alerts.map((alert) => alert.group)).toEqual(['Asia', 'Europe', '4', '4']);
    const engine = engineOf();
    const rule = threshold(1, '1h', 'regions');
    const ids = engine
      .process(eventOf('e2', 0, { regions: [4, '4'] }), [{ rule, matches: [] }])
      .map((a) => a.id);
    expect(new Set(ids).size).toBe(2);
  });
});

describe('throttle', () => {
  it.each<[string, number[], boolean[]]>([
    [
      'suppresses alerts less than D after the last delivered one',
      [0, 30, 59, 60, 90, 121],
      [false, true, true, false, true, false],
    ],
    [
      'measures from the last delivered alert, not the last suppressed one',
      [0, 50, 100, 110],
      [false, true, false, true],
    ],
    ['suppresses a late event, however old', [100, -1000, 99, 160], [false, true, true, false]],
  ])('%s', (_name, minutes, expected) => {
    const rule = ruleOf({ id: 'thr', throttle: '1h' });
    const alerts = run(
      [rule],
      minutes.map((m, index) => eventOf(`e${index}`, m)),
    );
    expect(alerts.map((alert) => alert.suppressed)).toEqual(expected);
  });

  it('throttles each threshold group on its own', () => {
    const rule = ruleOf({
      id: 'tg',
      throttle: '6h',
      threshold: { count: 1, within: '1h', groupBy: 'regions' },
    });
    const alerts = run(
      [rule],
      [
        eventOf('e1', 0, { regions: ['Asia'] }),
        eventOf('e2', 10, { regions: ['Asia', 'Europe'] }),
        eventOf('e3', 365, { regions: ['Europe', 'Asia'] }),
      ],
    );
    expect(alerts.map((alert) => [alert.group, alert.suppressed])).toEqual([
      ['Asia', false],
      ['Asia', true],
      ['Europe', false],
      ['Europe', true],
      ['Asia', false],
    ]);
  });

  it('throttles a threshold alert by its newest event time', () => {
    const rule = ruleOf({ id: 'tt', throttle: '1h', threshold: { count: 2, within: '1d' } });
    const alerts = run(
      [rule],
      [
        eventOf('a', 0),
        eventOf('b', 10),
        eventOf('c', 65),
        eventOf('d', 20),
        eventOf('e', 200),
        eventOf('f', 130),
      ],
    );
    expect(alerts.map((alert) => [alert.ids, alert.suppressed])).toEqual([
      [['a', 'b'], false],
      [['d', 'c'], true],
      [['f', 'e'], false],
    ]);
  });
});

// A mixed workload for the state tests: plain, throttled, threshold with and without groupBy.
const mixedRules = [
  ruleOf({ id: 'plain' }),
  ruleOf({ id: 'throttled', throttle: '2h' }),
  ruleOf({ id: 'counted', threshold: { count: 3, within: '3h' } }),
  ruleOf({ id: 'grouped', throttle: '1h', threshold: { count: 2, within: '2h', groupBy: 'regions' } }),
];
const regionPool = ['Asia', 'Europe', 'Africa', 'Americas'];

const streamArbitrary = fc.array(
  fc.record({
    id: fc.integer({ min: 0, max: 40 }),
    minutes: fc.integer({ min: 0, max: 600 }),
    regions: fc.subarray(regionPool),
    rules: fc.subarray(mixedRules, { minLength: 1 }),
  }),
  { maxLength: 60 },
);
type Step = { id: number; minutes: number; regions: string[]; rules: CompiledRule[] };

function feed(engine: ReturnType<typeof createAlertEngine>, steps: Step[]): Alert[] {
  return steps.flatMap((step) =>
    engine.process(
      eventOf(`e${step.id}`, step.minutes, { regions: step.regions }),
      step.rules.map((rule) => ({ rule, matches: explanation(`e${step.id}`) })),
    ),
  );
}

/** What a store does with `takeChanges`: the reference for incremental persistence. */
function applyChanges(store: Map<string, OwnerGroupRow>, changes: OwnerGroupChange[]): void {
  for (const { tenantId, ruleId, group, state } of changes) {
    const key = JSON.stringify([tenantId, ruleId, group]);
    if (state) store.set(key, { tenantId, ruleId, group, state });
    else store.delete(key);
  }
}

const rowsOf = (store: Map<string, OwnerGroupRow>) =>
  [...store.values()].sort((a, b) => (a.ruleId + a.group < b.ruleId + b.group ? -1 : 1));

describe('state', () => {
  it('restored from JSON halfway, gives the same alerts as one run', () => {
    fc.assert(
      fc.property(streamArbitrary, fc.nat(), (steps, cut) => {
        const split = steps.length === 0 ? 0 : cut % (steps.length + 1);
        const whole = feed(engineOf(), steps);
        const first = engineOf();
        const before = feed(first, steps.slice(0, split));
        const saved = JSON.parse(JSON.stringify(first.rows())) as OwnerGroupRow[];
        // Plain-rule dedup lives in the store, not the engine state: carry the ids given.
        const resumed = engineOf(saved);
        feed(
          resumed,
          steps
            .slice(0, split)
            .map((step) => ({ ...step, rules: step.rules.filter((r) => r.id === 'plain') })),
        );
        const after = feed(resumed, steps.slice(split));
        expect([...before, ...after]).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it('takeChanges, applied in order, rebuild the state', () => {
    fc.assert(
      fc.property(
        streamArbitrary,
        fc.array(fc.constantFrom(...mixedRules.map((r) => r.id))),
        (steps, forget) => {
          const engine = createAlertEngine();
          const store = new Map<string, OwnerGroupRow>();
          steps.forEach((step, index) => {
            feed(engine, [step]);
            if (forget[index]) engine.forgetRule(forget[index]);
            if (index % 3 === 0) applyChanges(store, engine.takeChanges());
          });
          applyChanges(store, engine.takeChanges());
          expect(rowsOf(store)).toEqual(
            rowsOf(new Map(engine.rows().map((row) => [row.ruleId + row.group, row]))),
          );
          expect(engine.takeChanges()).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps no state for a plain rule; a stateful group keeps its window, mark and counted ids', () => {
    const engine = createAlertEngine();
    feed(engine, [{ id: 1, minutes: 0, regions: ['Asia'], rules: mixedRules }]);
    const changes = engine.takeChanges();
    expect(changes.map((change) => change.ruleId)).toEqual(['throttled', 'counted', 'grouped']);
    expect(changes[2]).toEqual({
      tenantId: 'default',
      ruleId: 'grouped',
      group: '"Asia"',
      state: expect.objectContaining({
        events: [{ id: 'e1', time: t0, publishedAt: at(0) }],
        seen: { e1: t0 },
        newest: t0,
      }),
    });
    feed(engine, [{ id: 2, minutes: 5, regions: ['Asia'], rules: [mixedRules[3]!] }]);
    expect(engine.takeChanges()).toEqual([
      {
        tenantId: 'default',
        ruleId: 'grouped',
        group: '"Asia"',
        state: expect.objectContaining({
          events: [],
          lastAlertTime: t0 + 5 * 60_000,
          seen: { e1: t0, e2: t0 + 5 * 60_000 },
        }),
      },
    ]);
  });

  it("a group's ledger drops ids past the window and throttle: memory follows live groups, not events", () => {
    const rule = ruleOf({ id: 'burst', threshold: { count: 1000, within: '10m' } });
    const engine = createAlertEngine();
    for (let i = 0; i < 5000; i++) {
      engine.process(eventOf(`e${i}`, i, {}), [{ rule, matches: explanation(`e${i}`) }]);
    }
    const [row] = engine.rows();
    expect(Object.keys(row!.state.seen).length).toBeLessThanOrEqual(2 * 11 + 16);
    expect(row!.state.events.length).toBeLessThanOrEqual(11);
    // A recent id still counts once only.
    expect(engine.process(eventOf('e4999', 4999), [{ rule, matches: [] }])).toEqual([]);
    // A group nothing can change any more is swept.
    expect(engine.sweep(t0 + 5000 * 60_000 + 21 * 60_000)).toBe(1);
    expect(engine.size()).toBe(0);
  });

  it('a redefined rule (new version) starts its groups afresh', () => {
    const before = ruleOf({ id: 'r', threshold: { count: 2, within: '1h' } });
    const after = ruleOf({ id: 'r', threshold: { count: 3, within: '1h' } });
    const engine = createAlertEngine();
    expect(engine.process(eventOf('e1', 0), [{ rule: before, matches: [] }])).toEqual([]);
    expect(engine.process(eventOf('e2', 1), [{ rule: after, matches: [] }])).toEqual([]);
    expect(engine.process(eventOf('e3', 2), [{ rule: after, matches: [] }])).toEqual([]);
    expect(engine.process(eventOf('e4', 3), [{ rule: after, matches: [] }]).map((a) => a.eventIds)).toEqual([
      ['e2', 'e3', 'e4'],
    ]);
  });

  it('forgetRule drops the groups of a rule', () => {
    const engine = createAlertEngine();
    const steps = [1, 2].map((id) => ({ id, minutes: id, regions: ['Asia'], rules: mixedRules }));
    expect(feed(engine, steps).map((alert) => alert.ruleId)).toEqual([
      'plain',
      'throttled',
      'plain',
      'throttled',
      'grouped',
    ]);
    engine.forgetRule('counted');
    engine.forgetRule('throttled');
    expect(
      engine
        .takeChanges()
        .filter((change) => change.state === null)
        .map((change) => change.ruleId),
    ).toEqual(['throttled', 'counted']);
    expect(engine.rows().map((row) => row.ruleId)).toEqual(['grouped']);
    // Plain alerts come again (the store drops their ids); 'grouped' remembers both events.
    expect(feed(engine, steps).map((alert) => alert.ruleId)).toEqual([
      'plain',
      'throttled',
      'plain',
      'throttled',
    ]);
  });

  it('records nothing for takeChanges when tracking is off', () => {
    const engine = createAlertEngine(undefined, { trackChanges: false });
    feed(engine, [{ id: 1, minutes: 0, regions: ['Asia'], rules: mixedRules }]);
    expect(engine.takeChanges()).toEqual([]);
    expect(engine.rows()).toHaveLength(3);
  });
});

describe('alert ids', () => {
  // The ids are persisted: they must stay the first 32 hex digits of the SHA-256 of this JSON text.
  const reference = (ruleId: string, group: string, eventIds: string[]) =>
    createHash('sha256')
      .update(JSON.stringify([ruleId, group, eventIds]))
      .digest('hex')
      .slice(0, 32);

  it('keep their value', () => {
    expect(alertIdOf('plain', '', ['e1'])).toBe(reference('plain', '', ['e1']));
    expect(alertIdOf('r"\\', '"Asia"', ['a\u0001', 'é\ud800', '😀'])).toBe(
      reference('r"\\', '"Asia"', ['a\u0001', 'é\ud800', '😀']),
    );
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.string(),
        fc.array(fc.string({ unit: 'binary' })),
        (r, g, ids) => {
          expect(alertIdOf(r, g, ids)).toBe(reference(r, g, ids));
        },
      ),
    );
  });

  it('of plain and threshold alerts are the ones alertIdOf gives', () => {
    const rules = [
      ruleOf({ id: 'p-1' }),
      ruleOf({ id: 't', threshold: { count: 2, within: '1h', groupBy: 'regions' } }),
    ];
    const engine = engineOf();
    const alerts = [
      eventOf('e"1', 0, { regions: ['Asia'] }),
      eventOf('e\u00022', 1, { regions: ['Asia'] }),
    ].flatMap((event) =>
      engine.process(
        event,
        rules.map((rule) => ({ rule, matches: explanation(event.id) })),
      ),
    );
    expect(alerts.map((alert) => alert.id)).toEqual([
      reference('p-1', '', ['e"1']),
      reference('p-1', '', ['e\u00022']),
      reference('t', '"Asia"', ['e"1', 'e\u00022']),
    ]);
  });
});
