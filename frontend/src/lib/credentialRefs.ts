/**
 * The credentials a definition names, as the server finds them (engine/http/auth.py
 * `credential_references`): `auth.credential` of a node, and `credentials.<name>` or
 * `credentials['<name>']` inside the header and query values. A reference is a credential's
 * name or id; an exported file must carry names (ids mean nothing to another user or server), and
 * an imported one is checked for names the user has no credential of.
 */
import type { Definition, JsonObject, JsonValue } from '../api/types';

// The server's TEMPLATE_REFERENCE, unchanged.
const TEMPLATE_REFERENCE = /\bcredentials\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(['"])(.+?)\2\s*\])/g;
const SECRET_CAPABLE = ['headers', 'query'] as const;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface CredentialRef {
  id: string;
  name: string;
}

const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function credentialReferences(definition: Definition): string[] {
  const found = new Set<string>();
  for (const node of definition.nodes ?? []) {
    const config = node.config;
    if (!isObject(config)) continue;
    const auth = config.auth;
    if (isObject(auth) && typeof auth.credential === 'string' && auth.credential.trim()) found.add(auth.credential.trim());
    for (const field of SECRET_CAPABLE) {
      const values = config[field];
      if (!isObject(values)) continue;
      for (const value of Object.values(values)) {
        if (typeof value !== 'string') continue;
        for (const m of value.matchAll(TEMPLATE_REFERENCE)) found.add(m[1] ?? m[3] ?? '');
      }
    }
  }
  return [...found];
}

/** References that name none of these credentials (by name or id). */
export function missingCredentials(definition: Definition, credentials: readonly CredentialRef[]): string[] {
  const known = new Set(credentials.flatMap((c) => [c.name, c.id]));
  return credentialReferences(definition).filter((r) => !known.has(r));
}

/** The definition with every reference by id replaced by the credential's name (for export). */
export function withCredentialNames(definition: Definition, credentials: readonly CredentialRef[]): Definition {
  const nameOf = new Map(credentials.map((c) => [c.id, c.name]));
  const inTemplate = (text: string) =>
    text.replace(TEMPLATE_REFERENCE, (whole, _dotted: string | undefined, _quote: string | undefined, quoted: string | undefined) => {
      const name = quoted !== undefined ? nameOf.get(quoted) : undefined;
      if (name === undefined) return whole;
      return IDENTIFIER.test(name) ? `credentials.${name}` : `credentials[${JSON.stringify(name)}]`;
    });
  return {
    ...definition,
    nodes: definition.nodes.map((node) => {
      const config = node.config;
      if (!isObject(config)) return node;
      const next: JsonObject = { ...config };
      const auth = config.auth;
      if (isObject(auth) && typeof auth.credential === 'string' && nameOf.has(auth.credential.trim())) {
        next.auth = { ...auth, credential: nameOf.get(auth.credential.trim())! };
      }
      for (const field of SECRET_CAPABLE) {
        const values = config[field];
        if (!isObject(values)) continue;
        next[field] = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === 'string' ? inTemplate(v) : v]));
      }
      return { ...node, config: next };
    }),
  };
}
