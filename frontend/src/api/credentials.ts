/**
 * Credentials over the API: types from the OpenAPI document and the TanStack Query hooks of the
 * Credentials page and the credential picker. Secret fields are write-only: sent on create or
 * change, never read back (`secret_fields` names them, `hint` masks one).
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, del, get, itemsOf, post } from './client';
import type { components } from './schema';
import type { Definition, Page } from './types';
import { credentialReferences, withCredentialNames } from '../lib/credentialRefs';

type Api = components['schemas'];

export type Credential = Api['Credential'];
export type CredentialInput = Api['CredentialRequest'];
export type CredentialTypeSpec = Api['CredentialType'];
export type CredentialKind = Api['CredentialTypeEnum'];
export type CredentialTestResult = Api['CredentialTestResult'];

export const credentialKeys = {
  all: ['credentials'] as const,
  types: ['credential-types'] as const,
};

export function useCredentials() {
  return useQuery({
    queryKey: credentialKeys.all,
    queryFn: async () => itemsOf(await get<Credential[] | Page<Credential>>('/credentials/?page_size=200')),
  });
}

export function useCredentialTypes() {
  return useQuery({
    queryKey: credentialKeys.types,
    queryFn: () => get<CredentialTypeSpec[]>('/credentials/types/'),
    staleTime: Infinity,
  });
}

/** Create (no id) or change (PATCH: secret fields left out keep their stored values). */
export function useSaveCredential() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body }: { id?: string; body: Partial<CredentialInput> }) =>
      id ? api<Credential>('PATCH', `/credentials/${id}/`, body) : post<Credential>('/credentials/', body),
    onSuccess: () => qc.invalidateQueries({ queryKey: credentialKeys.all }),
  });
}

export function useDeleteCredential() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, force }: { id: string; force?: boolean }) => del(`/credentials/${id}/${force ? '?force=true' : ''}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: credentialKeys.all }),
  });
}

export function useTestCredential() {
  return useMutation({
    mutationFn: ({ id, url }: { id: string; url: string }) => post<CredentialTestResult>(`/credentials/${id}/test/`, { url }),
  });
}

/** The definition as an export file carries it: credentials by name, never by id (or data). */
export async function exportableDefinition(definition: Definition): Promise<Definition> {
  if (!credentialReferences(definition).length) return definition;
  return withCredentialNames(definition, itemsOf(await get<Credential[] | Page<Credential>>('/credentials/?page_size=200')));
}
