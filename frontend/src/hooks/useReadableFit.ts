/**
 * Fits the canvas to its graph at a readable zoom (`readableViewport`): used when a graph is
 * opened and after Auto-layout. Must be called inside a ReactFlowProvider.
 */
import { useCallback } from 'react';
import { useReactFlow, useStoreApi } from '@xyflow/react';
import { readableViewport } from '../lib/viewport';

export function useReadableFit() {
  const rf = useReactFlow();
  const store = useStoreApi();
  return useCallback(
    (duration = 0) => {
      const nodes = rf.getNodes();
      const { width, height } = store.getState();
      if (!nodes.length || !width || !height) return;
      void rf.setViewport(readableViewport(rf.getNodesBounds(nodes), { width, height }), { duration });
    },
    [rf, store],
  );
}
