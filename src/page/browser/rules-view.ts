/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { stringify } from 'yaml';
import { highlightText } from './alert-feed.ts';
import { errorMessage, type PageApi } from './page-api.ts';
import { type DayCount, renderDayChart } from './preview-chart.ts';

/**
 * The Rules view of the workbench: every rule with its alert counts (24 h, 7 d); an editor
 * for the rule YAML that marks problems at their line and column as one types (debounced
 * `POST /v1/rules/validate`); "Preview" runs the draft over the recent briefs
 * (`POST /v1/rules/preview`) and shows the per-day counts and the matched briefs with the
 * matched text marked; "Save", "Enable", "Disable", "Delete" call the rules API. File rules
 * are shown read-only; a key without the editor role sees the whole view read-only (the
 * edit controls are not there at all).
 */

type Match = { field: string; text: string; start: number; end: number; index?: number };
type RuleRecord = {
  id: string;
  origin: 'file' | 'api';
  file: string | null;
  enabled: boolean;
  document: Record<string, unknown> & { id: string; name: string };
};
type RuleStats = { ruleId: string; last24h: number; last7d: number };
type Problem = { line?: number; column?: number; message: string };
type Validation = { valid: boolean; problems: Problem[]; document?: Record<string, unknown> };
type Sample = {
  event: { id: string; title: string; summary?: string; publishedAt: string };
  matches: Match[];
};
type Preview = {
  scannedEvents: number;
  matchedEvents: number;
  alertCount: number;
  perDay: DayCount[];
  samples: Sample[];
};

const byId = <T extends HTMLElement | SVGSVGElement>(id: string) => document.getElementById(id) as T;
const validateDelayMs = 300;
const newRuleText = 'id: my-rule\nname: My rule\nseverity: medium\nquery: |\n  copper AND smelter*\n';

function cell(text: string, className = ''): HTMLTableCellElement {
  const td = document.createElement('td');
  td.className = className;
  td.textContent = text;
  return td;
}

/** A matched brief: title and summary with their matches marked, matches elsewhere listed. */
function renderSample(sample: Sample): HTMLLIElement {
  const item = document.createElement('li');
  item.className = 'alert sample';
  item.dataset.eventId = sample.event.id;
  const rangesOf = (field: string) => sample.matches.filter((match) => match.field === field);
  const title = document.createElement('h3');
  title.className = 'alert-title';
  title.append(highlightText(sample.event.title, rangesOf('title')));
  const time = document.createElement('time');
  time.className = 'received';
  time.dateTime = sample.event.publishedAt;
  time.textContent = sample.event.publishedAt.slice(0, 16).replace('T', ' ');
  item.append(time, title);
  if (sample.event.summary) {
    const summary = document.createElement('p');
    summary.className = 'alert-summary';
    summary.append(highlightText(sample.event.summary, rangesOf('summary')));
    item.append(summary);
  }
  const elsewhere = sample.matches.filter((match) => match.field !== 'title' && match.field !== 'summary');
  if (elsewhere.length > 0) {
    const matched = document.createElement('p');
    matched.className = 'alert-matched';
    matched.append('matched ');
    const seen = new Set<string>();
    for (const match of elsewhere) {
      const key = `${match.field}\u0000${match.text.toLowerCase()}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const field = document.createElement('span');
      field.className = 'field';
      field.textContent = match.field;
      const mark = document.createElement('mark');
      mark.textContent = match.text;
      matched.append(field, ' ', mark, ' ');
    }
    item.append(matched);
  }
  return item;
}

export function createRulesView(options: { api: PageApi; canEdit: boolean }) {
  const { api, canEdit } = options;
  const table = byId<HTMLTableSectionElement>('rules-body');
  const text = byId<HTMLTextAreaElement>('rule-text');
  const gutter = byId<HTMLPreElement>('rule-gutter');
  const problemsList = byId<HTMLUListElement>('rule-problems');
  const title = byId<HTMLHeadingElement>('editor-title');
  const note = byId<HTMLParagraphElement>('editor-note');
  const status = byId<HTMLOutputElement>('rule-status');
  const previewPanel = byId<HTMLElement>('preview');
  const previewCounts = byId<HTMLSpanElement>('preview-counts');
  const previewChart = byId<SVGSVGElement>('preview-chart');
  const previewSamples = byId<HTMLOListElement>('preview-samples');
  const buttons = {
    add: byId<HTMLButtonElement>('new-rule'),
    preview: byId<HTMLButtonElement>('rule-preview'),
    save: byId<HTMLButtonElement>('rule-save'),
    enable: byId<HTMLButtonElement>('rule-enable'),
    disable: byId<HTMLButtonElement>('rule-disable'),
    remove: byId<HTMLButtonElement>('rule-delete'),
  };

  let rules: RuleRecord[] = [];
  /** The rule in the editor; undefined: a new draft. */
  let current: RuleRecord | undefined;
  let timer: number | undefined;
  /** Answers to older validations are dropped: only the latest text's problems are shown. */
  let validation = 0;

  if (!canEdit) {
    // Read-only: no control that would change anything (nor preview, which needs editor).
    for (const button of Object.values(buttons)) button.remove();
    text.readOnly = true;
  }

  const isEditable = () => canEdit && current?.origin !== 'file';

  function say(message: string, kind: 'ok' | 'error' | '' = ''): void {
    status.textContent = message;
    status.dataset.kind = kind;
  }

  function drawGutter(problemLines: ReadonlySet<number>): void {
    const count = text.value.split('\n').length;
    const lines: HTMLSpanElement[] = [];
    for (let line = 1; line <= count; line++) {
      const span = document.createElement('span');
      span.textContent = `${line}\n`;
      span.dataset.line = String(line);
      if (problemLines.has(line)) span.className = 'error';
      lines.push(span);
    }
    gutter.replaceChildren(...lines);
    gutter.scrollTop = text.scrollTop;
  }

  function showProblems(problems: readonly Problem[]): void {
    const source = text.value.split('\n');
    problemsList.replaceChildren(
      ...problems.map((problem) => {
        const item = document.createElement('li');
        item.className = 'problem';
        if (problem.line !== undefined) item.dataset.line = String(problem.line);
        if (problem.column !== undefined) item.dataset.column = String(problem.column);
        const where =
          problem.line === undefined
            ? ''
            : `line ${problem.line}${problem.column === undefined ? '' : `, column ${problem.column}`}: `;
        const label = document.createElement('span');
        label.className = 'where';
        label.textContent = where;
        item.append(label, problem.message);
        // The line itself with a caret under the column.
        if (problem.line !== undefined && source[problem.line - 1] !== undefined) {
          const excerpt = document.createElement('pre');
          excerpt.className = 'excerpt';
          const caret =
            problem.column === undefined ? '' : `\n${' '.repeat(Math.max(problem.column - 1, 0))}^`;
          excerpt.textContent = `${source[problem.line - 1]}${caret}`;
          item.append(excerpt);
        }
        item.addEventListener('click', () => focusAt(problem.line, problem.column));
        return item;
      }),
    );
    drawGutter(new Set(problems.flatMap((problem) => (problem.line === undefined ? [] : [problem.line]))));
    text.setAttribute('aria-invalid', String(problems.length > 0));
  }

  function focusAt(line: number | undefined, column: number | undefined): void {
    if (line === undefined) return;
    const lines = text.value.split('\n');
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i]!.length + 1;
    offset += Math.max((column ?? 1) - 1, 0);
    text.focus();
    text.setSelectionRange(offset, offset);
  }

  async function validate(): Promise<Validation | undefined> {
    if (!canEdit) return undefined;
    const mine = ++validation;
    const answer = await api.post<Validation>('/v1/rules/validate', text.value, 'text/yaml');
    if (mine !== validation) return undefined; // a newer text is being checked
    if (!answer.ok) {
      say(errorMessage(answer), 'error');
      return undefined;
    }
    showProblems(answer.body.problems);
    text.dataset.valid = String(answer.body.valid);
    return answer.body;
  }

  function scheduleValidate(): void {
    window.clearTimeout(timer);
    drawGutter(new Set());
    timer = window.setTimeout(() => void validate(), validateDelayMs);
  }

  /** The valid document of the text now, or undefined (its problems are then shown). */
  async function validDocument(): Promise<Record<string, unknown> | undefined> {
    window.clearTimeout(timer);
    const checked = await validate();
    if (checked === undefined || !checked.valid) {
      say('Fix the marked problems first.', 'error');
      return undefined;
    }
    return checked.document;
  }

  function syncButtons(): void {
    if (!canEdit) return;
    const editable = isEditable();
    text.readOnly = !editable && current !== undefined;
    buttons.save.hidden = !editable;
    const stored = current !== undefined && current.origin === 'api';
    buttons.enable.hidden = !stored || current!.enabled;
    buttons.disable.hidden = !stored || !current!.enabled;
    buttons.remove.hidden = !stored;
  }

  function open(rule: RuleRecord | undefined): void {
    current = rule;
    title.textContent = rule === undefined ? 'New rule' : `${rule.document.name} (${rule.id})`;
    note.hidden = rule?.origin !== 'file' && canEdit;
    note.textContent =
      rule?.origin === 'file'
        ? `From the rule file ${rule.file}: read-only here.`
        : 'Read-only: your API key has no editor role.';
    text.value = rule !== undefined ? stringify(rule.document) : canEdit ? newRuleText : '';
    previewPanel.hidden = true;
    say('');
    for (const row of table.querySelectorAll('tr'))
      row.classList.toggle('selected', row.dataset.ruleId === rule?.id);
    syncButtons();
    showProblems([]);
    if (canEdit) scheduleValidate();
  }

  async function load(selectId?: string): Promise<void> {
    const [listed, stats] = await Promise.all([
      api.get<{ items: RuleRecord[] }>('/v1/rules'),
      api.get<{ items: RuleStats[] }>('/v1/rules/stats'),
    ]);
    if (!listed.ok) {
      say(errorMessage(listed), 'error');
      return;
    }
    rules = listed.body.items;
    const counts = new Map((stats.ok ? stats.body.items : []).map((item) => [item.ruleId, item]));
    table.replaceChildren(
      ...rules.map((rule) => {
        const row = document.createElement('tr');
        row.dataset.ruleId = rule.id;
        row.tabIndex = 0;
        const count = counts.get(rule.id);
        row.append(
          cell(rule.document.name, 'rule-name'),
          cell(rule.id, 'rule-id'),
          cell(rule.origin === 'file' ? `file ${rule.file}` : 'API', 'rule-origin'),
          cell(rule.enabled ? 'enabled' : 'disabled', 'rule-state'),
          cell(String(count?.last24h ?? 0), 'count day'),
          cell(String(count?.last7d ?? 0), 'count week'),
        );
        row.addEventListener('click', () => open(rule));
        row.addEventListener('keydown', (event) => {
          if (event.key === 'Enter') open(rule);
        });
        return row;
      }),
    );
    const selected = rules.find((rule) => rule.id === (selectId ?? current?.id));
    if (selectId !== undefined || current !== undefined) open(selected);
  }

  async function preview(): Promise<void> {
    const draft = await validDocument();
    if (draft === undefined) return;
    say('Previewing…');
    const answer = await api.post<Preview>('/v1/rules/preview?limit=100', draft);
    if (!answer.ok) {
      say(errorMessage(answer), 'error');
      return;
    }
    const result = answer.body;
    previewPanel.hidden = false;
    previewCounts.textContent = `${result.matchedEvents} matched of ${result.scannedEvents} recent briefs · ${result.alertCount} would-be alerts`;
    previewCounts.dataset.matched = String(result.matchedEvents);
    previewCounts.dataset.alerts = String(result.alertCount);
    renderDayChart(previewChart, result.perDay);
    previewSamples.replaceChildren(...result.samples.map(renderSample));
    say('');
  }

  /** Runs a rule change, then reloads the list (with its counts) and keeps the rule open. */
  async function change(
    work: () => Promise<{ ok: boolean; status: number; body: unknown }>,
    done: string,
    id?: string,
  ) {
    const answer = await work();
    if (!answer.ok) {
      say(errorMessage(answer), 'error');
      return;
    }
    await load(id);
    say(done, 'ok');
  }

  text.addEventListener('input', scheduleValidate);
  text.addEventListener('scroll', () => {
    gutter.scrollTop = text.scrollTop;
  });
  if (canEdit) {
    buttons.add.addEventListener('click', () => open(undefined));
    buttons.preview.addEventListener('click', () => void preview());
    buttons.save.addEventListener('click', async () => {
      const document = await validDocument();
      if (document === undefined) return;
      const id = String(document.id);
      const isUpdate = current?.origin === 'api' && current.id === id;
      await change(
        () =>
          isUpdate
            ? api.put(`/v1/rules/${encodeURIComponent(id)}`, document)
            : api.post('/v1/rules', document),
        isUpdate ? 'Saved.' : 'Saved: the rule matches new briefs from now on.',
        id,
      );
    });
    for (const action of ['enable', 'disable'] as const) {
      buttons[action].addEventListener('click', () => {
        const id = current!.id;
        void change(() => api.post(`/v1/rules/${encodeURIComponent(id)}/${action}`), `${action}d.`, id);
      });
    }
    buttons.remove.addEventListener('click', () => {
      const id = current!.id;
      if (!window.confirm(`Delete the rule ${id}?`)) return;
      current = undefined;
      void change(() => api.delete(`/v1/rules/${encodeURIComponent(id)}`), 'Deleted.').then(() =>
        open(undefined),
      );
    });
  }

  return {
    /** Loads the list (and opens a new draft) the first time the view is shown; reloads after. */
    async show(): Promise<void> {
      const first = rules.length === 0 && current === undefined;
      await load();
      if (first) open(undefined);
    },
  };
}
