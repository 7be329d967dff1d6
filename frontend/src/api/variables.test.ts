import { describe, expect, it } from 'vitest';
import { envOf, type Variable } from './variables';

const variable = (name: string, value: string, owner: string | null): Variable =>
  ({ id: Math.random(), name, value, is_global: owner === null, owner, version: 1, created_at: '', updated_at: '', updated_by: 'a@example.com' }) as unknown as Variable;

describe('envOf', () => {
  it('overlays the global variables with the user’s own and leaves out other users’', () => {
    const list = [
      variable('BASE_URL', 'https://global.example.com', null),
      variable('REGION', 'eu', null),
      variable('BASE_URL', 'https://mine.example.com', 'me@example.com'),
      variable('TEAM', 'theirs', 'other@example.com'),
    ];
    expect(envOf(list, 'me@example.com')).toEqual({ BASE_URL: 'https://mine.example.com', REGION: 'eu' });
  });

  it('gives the schema owner’s variables when staff (who lists everyone’s) edits their schema', () => {
    const list = [
      variable('BASE_URL', 'https://global.example.com', null),
      variable('BASE_URL', 'https://staff.example.com', 'staff@example.com'),
      variable('BASE_URL', 'https://owner.example.com', 'owner@example.com'),
    ];
    expect(envOf(list, 'owner@example.com')).toEqual({ BASE_URL: 'https://owner.example.com' });
  });
});
