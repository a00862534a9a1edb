import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSchemas } from '../src/schemas.ts';
import { repoRoot } from './support/test-app.ts';

describe('schemas/', () => {
  it.each(Object.entries(renderSchemas()))(
    '%s matches the zod schema (run `npm run schemas` when this fails)',
    (file, text) => {
      expect(readFileSync(join(repoRoot, 'schemas', file), 'utf8')).toBe(text);
    },
  );
});
