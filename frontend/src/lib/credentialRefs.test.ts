import { describe, expect, it } from 'vitest';
import type { Definition } from '../api/types';
import { credentialReferences, missingCredentials, withCredentialNames } from './credentialRefs';

const ID = '0b5f8a52-7d1e-4c57-9c1a-4a0f3d1e2b77';
const def: Definition = {
  nodes: [
    { id: 'start', type: 'manual_trigger', config: {} },
    { id: 'a', type: 'http_request', config: { url: 'https://x.example', auth: { credential: ID } } },
    {
      id: 'b',
      type: 'http_request',
      config: { url: 'https://x.example', headers: { 'X-Key': `{{ credentials['${ID}'].token }}`, 'X-Other': '{{ credentials.stripe.token }}' } },
    },
    { id: 'c', type: 'http_request', config: { url: 'https://x.example', auth: { credential: 'github' }, body: '{{ credentials.ignored }}' } },
  ],
  edges: [],
};

describe('credential references', () => {
  it('finds auth.credential and credentials.<name> in header and query values only', () => {
    expect(credentialReferences(def).sort()).toEqual([ID, 'github', 'stripe'].sort());
  });

  it('exports names, never ids', () => {
    const out = withCredentialNames(def, [{ id: ID, name: 'my api' }]);
    expect(out.nodes[1]!.config?.auth).toEqual({ credential: 'my api' });
    expect((out.nodes[2]!.config?.headers as Record<string, string>)['X-Key']).toBe('{{ credentials["my api"].token }}');
    expect(JSON.stringify(out)).not.toContain(ID);
    expect(withCredentialNames(def, [{ id: ID, name: 'api' }]).nodes[2]!.config?.headers).toEqual({
      'X-Key': '{{ credentials.api.token }}',
      'X-Other': '{{ credentials.stripe.token }}',
    });
  });

  it('reports the names an imported definition uses that the user has no credential of', () => {
    const exported = withCredentialNames(def, [{ id: ID, name: 'api' }]);
    expect(missingCredentials(exported, [{ id: 'other-id', name: 'github' }]).sort()).toEqual(['api', 'stripe']);
    expect(missingCredentials(exported, [{ id: '1', name: 'api' }, { id: '2', name: 'github' }, { id: '3', name: 'stripe' }])).toEqual([]);
  });
});
