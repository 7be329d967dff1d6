/**
 * Fields that commit typed text to the store after a pause register how to commit it now, so a
 * command that reads the store without the field losing focus first (Ctrl+S) sees every keystroke.
 */
const flushes = new Set<() => boolean>();

/** `flush` commits the field's pending text and says whether there was any. */
export function registerPendingEdit(flush: () => boolean): () => void {
  flushes.add(flush);
  return () => void flushes.delete(flush);
}

/** Commits every field's pending text; true when one had some (the store changes with it). */
export function flushPendingEdits(): boolean {
  let any = false;
  for (const flush of flushes) any = flush() || any;
  return any;
}
