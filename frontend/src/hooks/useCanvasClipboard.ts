/**
 * Copy, cut and paste of the selected canvas nodes through the system clipboard (Ctrl/⌘+C, X,
 * V), as JSON that another schema's editor (or a text editor) takes. Text fields keep their own
 * copy and paste.
 */
import { useEffect, useRef, type Dispatch } from 'react';
import { clipText, parseClip } from '../lib/clipboard';
import { fromCanvasEdge, fromCanvasNode } from '../lib/mapping';
import type { EditorAction, EditorState } from '../store/editorStore';

const isTextEntry = (t: EventTarget | null) =>
  t instanceof HTMLElement && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));

export function useCanvasClipboard(state: EditorState, dispatch: Dispatch<EditorAction>) {
  // The listeners live for the page; they read the latest state through a ref.
  const latest = useRef(state);
  useEffect(() => {
    latest.current = state;
  });
  useEffect(() => {
    const copy = (e: ClipboardEvent, cut: boolean) => {
      if (isTextEntry(e.target) || !e.clipboardData || window.getSelection()?.toString()) return;
      const { nodes, edges } = latest.current;
      const picked = nodes.filter((n) => n.selected);
      if (!picked.length) return;
      e.clipboardData.setData('text/plain', clipText(picked.map(fromCanvasNode), edges.map(fromCanvasEdge)));
      e.preventDefault();
      if (cut) dispatch({ kind: 'deleteSelected' });
    };
    const onCopy = (e: ClipboardEvent) => copy(e, false);
    const onCut = (e: ClipboardEvent) => copy(e, true);
    const onPaste = (e: ClipboardEvent) => {
      if (isTextEntry(e.target)) return;
      const clip = parseClip(e.clipboardData?.getData('text/plain') ?? '');
      if (!clip) return;
      e.preventDefault();
      dispatch({ kind: 'paste', clip });
    };
    document.addEventListener('copy', onCopy);
    document.addEventListener('cut', onCut);
    document.addEventListener('paste', onPaste);
    return () => {
      document.removeEventListener('copy', onCopy);
      document.removeEventListener('cut', onCut);
      document.removeEventListener('paste', onPaste);
    };
  }, [dispatch]);
}
