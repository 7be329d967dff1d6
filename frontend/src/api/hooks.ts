/** TanStack Query hooks over the API: one per read, mutations invalidate what they change. */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { del, get, itemsOf, post, put } from './client';
import type {
  Execution,
  ExecutionStep,
  ExecutionSummary,
  JsonValue,
  NodeTypeSpec,
  Page,
  Schema,
  SchemaInput,
  SchemaSummary,
  SchemaVersion,
  Session,
  User,
} from './types';
import { FINISHED_STATUSES } from './types';

export const keys = {
  me: ['me'] as const,
  nodeTypes: ['node-types'] as const,
  schemas: (params: string) => ['schemas', params] as const,
  schema: (id: string) => ['schema', id] as const,
  versions: (id: string) => ['schema', id, 'versions'] as const,
  executions: (params: string) => ['executions', params] as const,
  execution: (id: string) => ['execution', id] as const,
  steps: (id: string) => ['execution', id, 'steps'] as const,
};

/**
 * The signed-in user, or null when signed out. Asked of `auth/session/`, which answers 200 either
 * way: a signed-out first load is no failed request in the browser's console (`auth/me/` is a 401).
 */
export async function fetchMe(): Promise<User | null> {
  return (await get<Session>('/auth/session/')).user ?? null;
}

export function useMe() {
  return useQuery({ queryKey: keys.me, queryFn: fetchMe, retry: false, staleTime: 60_000 });
}

export function useNodeTypes() {
  return useQuery({
    queryKey: keys.nodeTypes,
    queryFn: async () => itemsOf(await get<NodeTypeSpec[] | Page<NodeTypeSpec>>('/node-types/')),
    staleTime: Infinity,
  });
}

export function useSchemas(search: string, status: string) {
  const params = new URLSearchParams({ page_size: '200' });
  if (search) params.set('search', search);
  if (status) params.set('status', status);
  const qs = params.toString();
  return useQuery({
    queryKey: keys.schemas(qs),
    queryFn: async () => itemsOf(await get<SchemaSummary[] | Page<SchemaSummary>>(`/schemas/?${qs}`)),
    placeholderData: keepPreviousData,
  });
}

export function useSchema(id: string | undefined) {
  return useQuery({ queryKey: keys.schema(id ?? ''), queryFn: () => get<Schema>(`/schemas/${id}/`), enabled: !!id });
}

export function useSchemaVersions(id: string | undefined) {
  return useQuery({
    queryKey: keys.versions(id ?? ''),
    queryFn: async () => itemsOf(await get<SchemaVersion[] | Page<SchemaVersion>>(`/schemas/${id}/versions/`)),
    enabled: !!id,
    retry: false,
  });
}

function useInvalidateSchemas() {
  const qc = useQueryClient();
  return (s?: Schema) => {
    void qc.invalidateQueries({ queryKey: ['schemas'] });
    if (s?.id) qc.setQueryData(keys.schema(s.id), s);
  };
}

export function useCreateSchema() {
  const done = useInvalidateSchemas();
  return useMutation({ mutationFn: (body: SchemaInput) => post<Schema>('/schemas/', body), onSuccess: done });
}

export function useSaveSchema(id: string) {
  const done = useInvalidateSchemas();
  return useMutation({ mutationFn: (body: SchemaInput) => put<Schema>(`/schemas/${id}/`, body), onSuccess: done });
}

export type SchemaAction = 'activate' | 'archive' | 'duplicate' | 'rotate-secret' | 'pause' | 'resume';

export function useSchemaAction() {
  const done = useInvalidateSchemas();
  return useMutation({
    mutationFn: ({ id, action }: { id: string; action: SchemaAction }) => post<Schema>(`/schemas/${id}/${action}/`),
    onSuccess: (s, v) => done(v.action === 'duplicate' ? undefined : s),
  });
}

/** A paused schema's progress towards drained (GET), or pause-and-report (the `drain` mutation). */
export interface DrainStatus {
  paused: boolean;
  paused_at: string | null;
  running: number;
  held: number;
  drained: boolean;
}

export function useDrainStatus(id: string, enabled: boolean) {
  return useQuery({
    queryKey: ['schema', id, 'drain'] as const,
    queryFn: () => get<DrainStatus>(`/schemas/${id}/drain/`),
    enabled,
    refetchInterval: enabled ? 2000 : false,
  });
}

export function useDrainSchema() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => post<DrainStatus>(`/schemas/${id}/drain/`),
    onSuccess: (_, id) => {
      void qc.invalidateQueries({ queryKey: keys.schema(id) });
    },
  });
}

export function useDeleteSchema() {
  const done = useInvalidateSchemas();
  return useMutation({ mutationFn: (id: string) => del(`/schemas/${id}/`), onSuccess: () => done() });
}

export function useExecuteSchema() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, payload }: { id: string; payload: JsonValue }) => post<Execution>(`/schemas/${id}/execute/`, { payload }),
    onSuccess: (ex) => {
      qc.setQueryData(keys.execution(ex.id), ex);
      void qc.invalidateQueries({ queryKey: ['executions'] });
    },
  });
}

const isLive = (ex: Execution | undefined) => !ex || !FINISHED_STATUSES.includes(ex.status);

export function useExecution(id: string | undefined) {
  return useQuery({
    queryKey: keys.execution(id ?? ''),
    queryFn: () => get<Execution>(`/executions/${id}/`),
    enabled: !!id,
    refetchInterval: (q) => (isLive(q.state.data) ? 1000 : false),
  });
}

export function useExecutionSteps(id: string | undefined, live: boolean) {
  return useQuery({
    queryKey: keys.steps(id ?? ''),
    queryFn: async () => itemsOf(await get<ExecutionStep[] | Page<ExecutionStep>>(`/executions/${id}/steps/`)),
    enabled: !!id,
    refetchInterval: live ? 1000 : false,
  });
}

export function useExecutionAction() {
  const qc = useQueryClient();
  return useMutation({
    // `rerun` starts a new execution with the same payload on the same (pinned) version.
    // `nodeId` names the wait node to resume when several branches wait.
    mutationFn: ({ id, action, payload, nodeId }: { id: string; action: 'cancel' | 'resume' | 'retry' | 'rerun'; payload?: JsonValue; nodeId?: string }) =>
      post<Execution>(
        `/executions/${id}/${action}/`,
        action === 'resume' ? { payload: payload ?? {}, ...(nodeId ? { node_id: nodeId } : {}) } : action === 'rerun' ? { version: 'pinned' } : {},
      ),
    onSuccess: (_ex, v) => {
      void qc.invalidateQueries({ queryKey: keys.execution(v.id) });
      void qc.invalidateQueries({ queryKey: ['executions'] });
    },
  });
}

/** `path` is `/executions/?…` for the first page, or a next/previous link from the API. */
export function useExecutions(path: string, autoRefresh: boolean) {
  return useQuery({
    queryKey: keys.executions(path),
    queryFn: () => get<Page<ExecutionSummary>>(path),
    placeholderData: keepPreviousData,
    refetchInterval: autoRefresh ? 3000 : false,
  });
}
