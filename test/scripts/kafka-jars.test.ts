import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/test-app.ts';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const lock = JSON.parse(readFileSync(join(repoRoot, 'kafka/broker-jars.json'), 'utf8')) as {
  pomSha256: string;
  jars: { path: string; sha256: string }[];
};

/** The local broker is downloaded from kafka/broker-jars.json (no Maven needed); the lock must follow the pom. */
describe('kafka/broker-jars.json', () => {
  it('is the lock of the current kafka/pom.xml (else: npm run kafka:lock)', () => {
    expect(lock.pomSha256).toBe(sha256(readFileSync(join(repoRoot, 'kafka/pom.xml'))));
    expect(lock.jars.length).toBeGreaterThan(10);
    for (const jar of lock.jars) {
      expect(jar.path).toMatch(/^[\w.-]+(\/[\w.-]+)+\.jar$/);
      expect(jar.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(lock.jars.some((jar) => jar.path.includes('/kafka_2.13/'))).toBe(true);
  });

  it('names exactly the jars the broker of this run was started from, byte for byte', () => {
    const libs = join(repoRoot, '.kafka/libs');
    // A run against KAFKA_BROKERS or Testcontainers downloads nothing.
    if (!existsSync(join(libs, '.pom-sha256'))) return;
    for (const jar of lock.jars) {
      const file = join(libs, jar.path.slice(jar.path.lastIndexOf('/') + 1));
      expect(sha256(readFileSync(file)), jar.path).toBe(jar.sha256);
    }
  });
});
