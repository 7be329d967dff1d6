/** Names users give things: a free one beside those already taken. */

/**
 * `name` if no schema has it yet, else `name (imported)`, `name (imported 2)`, … — so an
 * imported file never silently makes a second schema of the same name.
 */
export function unusedName(name: string, taken: Iterable<string>, suffix = 'imported'): string {
  const used = new Set(taken);
  if (!used.has(name)) return name;
  for (let i = 1; ; i++) {
    const candidate = `${name} (${suffix}${i > 1 ? ` ${i}` : ''})`;
    if (!used.has(candidate)) return candidate;
  }
}
