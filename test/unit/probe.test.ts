// The probe's hysteresis and outage guard, pure.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isOutage, nextProbeState, probeUrl, type ProbeState } from '../../pipelines/stages/probe.ts';

const h = { failuresToDown: 3, successesToUp: 2 };

function replay(seq: string, start: ProbeState = { failStreak: 0, okStreak: 0, down: false }): boolean[] {
  let s = start;
  return [...seq].map((c) => (s = nextProbeState(s, c === '+', h)).down);
}

describe('probe hysteresis', () => {
  it('goes down only after N failures in a row', () => {
    assert.deepEqual(replay('---'), [false, false, true]);
    assert.deepEqual(replay('--+--'), [false, false, false, false, false]);
  });
  it('comes back only after M successes in a row', () => {
    assert.deepEqual(replay('---+-++'), [false, false, true, true, true, true, false]);
  });
  it('a flapping mirror stays out once down', () => {
    assert.deepEqual(replay('---+-+-+-'), [false, false, true, true, true, true, true, true, true]);
  });
  it('counts streaks', () => {
    assert.deepEqual(nextProbeState({ failStreak: 5, okStreak: 0, down: true }, true, h), { failStreak: 0, okStreak: 1, down: true });
    assert.deepEqual(nextProbeState({ failStreak: 0, okStreak: 9, down: false }, false, h), { failStreak: 1, okStreak: 0, down: false });
  });
  it('M = 1 brings a host back at the first success', () => {
    assert.equal(nextProbeState({ failStreak: 4, okStreak: 0, down: true }, true, { failuresToDown: 1, successesToUp: 1 }).down, false);
  });
});

describe('probe outage guard and URLs', () => {
  it('needs enough hosts and a failure share above the bound', () => {
    assert.equal(isOutage(10, 8, 0.7, 4), true);
    assert.equal(isOutage(10, 7, 0.7, 4), false);
    assert.equal(isOutage(3, 3, 0.7, 4), false, 'too few hosts to blame our network');
  });
  it('joins the category URL and the probed path', () => {
    assert.equal(probeUrl('http://m.example.org/pub/fedora/linux', 'releases/41/os/repodata/repomd.xml'), 'http://m.example.org/pub/fedora/linux/releases/41/os/repodata/repomd.xml');
    assert.equal(probeUrl('https://m.example.org/fedora/', ''), 'https://m.example.org/fedora/');
    assert.equal(probeUrl('http://m.example.org/x/', 'a b/c#d'), 'http://m.example.org/x/a%20b/c%23d');
  });
});
