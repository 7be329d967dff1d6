/** The side panel while no node is selected: the schema's description and variables, and how to use the editor. */
import type { ExecutionSettings, JsonObject } from '../../api/types';
import { Field } from '../Field';
import { JsonText } from '../JsonText';
import { ExecutionSettingsFields } from './ExecutionSettingsFields';

export function SchemaSettingsPanel({
  description,
  onDescriptionChange,
  variables,
  onVariablesChange,
  nodeCount,
  edgeCount,
  schemaId,
  settings,
  onSettingsChange,
}: {
  description: string;
  onDescriptionChange: (description: string) => void;
  variables: JsonObject;
  onVariablesChange: (variables: JsonObject) => void;
  nodeCount: number;
  edgeCount: number;
  schemaId: string;
  settings: ExecutionSettings;
  onSettingsChange: (settings: ExecutionSettings) => void;
}) {
  return (
    <aside className="side-panel" aria-label="Schema settings" data-testid="schema-panel">
      <h2>Schema settings</h2>
      <Field id="schema-description" label="Description">
        {(control) => (
          <textarea {...control} rows={3} value={description} data-testid="schema-description" onChange={(e) => onDescriptionChange(e.target.value)} />
        )}
      </Field>
      <JsonText
        id="schema-variables"
        label="Variables (JSON object, available as vars.<name>)"
        value={variables}
        rows={8}
        testId="schema-variables"
        onChange={(v) => {
          // Only an object is a valid set of variables; anything else waits for more typing.
          if (v && typeof v === 'object' && !Array.isArray(v)) onVariablesChange(v);
        }}
      />
      <ExecutionSettingsFields schemaId={schemaId} settings={settings} onChange={onSettingsChange} />
      <p className="help">
        Drag nodes from the palette (or focus one and press Enter), connect an output port to an input, select a node to configure
        it. Delete removes the selection; Ctrl+Z / Ctrl+Shift+Z undo and redo; Ctrl+S saves.
      </p>
      <p className="muted small">
        {nodeCount} nodes · {edgeCount} edges
      </p>
    </aside>
  );
}
