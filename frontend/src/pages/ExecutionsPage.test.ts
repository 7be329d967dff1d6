import { describe, expect, it } from 'vitest';
import { fieldFilter } from './ExecutionsPage';

describe('fieldFilter', () => {
  it('turns "payload.a.b = v" into the API parameter', () => {
    expect(fieldFilter('payload.customer = 42')).toEqual(['payload__customer', '42']);
    expect(fieldFilter(' result.order.id=A-1 ')).toEqual(['result__order__id', 'A-1']);
  });
  it('refuses what is not a field path', () => {
    expect(fieldFilter('customer = 42')).toBeNull();
    expect(fieldFilter('payload = 42')).toBeNull();
    expect(fieldFilter('payload.bad name = 1')).toBeNull();
  });
});
