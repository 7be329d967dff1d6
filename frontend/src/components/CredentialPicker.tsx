/**
 * The credential picker of node forms (`x-credential` fields, e.g. `http_request` → auth): the
 * user's credentials by name, grouped by type, optionally limited to `x-credential-types`. The
 * definition stores the name; "None" removes the whole `auth` object. A name that no credential has
 * (deleted, or from an imported schema) stays shown, marked missing.
 */
import { Link } from 'react-router-dom';
import { useCredentials, useCredentialTypes } from '../api/credentials';
import type { JsonSchema, JsonValue } from '../api/types';
import { Field, fieldDomId } from './Field';

export function CredentialPicker({
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
  const credentials = useCredentials();
  const types = useCredentialTypes();
  const allowed = Array.isArray(schema['x-credential-types']) ? (schema['x-credential-types'] as string[]) : null;
  const current = typeof value === 'string' ? value : '';
  const list = (credentials.data ?? []).filter((c) => !allowed || allowed.includes(c.type));
  const known = list.some((c) => c.name === current || c.id === current);
  const labelOf = (type: string) => types.data?.find((t) => t.type === type)?.label ?? type;
  const parent = path.slice(0, path.lastIndexOf('.'));
  return (
    <Field
      id={fieldDomId(path)}
      label={label}
      errors={errors}
      errorTestId={`field-error-${path}`}
      help={
        <>
          {schema.description} Secrets stay in the credential store; the schema keeps only the name.{' '}
          <Link to="/credentials">Manage credentials</Link>
        </>
      }
    >
      {(control) => (
        <select
          {...control}
          data-testid={`field-${path}`}
          value={current}
          onChange={(e) => (e.target.value ? onEdit(path, e.target.value) : onEdit(parent, undefined as unknown as JsonValue))}
        >
          <option value="">None</option>
          {current && !known && !credentials.isPending && <option value={current}>{current} (missing)</option>}
          {list.map((c) => (
            <option key={c.id} value={c.name}>
              {c.name} — {labelOf(c.type)}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}
