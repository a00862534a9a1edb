import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { AppError } from '../../errors.ts';

/**
 * SSRF protection for webhook URLs: a customer-supplied URL must not make Tocsin reach its own
 * network (a metadata service at 169.254.169.254, an admin port on loopback, a database on
 * 10.x). The rule applies to the address actually connected to, not to the name:
 *
 * - an IP literal host is checked before anything is sent (`checkUrl`), so the sender never
 *   even opens a socket to a refused address;
 * - a host name is resolved by `lookup`, which the HTTP client calls for every new connection
 *   (undici's `connect.lookup`): it resolves all addresses, drops the refused ones and hands
 *   only checked addresses to `net.connect`. The socket connects to exactly what was checked:
 *   there is no second resolution, hence no DNS-rebinding window.
 *
 * The allowlist (TOCSIN_WEBHOOK_ALLOWLIST) names hosts (exact, or `*.example.com`), addresses
 * and CIDR ranges that are allowed in spite of these rules: an internal receiver, or 127.0.0.1
 * in tests.
 */

/** Refused ranges, with what they are (the refusal names it). */
const refusedIpv4: [string, number, string][] = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared address space (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved (and broadcast)'],
];
const refusedIpv6: [string, number, string][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::ffff:0:0', 96, 'IPv4-mapped'],
  ['::', 96, 'IPv4-compatible (deprecated)'],
  ['64:ff9b::', 96, 'NAT64 (embeds an IPv4 address)'],
  ['64:ff9b:1::', 48, 'local-use NAT64'],
  ['100::', 64, 'discard-only'],
  ['2001::', 23, 'IETF protocol assignments (Teredo and others)'],
  ['2001:db8::', 32, 'documentation'],
  ['2002::', 16, '6to4 (embeds an IPv4 address)'],
  ['fc00::', 7, 'unique local (private)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local (deprecated)'],
  ['ff00::', 8, 'multicast'],
];

/** Whether an address may be connected to, and why not. */
export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

export type SsrfGuard = ReturnType<typeof createSsrfGuard>;

/** A refusal: permanent (retrying does not change where the URL points), never sent. */
export function ssrfRefusal(url: string, reason: string): AppError {
  return new AppError('TOCSIN_DELIVERY_FAILED', `refused by the SSRF rules: ${reason}`, {
    retryable: false,
    details: { url, ssrf: true },
  });
}

export function isSsrfRefusal(error: unknown): error is AppError {
  for (let current = error; current instanceof Error; current = current.cause) {
    if (current instanceof AppError && current.details?.ssrf === true) return true;
  }
  return false;
}

/**
 * `allowlist`: entries of TOCSIN_WEBHOOK_ALLOWLIST — an IP address, a CIDR range
 * (`10.1.0.0/16`, `fd00::/8`), a host name (`hooks.internal`) or a suffix (`*.internal`).
 * `resolve` is node's `dns.lookup` (all addresses); tests may pass another resolver.
 */
export function createSsrfGuard(
  options: {
    allowlist?: readonly string[];
    resolve?: (hostname: string) => Promise<{ address: string; family: number }[]>;
  } = {},
) {
  const refused4 = rangeList(refusedIpv4, 'ipv4');
  const refused6 = rangeList(refusedIpv6, 'ipv6');
  const allowed4 = new BlockList();
  const allowed6 = new BlockList();
  const allowedHosts = new Set<string>();
  const allowedSuffixes: string[] = [];
  for (const raw of options.allowlist ?? []) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address.replace(/^\[|\]$/g, ''));
    if (family !== 0) {
      const bare = address.replace(/^\[|\]$/g, '');
      const list = family === 4 ? allowed4 : allowed6;
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) list.addAddress(bare, type);
      else list.addSubnet(bare, Number(bits), type);
    } else if (entry.startsWith('*.')) {
      allowedSuffixes.push(entry.slice(1));
    } else {
      allowedHosts.add(entry);
    }
  }
  const resolve =
    options.resolve ??
    ((hostname: string) =>
      new Promise<{ address: string; family: number }[]>((done, fail) =>
        dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) =>
          error ? fail(error) : done(addresses),
        ),
      ));

  const isAllowedHost = (hostname: string) => {
    const host = hostname.toLowerCase().replace(/\.$/, '');
    return allowedHosts.has(host) || allowedSuffixes.some((suffix) => host.endsWith(suffix));
  };

  function checkAddress(address: string): AddressVerdict {
    const family = isIP(address);
    if (family === 4) {
      if (allowed4.check(address, 'ipv4')) return { allowed: true };
      const reason = refused4.reasonOf(address);
      return reason ? { allowed: false, reason: `${address} is ${reason}` } : { allowed: true };
    }
    if (family === 6) {
      if (allowed6.check(address, 'ipv6')) return { allowed: true };
      const reason = refused6.reasonOf(address);
      return reason ? { allowed: false, reason: `${address} is ${reason}` } : { allowed: true };
    }
    return { allowed: false, reason: `${JSON.stringify(address)} is not an IP address` };
  }

  /**
   * Checks what can be checked without resolving: the scheme, and an IP literal host. Throws
   * the refusal (an AppError, not retryable). A host name passes here and is checked by `lookup`.
   */
  function checkUrl(url: URL): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw ssrfRefusal(url.href, `only http and https URLs are allowed, not ${url.protocol}`);
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) === 0) return;
    const verdict = checkAddress(host);
    if (!verdict.allowed) throw ssrfRefusal(url.href, verdict.reason);
  }

  /**
   * A `net.connect` lookup: resolves every address of `hostname` and keeps the allowed ones
   * (all of them for an allowlisted host name). Answers in the shape `net` asked for (`all`).
   */
  const lookup: LookupFunction = (hostname, options, callback) => {
    const wantsAll = typeof options === 'object' && options.all === true;
    resolve(hostname).then(
      (addresses) => {
        const trusted = isAllowedHost(hostname);
        const verdicts = addresses.map((entry) => ({ entry, verdict: checkAddress(entry.address) }));
        const usable = verdicts.filter(({ verdict }) => trusted || verdict.allowed).map(({ entry }) => entry);
        if (usable.length === 0) {
          const reasons = verdicts
            .map(({ verdict }) => (verdict.allowed ? '' : verdict.reason))
            .filter(Boolean);
          const why = reasons.length > 0 ? reasons.join('; ') : 'it has no address';
          callback(ssrfRefusal(hostname, `${hostname} resolves to no allowed address (${why})`), '', 0);
          return;
        }
        if (wantsAll) {
          (callback as unknown as (error: null, addresses: { address: string; family: number }[]) => void)(
            null,
            usable,
          );
        } else {
          callback(null, usable[0]!.address, usable[0]!.family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };

  return { checkUrl, checkAddress, lookup };
}

function rangeList(ranges: [string, number, string][], type: 'ipv4' | 'ipv6') {
  // One BlockList per range, so a refusal can say which range it is. Each list holds one
  // family only: node's BlockList matches IPv4 addresses against IPv4-mapped IPv6 rules.
  const lists = ranges.map(([network, bits, label]) => {
    const list = new BlockList();
    list.addSubnet(network, bits, type);
    return { list, label };
  });
  return {
    reasonOf(address: string): string | undefined {
      return lists.find(({ list }) => list.check(address, type))?.label;
    },
  };
}
