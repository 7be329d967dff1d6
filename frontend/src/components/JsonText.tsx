/** A JSON text area that reports parsed values and shows a parse error in place. */
import { useEffect, useState } from 'react';
import type { JsonValue } from '../api/types';
import { Field } from './Field';

export function JsonText({
  id,
  label,
  value,
  onChange,
  rows = 6,
  testId,
  errors,
  hintFor,
}: {
  id: string;
  label: string;
  value: JsonValue | undefined;
  onChange: (v: JsonValue) => void;
  rows?: number;
  testId?: string;
  errors?: string[];
  /** Marks an expression field: focusing it shows its expression hint (see SchemaForm). */
  hintFor?: string;
}) {
  const [text, setText] = useState(() => JSON.stringify(value ?? null, null, 2));
  const [parseError, setParseError] = useState<string | null>(null);
  // Follow outside changes (undo, reload) unless the text already means the same value.
  useEffect(() => {
    setText((t) => {
      try {
        if (JSON.stringify(JSON.parse(t)) === JSON.stringify(value ?? null)) return t;
      } catch {
        /* replace invalid text */
      }
      return JSON.stringify(value ?? null, null, 2);
    });
  }, [value]);
  const msgs = [...(parseError ? [parseError] : []), ...(errors ?? [])];
  return (
    <Field id={id} label={label} errors={msgs}>
      {(control) => (
        <textarea
          {...control}
          className="mono"
          rows={rows}
          spellCheck={false}
          value={text}
          data-testid={testId}
          data-hint-for={hintFor}
          onChange={(e) => {
            setText(e.target.value);
            try {
              const v = JSON.parse(e.target.value) as JsonValue;
              setParseError(null);
              onChange(v);
            } catch (err) {
              setParseError(`Invalid JSON: ${(err as Error).message}`);
            }
          }}
        />
      )}
    </Field>
  );
}

/** Parses JSON text for dialogs; returns [value, error]. */
export function parseJson(text: string): [JsonValue | undefined, string | null] {
  try {
    return [text.trim() ? (JSON.parse(text) as JsonValue) : {}, null];
  } catch (e) {
    return [undefined, `Invalid JSON: ${(e as Error).message}`];
  }
}
