/**
 * The editor's keyboard shortcuts: Ctrl/⌘+S saves everywhere; Ctrl/⌘+Z undoes and
 * Ctrl/⌘+Shift+Z or Ctrl/⌘+Y redo, except while typing in a field, where the browser's own
 * text undo wins.
 */
import { useEffect, useRef } from 'react';
import { flushPendingEdits } from '../lib/pendingEdits';

export interface EditorShortcutHandlers {
  save: () => unknown;
  undo: () => void;
  redo: () => void;
}

const isTextEntry = (t: EventTarget | null) =>
  t instanceof HTMLElement && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));

export function useEditorShortcuts({ save, undo, redo }: EditorShortcutHandlers) {
  const latestSave = useRef(save);
  latestSave.current = save;
  useEffect(() => {
    const onKeyDown = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey)) return;
      const k = e.key.toLowerCase();
      if (k === 's') {
        e.preventDefault();
        // Text still being typed is committed first; the save then waits for the re-render that
        // brings it into the draft (React renders a keydown's update in a microtask).
        if (flushPendingEdits()) window.setTimeout(() => void latestSave.current(), 0);
        else void save();
        return;
      }
      if (isTextEntry(e.target)) return;
      if (k === 'z' && !e.shiftKey) {
        e.preventDefault();
        undo();
      } else if ((k === 'z' && e.shiftKey) || k === 'y') {
        e.preventDefault();
        redo();
      }
    };
    window.addEventListener('keydown', onKeyDown);
    return () => window.removeEventListener('keydown', onKeyDown);
  }, [save, undo, redo]);
}
