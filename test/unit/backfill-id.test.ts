import { checkBackfillBound, defaultBackfillId } from '../../src/temporal/backfill';

test('the default backfill id is the bounds, times as compact UTC, plus the partitions', () => {
  expect(defaultBackfillId('2026-12-02T00:00:00Z', '2026-12-04', undefined)).toBe('20261202T000000Z-20261204T000000Z');
  expect(defaultBackfillId('2026-12-02T01:00:00+01:00', '2026-12-04T00:00:00.000Z', [0, 3])).toBe('20261202T000000Z-20261204T000000Z-p0.3');
  expect(defaultBackfillId('120', '480', [1])).toBe('120-480-p1');
});

test('a bound is an ISO time or an offset; anything else is refused with an example', () => {
  expect(() => checkBackfillBound('2026-12-02T00:00:00Z', '--from')).not.toThrow();
  expect(() => checkBackfillBound('1200', '--to')).not.toThrow();
  expect(() => checkBackfillBound('yesterday', '--from')).toThrow('--from must be an ISO time or an offset, got "yesterday".');
});
