/** The data views draw a page of a big value, never all of it (rendered to markup, as React does on the first paint). */
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../api/types';
import { DataView } from './DataView';

/** About 5 MB of JSON: 20 000 orders with a few fields and a long note each. */
function bigOutput(): JsonValue {
  return Array.from({ length: 20_000 }, (_, i) => ({ id: i, customer: `customer ${i}`, total: i * 1.5, note: 'n'.repeat(200) }));
}

const render = (value: JsonValue | undefined) => renderToStaticMarkup(createElement(DataView, { value, root: 'input', label: 'input', testId: 'd' }));
const count = (html: string, needle: string) => html.split(needle).length - 1;

describe('DataView', () => {
  it('shows a list of objects as a table, one page of rows, with a pager', () => {
    const value = bigOutput();
    expect(JSON.stringify(value).length).toBeGreaterThan(4_500_000);
    const html = render(value);
    expect(html).toContain('data-view="table"');
    expect(count(html, '<tr>')).toBe(1 + 25); // header + one page
    expect(html).toContain('20000 rows');
    expect(html).toContain('page 1 of 800');
    expect(html).toContain('<th scope="col">customer</th>');
  });

  it('shows an object as a JSON tree, open at the root, children folded', () => {
    const html = render({ order: { id: 7, lines: [1, 2, 3] }, ok: true });
    expect(html).toContain('data-view="tree"');
    expect(html).toContain('{2 keys}'); // order
    expect(html).toContain('data-expr="input.order"');
    expect(html).not.toContain('data-expr="input.order.id"'); // folded: not drawn
    expect(html).toContain('<span class="json-boolean">true</span>');
  });

  it('pages the children of a big object in the tree', () => {
    const value = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]));
    const html = render(value);
    expect(count(html, 'class="json-leaf"')).toBe(50);
    expect(html).toContain('page 1 of 10');
  });

  it('cuts a very long string until asked for', () => {
    const html = render({ text: 'y'.repeat(100_000) });
    expect(html.length).toBeLessThan(5_000);
    expect(html).toContain('99700 more characters');
  });

  it('says when there is no data', () => {
    expect(render(undefined)).toContain('No data.');
  });
});
