/**
 * The run data the editor shows beside the canvas: the latest execution of the schema, or one
 * the user loaded ("Load execution"), with its steps, the latest step per node and the status
 * per node that colours the canvas.
 */
import { useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useExecution, useExecutionSteps } from '../api/hooks';
import { get } from '../api/client';
import { FINISHED_STATUSES, type Execution, type ExecutionStep, type ExecutionSummary, type Page } from '../api/types';
import { latestStepByNode } from '../lib/runData';
import { statusByNode } from '../lib/runStatus';
import type { RunStatus } from '../nodes/EditorContext';

/** How many past executions "Load execution" offers. */
export const RECENT_RUNS = 25;

export interface RunData {
  /** Recent executions of the schema, newest first. */
  recent: ExecutionSummary[];
  /** The execution the user picked, or null for "the latest". */
  chosenId: string | null;
  choose: (id: string | null) => void;
  execution: Execution | undefined;
  steps: ExecutionStep[];
  stepByNode: Map<string, ExecutionStep>;
  statusByNode: Map<string, RunStatus>;
  loading: boolean;
  error: unknown;
}

export function useRunData(schemaId: string): RunData {
  const [chosenId, choose] = useState<string | null>(null);
  const recent = useQuery({
    // Under 'executions' so starting a run (which invalidates that key) refreshes "the latest".
    queryKey: ['executions', `recent-of-schema:${schemaId}`],
    queryFn: () => get<Page<ExecutionSummary>>(`/executions/?schema=${encodeURIComponent(schemaId)}&page_size=${RECENT_RUNS}`),
    refetchInterval: 5000,
  });
  const recentList = useMemo(() => recent.data?.results ?? [], [recent.data]);
  const id = chosenId ?? recentList[0]?.id;
  const ex = useExecution(id);
  const live = !!ex.data && !FINISHED_STATUSES.includes(ex.data.status);
  const stepsQuery = useExecutionSteps(id, live);
  const steps = useMemo(() => stepsQuery.data ?? [], [stepsQuery.data]);
  const stepByNode = useMemo(() => latestStepByNode(steps), [steps]);
  const statuses = useMemo(() => (ex.data ? statusByNode(ex.data, steps) : new Map<string, RunStatus>()), [ex.data, steps]);
  return {
    recent: recentList,
    chosenId,
    choose,
    execution: id ? ex.data : undefined,
    steps,
    stepByNode,
    statusByNode: statuses,
    loading: recent.isLoading || (!!id && (ex.isLoading || stepsQuery.isLoading)),
    error: recent.error ?? ex.error ?? stepsQuery.error,
  };
}
