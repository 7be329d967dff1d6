/** Version history of a schema: restore an old version as a new one (the list is `useSchemaVersions`). */
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { post } from './client';
import { keys } from './hooks';
import type { Schema } from './types';

export function useRestoreVersion(schemaId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (version: number) => post<Schema>(`/schemas/${schemaId}/versions/${version}/restore/`),
    onSuccess: (s) => {
      qc.setQueryData(keys.schema(s.id), s);
      void qc.invalidateQueries({ queryKey: keys.versions(s.id) });
      void qc.invalidateQueries({ queryKey: ['schemas'] });
    },
  });
}
