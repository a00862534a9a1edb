import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The live page's files: `index.html`, `live-page.css` and `live-page.js`, the browser code
 * under `browser/` bundled by esbuild. `npm run build` writes them to `dist/page/static/`
 * (next to the compiled server code, where `loadPageFiles` finds them); run from source
 * (`npm start`, tests), they are bundled in memory on first use, so a fresh clone needs no
 * build step. esbuild is a dev dependency: an install without it must serve a build.
 */

export type PageFiles = Record<'index.html' | 'live-page.css' | 'live-page.js', string>;

const browserDir = join(import.meta.dirname, 'browser');
const prebuiltDir = join(import.meta.dirname, 'static');

export async function bundlePage(): Promise<PageFiles> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(browserDir, 'live-page.ts')],
    bundle: true,
    format: 'esm',
    target: ['es2022'],
    minify: true,
    write: false,
    outfile: 'live-page.js',
    logLevel: 'silent',
    legalComments: 'none',
  });
  const [html, css] = await Promise.all([
    readFile(join(browserDir, 'index.html'), 'utf8'),
    readFile(join(browserDir, 'live-page.css'), 'utf8'),
  ]);
  return { 'index.html': html, 'live-page.css': css, 'live-page.js': result.outputFiles[0]!.text };
}

export async function writePageBundle(outDir: string): Promise<void> {
  const files = await bundlePage();
  await mkdir(outDir, { recursive: true });
  await Promise.all(Object.entries(files).map(([name, text]) => writeFile(join(outDir, name), text)));
}

/** The built files when there are (a `npm run build` output), else a fresh bundle. */
export async function loadPageFiles(): Promise<PageFiles> {
  if (!existsSync(join(prebuiltDir, 'index.html'))) return bundlePage();
  const read = (name: keyof PageFiles) => readFile(join(prebuiltDir, name), 'utf8');
  const [html, css, js] = await Promise.all([
    read('index.html'),
    read('live-page.css'),
    read('live-page.js'),
  ]);
  return { 'index.html': html, 'live-page.css': css, 'live-page.js': js };
}

// `npm run build` runs this file: `node --import tsx src/page/page-bundle.ts dist/page/static`.
if (process.argv[1] === import.meta.filename) {
  const outDir = process.argv[2] ?? join(import.meta.dirname, '..', '..', 'dist', 'page', 'static');
  await writePageBundle(outDir);
  process.stdout.write(`wrote the live page to ${outDir}\n`);
}
