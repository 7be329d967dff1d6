/**
 * Variables over the API (`/api/variables/`): the user's own and the global ones, which
 * expressions read as `{{ env.NAME }}`. Not secret (credentials are for secrets).
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, del, get, itemsOf, post } from './client';
import type { components } from './schema';
import type { Page } from './types';

export type Variable = components['schemas']['Variable'];
export type VariableInput = components['schemas']['VariableRequest'];

export const variableKeys = { all: ['variables'] as const };

export function useVariables() {
  return useQuery({
    queryKey: variableKeys.all,
    queryFn: async () => itemsOf(await get<Variable[] | Page<Variable>>('/variables/?page_size=200')),
  });
}

/** Create (no id) or change (PATCH). */
export function useSaveVariable() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body }: { id?: number; body: Partial<VariableInput> }) =>
      id ? api<Variable>('PATCH', `/variables/${id}/`, body) : post<Variable>('/variables/', body),
    onSuccess: () => qc.invalidateQueries({ queryKey: variableKeys.all }),
  });
}

export function useDeleteVariable() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => del(`/variables/${id}/`),
    onSuccess: () => qc.invalidateQueries({ queryKey: variableKeys.all }),
  });
}

/** What `env` holds for the signed-in user: global values overlaid by their own (theirs win). */
export function envOf(variables: readonly Variable[], email: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of variables) if (v.is_global && !(v.name in env)) env[v.name] = v.value;
  for (const v of variables) if (!v.is_global && v.owner === email) env[v.name] = v.value;
  return env;
}
