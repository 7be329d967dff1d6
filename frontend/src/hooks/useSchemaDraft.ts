/**
 * The schema being edited as the user sees it: name, description and the definition built from
 * the store's canvas, and whether that differs from what was last loaded or saved.
 */
import { useCallback, useMemo, useState } from 'react';
import type { Definition, ExecutionSettings, Schema } from '../api/types';
import { fromCanvas, toCanvas } from '../lib/mapping';
import type { Snapshot } from '../store/editorStore';

export interface SchemaDraft {
  name: string;
  setName: (name: string) => void;
  description: string;
  setDescription: (description: string) => void;
  /** The execution policies (`definition.settings`), kept with the definition when saved. */
  settings: ExecutionSettings;
  setSettings: (settings: ExecutionSettings) => void;
  definition: Definition;
  /** Differs from the last loaded or saved state. */
  dirty: boolean;
  /** Records what the server now holds. */
  markSaved: (saved: { name: string; description: string; definition: Definition }) => void;
  /** Takes the schema as the server now holds it (a restored version): name, settings, baseline. */
  reset: (schema: Schema) => void;
}

// One string per state: comparing it is how "unsaved" is decided (key order is the mapping's, stable).
const serialize = (name: string, description: string, definition: Definition) => JSON.stringify({ name, description, def: definition });

/** The canvas's definition with the settings (left out when none is set, as the server stores it). */
const withSettings = (definition: Definition, settings: ExecutionSettings | undefined): Definition =>
  settings && Object.keys(settings).length ? { ...definition, settings } : definition;

function baselineOf(schema: Schema): string {
  const { nodes, edges, notes } = toCanvas(schema.definition);
  const loaded = fromCanvas(nodes, edges, schema.definition.variables ?? {}, notes);
  return serialize(schema.name, schema.description ?? '', withSettings(loaded, schema.definition.settings));
}

export function useSchemaDraft(schema: Schema, state: Snapshot): SchemaDraft {
  const [name, setName] = useState(schema.name);
  const [description, setDescription] = useState(schema.description ?? '');
  const [settings, setSettings] = useState<ExecutionSettings>(schema.definition.settings ?? {});
  // The loaded definition passed through the canvas mapping, so an untouched schema is not dirty.
  const [baseline, setBaseline] = useState(() => baselineOf(schema));
  const definition = useMemo(
    () => withSettings(fromCanvas(state.nodes, state.edges, state.variables, state.notes), settings),
    [state.nodes, state.edges, state.variables, state.notes, settings],
  );
  const dirty = serialize(name, description, definition) !== baseline;
  const markSaved = useCallback(
    (saved: { name: string; description: string; definition: Definition }) => setBaseline(serialize(saved.name, saved.description, saved.definition)),
    [],
  );
  const reset = useCallback((s: Schema) => {
    setName(s.name);
    setDescription(s.description ?? '');
    setSettings(s.definition.settings ?? {});
    setBaseline(baselineOf(s));
  }, []);
  return { name, setName, description, setDescription, settings, setSettings, definition, dirty, markSaved, reset };
}
