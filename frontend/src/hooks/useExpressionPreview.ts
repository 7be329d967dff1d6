/**
 * The live preview of an expression field: asks the server (the engine's sandbox, as in
 * production) for the value of the text against the loaded run's data, at most every 250 ms while
 * typing, and keeps only the answer to the latest text.
 */
import { useEffect, useState } from 'react';
import { post } from '../api/client';
import type { components } from '../api/schema';
import type { JsonValue } from '../api/types';
import type { ExpressionSupport } from '../components/expression/ExpressionContext';

type Preview = components['schemas']['ExpressionPreview'];
export type PreviewState = { status: 'idle' } | { status: 'loading' } | { status: 'done'; preview: Preview } | { status: 'unavailable'; message: string };

export const PREVIEW_DELAY_MS = 250;

export function previewBody(text: string, s: ExpressionSupport) {
  const scope: Record<string, JsonValue> = {};
  if (s.inputOverride !== undefined) scope.input = s.inputOverride;
  if (s.triggerOverride !== undefined) scope.trigger = s.triggerOverride;
  if (s.varsOverride !== undefined) scope.vars = s.varsOverride;
  if (s.nodesOverride !== undefined) scope.nodes = s.nodesOverride;
  return {
    expression: text,
    node_id: s.nodeId,
    execution: s.executionId,
    ...(Object.keys(scope).length ? { scope } : {}),
    ...(s.pinned ? { pinned: s.pinned } : {}),
  };
}

export function useExpressionPreview(text: string, support: ExpressionSupport | null, active: boolean): PreviewState {
  const [state, setState] = useState<PreviewState>({ status: 'idle' });
  const wanted = active && !!support && /\{\{|\{%/.test(text);
  const body = wanted && support ? JSON.stringify(previewBody(text, support)) : null;
  const schemaId = support?.schemaId;
  useEffect(() => {
    if (!body || !schemaId) {
      setState({ status: 'idle' });
      return;
    }
    let current = true;
    setState((s) => (s.status === 'done' ? s : { status: 'loading' }));
    const timer = window.setTimeout(() => {
      post<Preview>(`/schemas/${schemaId}/preview-expression/`, JSON.parse(body))
        .then((preview) => current && setState({ status: 'done', preview }))
        .catch((e: Error) => current && setState({ status: 'unavailable', message: e.message }));
    }, PREVIEW_DELAY_MS);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [body, schemaId]);
  return state;
}
