// The sweep partition against a naive reference: for any address, the class the
// partition assigns equals the one computed by scanning every input range.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { familyMax, formatIp, parseCidr, parseIp, rangeToCidrs, type Family } from '../../pipelines/build/ip.ts';
import { classKeyString, lookupSegment, partition, type NetblockRange, type PartitionInput } from '../../pipelines/build/partition.ts';

// Naive reference: scan everything.
function referenceKey(input: PartitionInput, family: Family, ip: bigint): string {
  const inR = (r: { family: Family; start: bigint; end: bigint }) => r.family === family && r.start <= ip && ip <= r.end;
  const countries = input.countries.filter(inR).map((r) => r.country).sort();
  const nbs = input.netblocks.filter(inR).map((n) => n.id).sort((a, b) => a - b);
  const asns = input.asns.filter(inR).map((a) => a.asn).sort((a, b) => a - b);
  return classKeyString({ family, country: countries[0] ?? null, netblocks: nbs, asn: asns[0] ?? null, research: input.research.some(inR) });
}

function arbInput(family: Family) {
  // A small window so ranges overlap and touch often.
  const base = family === 4 ? parseIp('10.0.0.0')!.value : parseIp('2001:db8::')!.value;
  const span = 1024;
  const range = fc.tuple(fc.integer({ min: 0, max: span }), fc.integer({ min: 0, max: 64 })).map(([s, len]) => ({ family, start: base + BigInt(s), end: base + BigInt(s + len) }));
  const cidr = fc.tuple(fc.integer({ min: 0, max: span }), fc.integer({ min: 0, max: 8 })).map(([s, bits]) => {
    const bitsTotal = family === 4 ? 32 : 128;
    const c = parseCidr(`${formatIp(base + BigInt(s), family)}/${bitsTotal - bits}`)!;
    return c;
  });
  return fc.record({
    countries: fc.array(fc.tuple(range, fc.constantFrom('US', 'DE', 'FR', 'JP')).map(([r, c]) => ({ ...r, country: c })), { maxLength: 12 }),
    netblocks: fc.array(fc.tuple(cidr, fc.integer({ min: 1, max: 5 })), { maxLength: 8 }).map((xs) => xs.map(([c, h], i): NetblockRange => ({ id: i + 1, hostId: h, family, start: c.start, end: c.end, prefix: c.prefix }))),
    asns: fc.array(fc.tuple(range, fc.constantFrom(680, 2497, 3320)).map(([r, asn]) => ({ ...r, asn })), { maxLength: 6 }),
    research: fc.array(cidr.map((c) => ({ family, start: c.start, end: c.end })), { maxLength: 3 }),
  });
}

for (const family of [4, 6] as Family[]) {
  test(`IPv${family} partition equals the naive reference at every boundary ±1 and random addresses`, () => {
    fc.assert(
      fc.property(arbInput(family), fc.array(fc.bigInt({ min: 0n, max: familyMax(family) }), { maxLength: 20 }), (input, randomIps) => {
        const { segments, classes } = partition(input, family);
        // Flat: contiguous, non-overlapping, covering the whole family, maximally merged.
        assert.equal(segments[0].start, 0n);
        assert.equal(segments[segments.length - 1].end, familyMax(family));
        for (let i = 1; i < segments.length; i++) {
          assert.equal(segments[i].start, segments[i - 1].end + 1n);
          assert.notEqual(segments[i].key, segments[i - 1].key);
        }
        for (const s of segments) assert.ok(classes.has(s.key));
        const probes = new Set<bigint>(randomIps);
        const all = [...input.countries, ...input.netblocks, ...input.asns, ...input.research];
        for (const r of all) for (const p of [r.start - 1n, r.start, r.start + 1n, r.end - 1n, r.end, r.end + 1n]) if (p >= 0n && p <= familyMax(family)) probes.add(p);
        for (const ip of probes) assert.equal(lookupSegment(segments, ip).key, referenceKey(input, family, ip), `address ${formatIp(ip, family)}`);
      }),
      { numRuns: 300 },
    );
  });
}

test('CIDR decomposition covers exactly the range with aligned blocks', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), fc.bigInt({ min: 0n, max: 1n << 20n }), (start, len) => {
      const end = start + len > (1n << 32n) - 1n ? (1n << 32n) - 1n : start + len;
      const cidrs = rangeToCidrs(start, end, 4).map((c) => parseCidr(c)!);
      assert.equal(cidrs[0].start, start);
      assert.equal(cidrs[cidrs.length - 1].end, end);
      for (let i = 1; i < cidrs.length; i++) assert.equal(cidrs[i].start, cidrs[i - 1].end + 1n);
    }),
    { numRuns: 500 },
  );
  assert.deepEqual(rangeToCidrs(0n, (1n << 128n) - 1n, 6), ['::/0']);
  assert.deepEqual(rangeToCidrs(parseIp('192.0.2.0')!.value, parseIp('192.0.2.255')!.value, 4), ['192.0.2.0/24']);
});

test('address parsing round-trips and rejects malformed input', () => {
  for (const a of ['0.0.0.0', '255.255.255.255', '192.0.2.1', '::', '::1', '2001:db8::1', '2001:db8:0:1:1:1:1:1', '::ffff:c000:201']) {
    const p = parseIp(a)!;
    assert.equal(formatIp(p.value, p.family), a);
  }
  assert.equal(parseIp('::ffff:192.0.2.1')!.value, parseIp('::ffff:c000:201')!.value);
  for (const bad of ['', '1.2.3', '256.0.0.1', '01.2.3.4', '1.2.3.4.5', ':::', '1::2::3', '12345::', 'g::1', '../../etc/passwd', '1.2.3.4/33']) {
    assert.equal(bad.includes('/') ? parseCidr(bad) : parseIp(bad), null, bad);
  }
  assert.deepEqual(parseCidr('192.0.2.77/24'), { family: 4, start: parseIp('192.0.2.0')!.value, end: parseIp('192.0.2.255')!.value, prefix: 24 });
});
