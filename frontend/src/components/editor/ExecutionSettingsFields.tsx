/** The schema's execution policies in the settings panel: concurrency limit (per key), timeout, error schema, pausing. */
import { useSchemas } from '../../api/hooks';
import type { ExecutionSettings } from '../../api/types';
import { Field } from '../Field';
import { SchemaPauseControls } from './SchemaPauseControls';

/** A whole number from the input, or undefined when it is empty (the setting is then not set). */
const wholeNumber = (text: string): number | undefined => (text.trim() === '' ? undefined : Math.trunc(Number(text)));

/** The settings without the unset ones (the server stores only what is set). */
function pruned(settings: ExecutionSettings): ExecutionSettings {
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined && v !== '' && v !== false)) as ExecutionSettings;
}

export function ExecutionSettingsFields({
  schemaId,
  settings,
  onChange,
}: {
  schemaId: string;
  settings: ExecutionSettings;
  onChange: (settings: ExecutionSettings) => void;
}) {
  const schemas = useSchemas('', '');
  const set = (patch: Partial<ExecutionSettings>) => onChange(pruned({ ...settings, ...patch }));
  const limited = settings.max_concurrency !== undefined;
  return (
    <section aria-label="Execution policies" data-testid="execution-settings">
      <h3>Execution policies</h3>
      <Field id="settings-max-concurrency" label="Max concurrent executions" help="Empty: no limit. Over the limit, executions wait in order (pending, with the reason).">
        {(control) => (
          <input
            {...control}
            type="number"
            min={1}
            step={1}
            placeholder="no limit"
            data-testid="settings-max-concurrency"
            value={settings.max_concurrency ?? ''}
            onChange={(e) => set({ max_concurrency: wholeNumber(e.target.value) })}
          />
        )}
      </Field>
      <Field id="settings-concurrency-key" label="Limit per key" help="An expression, e.g. {{ trigger.customer_id }}: the limit counts each value apart.">
        {(control) => (
          <input
            {...control}
            type="text"
            disabled={!limited}
            placeholder="{{ trigger.customer_id }}"
            data-testid="settings-concurrency-key"
            value={settings.concurrency_key ?? ''}
            onChange={(e) => set({ concurrency_key: e.target.value })}
          />
        )}
      </Field>
      <Field id="settings-hold-slot" label="Paused executions keep their slot" check>
        {(control) => (
          <input
            {...control}
            type="checkbox"
            disabled={!limited}
            data-testid="settings-hold-slot"
            checked={settings.hold_slot_while_paused ?? false}
            onChange={(e) => set({ hold_slot_while_paused: e.target.checked })}
          />
        )}
      </Field>
      <Field id="settings-timeout" label="Timeout (seconds)" help="Empty: none. An execution still unfinished this long after it started fails.">
        {(control) => (
          <input
            {...control}
            type="number"
            min={1}
            step={1}
            placeholder="no timeout"
            data-testid="settings-timeout"
            value={settings.timeout_seconds ?? ''}
            onChange={(e) => set({ timeout_seconds: wholeNumber(e.target.value) })}
          />
        )}
      </Field>
      <Field id="settings-error-schema" label="On failure, start" help="A schema with a manual or webhook trigger; it gets the failure as its payload.">
        {(control) => (
          <select
            {...control}
            data-testid="settings-error-schema"
            value={settings.error_schema ?? ''}
            onChange={(e) => set({ error_schema: e.target.value || undefined })}
          >
            <option value="">nothing</option>
            {(schemas.data ?? [])
              .filter((s) => s.id !== schemaId && (s.status !== 'archived' || s.id === settings.error_schema))
              .map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            {settings.error_schema && !(schemas.data ?? []).some((s) => s.id === settings.error_schema) && (
              <option value={settings.error_schema}>{settings.error_schema}</option>
            )}
          </select>
        )}
      </Field>
      <Field id="settings-priority" label="Priority (0-9)" help="Empty: 5. Higher starts first; from 7 ahead of a backlog of other starts.">
        {(control) => (
          <input
            {...control}
            type="number"
            min={0}
            max={9}
            step={1}
            placeholder="5"
            data-testid="settings-priority"
            value={settings.priority ?? ''}
            onChange={(e) => set({ priority: wholeNumber(e.target.value) })}
          />
        )}
      </Field>
      <Field id="settings-max-call-priority" label="Highest priority a call may ask for" help="Empty: the priority above. A webhook's ?priority= or a run's priority may not go higher.">
        {(control) => (
          <input
            {...control}
            type="number"
            min={0}
            max={9}
            step={1}
            placeholder="same"
            data-testid="settings-max-call-priority"
            value={settings.max_call_priority ?? ''}
            onChange={(e) => set({ max_call_priority: wholeNumber(e.target.value) })}
          />
        )}
      </Field>
      <Field id="settings-when-paused" label="While paused, webhook and manual calls are" help="Held: they start when the schema is resumed. Refused: answered 409.">
        {(control) => (
          <select
            {...control}
            data-testid="settings-when-paused"
            value={settings.when_paused ?? 'queue'}
            onChange={(e) => set({ when_paused: e.target.value === 'refuse' ? 'refuse' : undefined })}
          >
            <option value="queue">held</option>
            <option value="refuse">refused</option>
          </select>
        )}
      </Field>
      <SchemaPauseControls schemaId={schemaId} />
    </section>
  );
}
