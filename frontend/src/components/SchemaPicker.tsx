/**
 * The schema a `call_schema` or `for_each` node runs (fields marked `x-schema-ref`): a list of the
 * schemas the user may run, by name; an id that is not among them stays shown (and is flagged).
 */
import { Link } from 'react-router-dom';
import { useSchemas } from '../api/hooks';
import type { JsonSchema, JsonValue } from '../api/types';
import { Field, fieldDomId } from './Field';

export function SchemaPicker({
  schema,
  path,
  label,
  value,
  errors,
  onEdit,
}: {
  schema: JsonSchema;
  path: string;
  label: string;
  value: JsonValue | undefined;
  errors: string[] | undefined;
  onEdit: (path: string, value: JsonValue) => void;
}) {
  const schemas = useSchemas('', '');
  const current = typeof value === 'string' ? value : '';
  const list = (schemas.data ?? []).filter((s) => s.status !== 'archived');
  const known = !current || list.some((s) => s.id === current);
  return (
    <Field
      id={fieldDomId(path)}
      label={label}
      errors={known ? errors : [...(errors ?? []), 'This schema is not in your list (deleted, archived or not yours).']}
      errorTestId={`field-error-${path}`}
      help={
        <>
          {schema.description} {current && known && <Link to={`/schemas/${current}`}>Open it</Link>}
        </>
      }
    >
      {(control) => (
        <select {...control} data-testid={`field-${path}`} value={current} onChange={(e) => onEdit(path, e.target.value)}>
          <option value="">Choose a schema…</option>
          {!known && <option value={current}>{current}</option>}
          {list.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name} ({s.status})
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}
