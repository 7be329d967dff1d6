/**
 * A form generated from a node type's JSON Schema: string, number, integer, boolean, enum,
 * object, arrays (of objects or of scalars); anything else is edited as JSON. Fields marked
 * `x-expression` show which variables an expression may use, under the expression field last
 * focused: the hint stays until another expression field takes focus, so a click on a button or
 * a checkbox below it (“+ Add item”) never lands on a spot the collapsing hint has just moved.
 * Fields marked `x-credential` are a picker of the user's credentials (`CredentialPicker`).
 * Fields marked `x-schema-ref` are a picker of the schemas a sub-schema node runs (`SchemaPicker`).
 */
import { useEffect, useState } from 'react';
import type { JsonObject, JsonSchema, JsonValue } from '../api/types';
import { defaultFor, fieldKind, mixedToText, textToMixed } from '../lib/jsonSchema';
import { CredentialPicker } from './CredentialPicker';
import { SchemaPicker } from './SchemaPicker';
import { Field, FieldErrors, FieldGroup, fieldDomId, type FieldControlProps } from './Field';
import { ExpressionInput } from './expression/ExpressionInput';
import { JsonText } from './JsonText';

export interface FormContext {
  /** node-local field path → API messages */
  errors: Map<string, string[]> | undefined;
  exprVars: string[];
  /** The hint key (`hintKey`) of the expression field that last took focus. */
  hintFor: string | null;
  onEdit: (path: string, value: JsonValue) => void;
}

/**
 * Whose expression hint to show once focus moved to `target`: the `data-hint-for` of an
 * expression control; `undefined` for anything else, which leaves the hint where it is.
 */
export function hintKey(target: EventTarget | null): string | undefined {
  return target instanceof HTMLElement ? target.dataset.hintFor : undefined;
}

const humanize = (key: string) => key.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

export function ExpressionHint({ vars }: { vars: string[] }) {
  return (
    <p className="expr-hint">
      Accepts <code>{'{{ … }}'}</code> expressions. Available:{' '}
      {vars.map((v, i) => (
        <span key={v}>
          {i > 0 && ', '}
          <code>{v}</code>
        </span>
      ))}
    </p>
  );
}

export function SchemaField({
  schema,
  name,
  path,
  value,
  required,
  ctx,
}: {
  schema: JsonSchema;
  name: string;
  path: string;
  value: JsonValue | undefined;
  required?: boolean;
  ctx: FormContext;
}) {
  const kind = fieldKind(schema);
  const label = `${schema.title ?? humanize(name)}${required ? ' *' : ''}`;
  const exprTag = schema['x-expression'] ? (
    <span className="expr-tag" title="Accepts {{ expressions }}">
      {'{{ }}'}
    </span>
  ) : null;
  const showHint = ctx.hintFor === fieldDomId(path);
  const hintFor = schema['x-expression'] ? fieldDomId(path) : undefined;
  const exprHint = schema['x-expression'] && showHint ? <ExpressionHint vars={ctx.exprVars} /> : null;
  const field = {
    id: fieldDomId(path),
    errors: ctx.errors?.get(path),
    errorTestId: `field-error-${path}`,
    help: schema.description,
  };
  const group = { legend: label, errors: field.errors, errorTestId: field.errorTestId, help: schema.description };
  if (schema['x-credential']) {
    return <CredentialPicker schema={schema} path={path} label={label} value={value} errors={field.errors} onEdit={ctx.onEdit} />;
  }
  if (schema['x-schema-ref']) {
    return <SchemaPicker schema={schema} path={path} label={label} value={value} errors={field.errors} onEdit={ctx.onEdit} />;
  }

  switch (kind) {
    case 'string': {
      const str = typeof value === 'string' ? value : value == null ? '' : String(value);
      const multiline = schema.format === 'textarea' || str.includes('\n') || str.length > 60;
      const common = {
        value: str,
        'data-testid': `field-${path}`,
        'data-hint-for': hintFor,
        className: schema['x-expression'] ? 'mono' : undefined,
        onChange: (e: { target: { value: string } }) => ctx.onEdit(path, e.target.value),
      };
      return (
        <Field
          {...field}
          label={
            <>
              {label} {exprTag}
            </>
          }
          extra={exprHint}
        >
          {(control) =>
            schema['x-expression'] ? (
              <ExpressionInput
                id={control.id}
                invalid={control['aria-invalid']}
                value={str}
                onChange={(text) => ctx.onEdit(path, text)}
                label={label}
                testId={`field-${path}`}
                hintFor={hintFor}
              />
            ) : multiline ? (
              <textarea rows={3} {...common} {...control} />
            ) : (
              <input type="text" {...common} {...control} />
            )
          }
        </Field>
      );
    }
    case 'mixed':
      return (
        <Field
          {...field}
          label={
            <>
              {label} {exprTag}
            </>
          }
          extra={exprHint}
        >
          {(control) => <MixedInput {...control} data-hint-for={hintFor} label={label} path={path} value={value} onEdit={ctx.onEdit} />}
        </Field>
      );
    case 'map': {
      const obj = value && typeof value === 'object' && !Array.isArray(value) ? value : {};
      const entries = Object.entries(obj);
      const rebuild = (list: [string, JsonValue][]) => ctx.onEdit(path, Object.fromEntries(list));
      const valueSchema = (schema.additionalProperties ?? {}) as JsonSchema;
      return (
        <FieldGroup {...group} testId={`field-${path}`}>
          {entries.map(([k, v], i) => (
            <div key={i} className="map-row">
              <input
                type="text"
                aria-label={`${label} name ${i + 1}`}
                value={k}
                data-testid={`field-${path}-key-${i}`}
                onChange={(e) => rebuild(entries.map((en, j) => (j === i ? [e.target.value, en[1]] : en)))}
              />
              <input
                type="text"
                className={valueSchema['x-expression'] ? 'mono' : undefined}
                aria-label={`${label} value ${i + 1}`}
                value={mixedToText(v)}
                data-testid={`field-${path}-value-${i}`}
                data-hint-for={valueSchema['x-expression'] ? field.id : undefined}
                onChange={(e) => rebuild(entries.map((en, j) => (j === i ? [en[0], e.target.value] : en)))}
              />
              <button
                type="button"
                className="icon-btn"
                aria-label={`Remove ${k || `entry ${i + 1}`} from ${label}`}
                onClick={() => rebuild(entries.filter((_, j) => j !== i))}
              >
                ×
              </button>
            </div>
          ))}
          <button
            type="button"
            className="btn btn-small"
            data-testid={`add-${path}`}
            onClick={() => {
              let n = entries.length + 1;
              while (`key${n}` in obj) n++;
              rebuild([...entries, [`key${n}`, '']]);
            }}
          >
            + Add entry
          </button>
          {valueSchema['x-expression'] && showHint && <ExpressionHint vars={ctx.exprVars} />}
        </FieldGroup>
      );
    }
    case 'number':
    case 'integer':
      return (
        <Field {...field} label={label}>
          {(control) => (
            <input
              {...control}
              type="number"
              step={kind === 'integer' ? 1 : 'any'}
              min={schema.minimum}
              max={schema.maximum}
              value={typeof value === 'number' ? value : ''}
              placeholder={typeof schema.default === 'number' ? `default: ${schema.default}` : undefined}
              data-testid={`field-${path}`}
              onChange={(e) => {
                const raw = e.target.value;
                if (raw === '') return ctx.onEdit(path, null);
                const n = kind === 'integer' ? parseInt(raw, 10) : parseFloat(raw);
                if (!Number.isNaN(n)) ctx.onEdit(path, n);
              }}
            />
          )}
        </Field>
      );
    case 'boolean':
      return (
        <Field {...field} label={label} check>
          {(control) => (
            <input
              {...control}
              type="checkbox"
              checked={value === true}
              data-testid={`field-${path}`}
              onChange={(e) => ctx.onEdit(path, e.target.checked)}
            />
          )}
        </Field>
      );
    case 'enum': {
      const options = schema.enum ?? [];
      const idx = options.findIndex((o) => JSON.stringify(o) === JSON.stringify(value));
      return (
        <Field {...field} label={label}>
          {(control) => (
            <select
              {...control}
              value={idx < 0 ? '' : String(idx)}
              data-testid={`field-${path}`}
              onChange={(e) => ctx.onEdit(path, e.target.value === '' ? null : (options[Number(e.target.value)] as JsonValue))}
            >
              {idx < 0 && <option value="">{schema.default !== undefined ? `— (default: ${String(schema.default)})` : '—'}</option>}
              {options.map((o, i) => (
                <option key={i} value={String(i)}>
                  {String(o)}
                </option>
              ))}
            </select>
          )}
        </Field>
      );
    }
    case 'object': {
      const obj = value && typeof value === 'object' && !Array.isArray(value) ? value : {};
      return (
        <FieldGroup {...group}>
          <ObjectFields schema={schema} value={obj} path={path} ctx={ctx} />
        </FieldGroup>
      );
    }
    case 'array': {
      const items = Array.isArray(value) ? value : [];
      const itemSchema: JsonSchema = schema.items ?? {};
      const itemKind = fieldKind(itemSchema);
      return (
        <FieldGroup {...group} testId={`field-${path}`}>
          {items.map((item, i) => (
            <div key={i} className="array-item">
              {itemKind === 'object' ? (
                <ObjectFields schema={itemSchema} value={(item as JsonObject) ?? {}} path={`${path}[${i}]`} ctx={ctx} />
              ) : (
                <SchemaField schema={itemSchema} name={`${name} ${i + 1}`} path={`${path}[${i}]`} value={item} ctx={ctx} />
              )}
              <button
                type="button"
                className="btn btn-small"
                aria-label={`Remove item ${i + 1} of ${label}`}
                data-testid={`remove-${path}[${i}]`}
                onClick={() => ctx.onEdit(path, items.filter((_, j) => j !== i))}
              >
                Remove
              </button>
              <FieldErrors messages={ctx.errors?.get(`${path}[${i}]`)} testId={`field-error-${path}[${i}]`} />
            </div>
          ))}
          <button
            type="button"
            className="btn btn-small"
            data-testid={`add-${path}`}
            onClick={() => ctx.onEdit(path, [...items, defaultFor(itemSchema)])}
          >
            + Add {schema.items?.title ?? 'item'}
          </button>
        </FieldGroup>
      );
    }
    default:
      return (
        <>
          <JsonText
            id={field.id}
            label={`${label} (JSON)`}
            value={value ?? defaultFor(schema)}
            onChange={(v) => ctx.onEdit(path, v)}
            rows={4}
            testId={`field-${path}`}
            errors={field.errors}
            hintFor={hintFor}
          />
          {exprHint}
        </>
      );
  }
}

/** Keeps the user's text while typing; stores an expression string or a JSON literal. */
function MixedInput({
  path,
  value,
  onEdit,
  label,
  ...control
}: FieldControlProps & {
  'data-hint-for'?: string;
  label: string;
  path: string;
  value: JsonValue | undefined;
  onEdit: (path: string, v: JsonValue) => void;
}) {
  const [text, setText] = useState(() => mixedToText(value));
  useEffect(() => {
    setText((t) => (JSON.stringify(textToMixed(t)) === JSON.stringify(value ?? '') ? t : mixedToText(value)));
  }, [value]);
  return (
    <ExpressionInput
      id={control.id}
      invalid={control['aria-invalid']}
      value={text}
      label={label}
      testId={`field-${path}`}
      hintFor={control['data-hint-for']}
      placeholder='{{ expression }} or a literal: 42, true, "text"'
      onChange={(t) => {
        setText(t);
        onEdit(path, textToMixed(t));
      }}
    />
  );
}

export function ObjectFields({ schema, value, path, ctx }: { schema: JsonSchema; value: JsonObject; path: string; ctx: FormContext }) {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  return (
    <>
      {Object.entries(props).map(([key, sub]) => (
        <SchemaField
          key={key}
          schema={sub}
          name={key}
          path={`${path}.${key}`}
          value={value[key]}
          required={required.has(key)}
          ctx={ctx}
        />
      ))}
    </>
  );
}
