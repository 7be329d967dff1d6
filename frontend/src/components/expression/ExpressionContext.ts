/** What expression fields of the selected node need from the editor: where to ask for a preview
 * and what the node's expressions can see (for completion). */
import { createContext, useContext } from 'react';
import type { JsonObject, JsonValue } from '../../api/types';

export interface ExpressionSupport {
  schemaId: string;
  nodeId: string;
  /** The loaded execution whose data the preview uses, if any. */
  executionId: string | null;
  /** The node's input when it did not run in that execution (its upstream's output), sent instead. */
  inputOverride: JsonValue | undefined;
  /** Pinned trigger data, sent instead of the run's payload. */
  triggerOverride?: JsonValue;
  /** Pinned outputs of the draft's nodes (node id → data): they stand in for `nodes.<id>.output`. */
  pinned?: Record<string, JsonValue>;
  /** After "Run to here": the walk's variables and node outputs, sent instead of the run's. */
  varsOverride?: JsonValue;
  nodesOverride?: Record<string, { output: JsonValue }>;
  /** The scope as data, for completion (`scopeData`). */
  data: JsonObject;
}

export const ExpressionContext = createContext<ExpressionSupport | null>(null);
export const useExpressionSupport = () => useContext(ExpressionContext);
