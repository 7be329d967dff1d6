import { describe, expect, it } from 'vitest';
import { unusedName } from './names';

describe('unusedName', () => {
  it('keeps a name nobody has', () => {
    expect(unusedName('Orders', ['Invoices', 'orders'])).toBe('Orders');
  });
  it('suffixes a taken name, counting up past earlier imports', () => {
    expect(unusedName('Orders', ['Orders'])).toBe('Orders (imported)');
    expect(unusedName('Orders', ['Orders', 'Orders (imported)'])).toBe('Orders (imported 2)');
    expect(unusedName('Orders', ['Orders', 'Orders (imported)', 'Orders (imported 2)'])).toBe('Orders (imported 3)');
  });
});
