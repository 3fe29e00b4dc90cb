import { lagOf } from '../../src/status/lag';
import { DEFAULT_BEHIND_AFTER_MS, verdictOf, type VerdictFacts } from '../../src/status/verdict';

const NOW = Date.parse('2026-12-04T12:00:00Z');
const HOUR = 60 * 60 * 1000;

/** A scheduled batch pipeline whose last run completed an hour ago and that has nothing to read. */
const healthy: VerdictFacts = {
  kind: 'batch',
  schedule: { paused: false },
  lastFinishedStatus: 'COMPLETED',
  lastStartMs: NOW - HOUR,
  runInFlight: false,
  lag: 0,
  nowMs: NOW,
};
const verdict = (changes: Partial<VerdictFacts>) => verdictOf({ ...healthy, ...changes }).verdict;

describe('status verdict rules', () => {
  it('is ok when up to date, or when the lag is waiting for a run that is due', () => {
    expect(verdictOf(healthy)).toEqual({ verdict: 'ok', reason: 'up to date' });
    expect(verdict({ lag: 5 })).toBe('ok');
    expect(verdict({ lag: 5, runInFlight: true, schedule: null })).toBe('ok');
  });

  it('is paused when the schedule is paused, before anything else', () => {
    expect(verdict({ schedule: { paused: true }, lastFinishedStatus: 'FAILED', lag: 9 })).toBe('paused');
  });

  it('is failing when the newest finished run failed, timed out or was terminated, even with a run in flight', () => {
    for (const status of ['FAILED', 'TIMED_OUT', 'TERMINATED']) expect(verdict({ lastFinishedStatus: status })).toBe('failing');
    expect(verdict({ lastFinishedStatus: 'FAILED', runInFlight: true })).toBe('failing');
    expect(verdictOf({ ...healthy, lastFinishedStatus: 'TIMED_OUT' }).reason).toBe('last run timed out');
    expect(verdict({ lastFinishedStatus: 'CANCELLED' })).toBe('ok');
  });

  it('is behind when records wait, no run is in flight and nothing will read them soon', () => {
    // A manual pipeline (no schedule): nobody will read them.
    expect(verdict({ lag: 1, schedule: null })).toBe('behind');
    // A scheduled one whose newest run is older than the threshold, or that never ran.
    expect(verdict({ lag: 1, lastStartMs: NOW - DEFAULT_BEHIND_AFTER_MS - 1 })).toBe('behind');
    expect(verdict({ lag: 1, lastStartMs: NOW - DEFAULT_BEHIND_AFTER_MS })).toBe('ok');
    expect(verdict({ lag: 1, lastStartMs: null, lastFinishedStatus: null })).toBe('behind');
    expect(verdict({ lag: 1, lastStartMs: NOW - 3 * HOUR, behindAfterMs: 2 * HOUR })).toBe('behind');
    // The dispatcher is behind whenever its group has lag.
    expect(verdict({ kind: 'dispatcher', schedule: null, lastFinishedStatus: null, lastStartMs: null, lag: 2 })).toBe('behind');
    expect(verdict({ kind: 'dispatcher', schedule: null, lastFinishedStatus: null, lastStartMs: null, lag: 0 })).toBe('ok');
  });

  it('counts lag from the committed offset, else from the first offset in the log', () => {
    expect(lagOf(10n, 0n, 15n)).toBe(5);
    expect(lagOf(15n, 0n, 15n)).toBe(0);
    expect(lagOf(null, 4n, 15n)).toBe(11);
    expect(lagOf(20n, 0n, 15n)).toBe(0);
  });
});
