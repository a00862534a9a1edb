/**
 * Where each microsecond of an event goes: the self time per function of a long run's CPU
 * profile minus a short run's (start-up, module loading and rule compilation cancel out, as in
 * process.bench.ts), divided by the events between them.
 *
 *   node --import tsx bench/profile-diff.ts <short.cpuprofile> <long.cpuprofile> <events between> [top]
 *
 * Profiles come from `npm run bench:process -- --cpu-prof <dir>` (or `node --cpu-prof`).
 * Sampling is by wall clock, so on a busy machine the totals are inflated; the shares hold.
 */
import { readFileSync } from 'node:fs';

type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
};
type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };

/** Self time in microseconds by "function file" (the file's last two path segments). */
function selfTimes(path: string): Map<string, number> {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const times = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const { functionName, url } = nodes.get(id)!.callFrame;
    const key = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}`;
    times.set(key, (times.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return times;
}

const [shortPath, longPath, eventsText, topText] = process.argv.slice(2);
if (!shortPath || !longPath || !eventsText) {
  console.error('usage: profile-diff.ts <short.cpuprofile> <long.cpuprofile> <events between> [top]');
  process.exit(2);
}
const events = Number(eventsText);
const short = selfTimes(shortPath);
const long = selfTimes(longPath);
const perEvent = [...long].map(([key, time]) => [key, (time - (short.get(key) ?? 0)) / events] as const);
const total = perEvent.reduce((sum, [, time]) => sum + time, 0);
const idle = perEvent.find(([key]) => key.startsWith('(idle)'))?.[1] ?? 0;
console.log(`${total.toFixed(1)} µs per event in the profile, of which idle ${idle.toFixed(1)} µs`);
for (const [key, time] of perEvent.toSorted((a, b) => b[1] - a[1]).slice(0, Number(topText ?? 40))) {
  console.log(`${time.toFixed(2).padStart(8)} µs  ${((100 * time) / total).toFixed(1).padStart(5)}%  ${key}`);
}
const byFile = new Map<string, number>();
for (const [key, time] of perEvent) {
  const file = key.slice(key.lastIndexOf(' ') + 1) || '(native)';
  byFile.set(file, (byFile.get(file) ?? 0) + time);
}
console.log('\nby file:');
for (const [file, time] of [...byFile].toSorted((a, b) => b[1] - a[1]).slice(0, 20))
  console.log(
    `${time.toFixed(2).padStart(8)} µs  ${((100 * time) / total).toFixed(1).padStart(5)}%  ${file}`,
  );
