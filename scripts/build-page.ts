import { join } from 'node:path';
import { writePageBundle } from '../src/page/page-bundle.ts';

/** Part of `npm run build`: bundles the live page into dist/page/static/, where the built server serves it from. */
const outDir = join(import.meta.dirname, '..', 'dist', 'page', 'static');
await writePageBundle(outDir);
process.stdout.write(`wrote the live page to ${outDir}\n`);
