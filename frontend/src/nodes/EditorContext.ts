/** What custom nodes read besides their data: the registry, API errors and run status. */
import { createContext, useContext } from 'react';
import type { ApiFieldError, NodeTypeSpec } from '../api/types';

export type RunStatus = 'success' | 'failed' | 'skipped' | 'running' | 'paused' | 'pending' | 'cancelled';

export interface EditorContextValue {
  specs: Map<string, NodeTypeSpec>;
  errorsByNode: Map<string, ApiFieldError[]>;
  statusByNode: Map<string, RunStatus>;
  readOnly: boolean;
  /** The "+" on an output port: add a node after `nodeId`, joined from `port` (editor only). */
  onAddAfter?: (nodeId: string, port: string) => void;
  /** A sticky note's text was edited (editor only). */
  onNoteText?: (id: string, text: string) => void;
  /** A sticky note starts being resized: one undo step per resize (editor only). */
  onNoteResizeStart?: () => void;
}

export const EditorContext = createContext<EditorContextValue>({
  specs: new Map(),
  errorsByNode: new Map(),
  statusByNode: new Map(),
  readOnly: false,
});

export const useEditorContext = () => useContext(EditorContext);

export const GROUP_ICON: Record<string, string> = { trigger: '⚡', logic: '◆', action: '⚙', flow: '⇢' };
export const GROUP_LABEL: Record<string, string> = { trigger: 'Triggers', logic: 'Logic', action: 'Actions', flow: 'Flow' };
export const GROUP_ORDER = ['trigger', 'logic', 'action', 'flow'] as const;
