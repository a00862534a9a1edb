import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSchemas } from '../src/schemas.ts';

/** `npm run schemas`: regenerates `schemas/*.json` from the zod schemas the service validates with. */
const dir = join(import.meta.dirname, '..', 'schemas');
for (const [file, text] of Object.entries(renderSchemas())) {
  writeFileSync(join(dir, file), text);
  process.stdout.write(`wrote schemas/${file}\n`);
}
