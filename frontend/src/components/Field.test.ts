import { describe, expect, it } from 'vitest';
import { createElement as h } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { Field, FieldGroup, fieldDomId, type FieldControlProps } from './Field';

const input = (control: FieldControlProps) => h('input', { ...control, type: 'text', 'data-testid': 'ctl' });

describe('Field', () => {
  it('labels its control and stays valid without messages', () => {
    const html = renderToStaticMarkup(h(Field, { id: 'node-name', label: 'Name', children: input }));
    expect(html).toBe('<div class="field"><label for="node-name">Name</label><input id="node-name" aria-invalid="false" type="text" data-testid="ctl"/></div>');
  });

  it('marks the field and its control invalid and announces each message', () => {
    const html = renderToStaticMarkup(
      h(Field, { id: 'f-config-url', label: 'URL', help: 'Where to send it', errors: ['required', 'too long'], errorTestId: 'field-error-config.url', children: input }),
    );
    expect(html).toContain('<div class="field has-error">');
    expect(html).toContain('aria-invalid="true"');
    expect(html).toContain('<p class="help">Where to send it</p>');
    expect(html.match(/<p class="field-error" role="alert" data-testid="field-error-config.url">/g)).toHaveLength(2);
    // label, control, help, then the messages
    expect(html.indexOf('<label')).toBeLessThan(html.indexOf('<input'));
    expect(html.indexOf('class="help"')).toBeLessThan(html.indexOf('field-error'));
  });

  it('puts a checkbox before its label', () => {
    const html = renderToStaticMarkup(h(Field, { id: 'node-retry', label: 'Retry on failure', check: true, children: input }));
    expect(html).toMatch(/^<div class="field field-check"><input id="node-retry"[^>]*\/><label for="node-retry">Retry on failure<\/label><\/div>$/);
  });
});

describe('FieldGroup', () => {
  it('is a fieldset with a legend that shows its messages', () => {
    const html = renderToStaticMarkup(h(FieldGroup, { legend: 'Headers', errors: ['bad'], testId: 'field-config.headers', children: 'rows' }));
    expect(html).toBe(
      '<fieldset class="fieldset has-error" data-testid="field-config.headers"><legend>Headers</legend>rows<p class="field-error" role="alert">bad</p></fieldset>',
    );
  });
});

describe('fieldDomId', () => {
  it('turns a value path into an id', () => {
    expect(fieldDomId('config.cases[1].port')).toBe('f-config-cases-1--port');
  });
});
