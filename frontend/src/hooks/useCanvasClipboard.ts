/**
 * Copy, cut and paste of the selected canvas nodes and sticky notes through the system clipboard
 * (Ctrl/⌘+C, X, V), as JSON that another schema's editor (or a text editor) takes. Text fields
 * keep their own copy and paste. Pasted nodes land under the mouse when it is over the canvas,
 * else in the middle of the view: always where the user looks (copies that stepped aside past its
 * edge are panned into view).
 */
import { useEffect, useRef, type Dispatch } from 'react';
import { useReactFlow } from '@xyflow/react';
import { boundsOf, clipText, parseClip } from '../lib/clipboard';
import { fromCanvasEdge, fromCanvasNode, fromCanvasNote } from '../lib/mapping';
import type { EditorAction, EditorState } from '../store/editorStore';

const isTextEntry = (t: EventTarget | null) =>
  t instanceof HTMLElement && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));

/** The canvas point to paste at: the mouse when it is over the canvas, else the middle of the view. */
export function pastePoint(canvas: { left: number; top: number; width: number; height: number } | undefined, mouse: { x: number; y: number } | null) {
  if (!canvas) return null;
  const inside = mouse && mouse.x >= canvas.left && mouse.x <= canvas.left + canvas.width && mouse.y >= canvas.top && mouse.y <= canvas.top + canvas.height;
  return inside ? mouse : { x: canvas.left + canvas.width / 2, y: canvas.top + canvas.height / 2 };
}

export function useCanvasClipboard(state: EditorState, dispatch: Dispatch<EditorAction>) {
  const rf = useReactFlow();
  // The listeners live for the page; they read the latest state through a ref.
  const latest = useRef(state);
  useEffect(() => {
    latest.current = state;
  });
  const flow = useRef(rf);
  useEffect(() => {
    flow.current = rf;
  });
  useEffect(() => {
    let mouse: { x: number; y: number } | null = null;
    const onMove = (e: PointerEvent) => {
      mouse = { x: e.clientX, y: e.clientY };
    };
    const copy = (e: ClipboardEvent, cut: boolean) => {
      if (isTextEntry(e.target) || !e.clipboardData || window.getSelection()?.toString()) return;
      const { nodes, edges, notes } = latest.current;
      const picked = nodes.filter((n) => n.selected);
      const pickedNotes = notes.filter((n) => n.selected);
      if (!picked.length && !pickedNotes.length) return;
      e.clipboardData.setData('text/plain', clipText(picked.map(fromCanvasNode), edges.map(fromCanvasEdge), pickedNotes.map(fromCanvasNote)));
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
      const screen = pastePoint(document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect(), mouse);
      dispatch({ kind: 'paste', clip, at: screen ? flow.current.screenToFlowPosition(screen) : undefined });
      // Copies that had to step aside from the originals may end past the canvas edge: pan (same zoom) to them.
      setTimeout(() => {
        const { nodes, notes } = latest.current;
        const box = boundsOf([
          ...nodes.filter((n) => n.selected).map((n) => ({ ...n.position, width: n.measured?.width, height: n.measured?.height })),
          ...notes.filter((n) => n.selected).map((n) => ({ ...n.position, width: n.width, height: n.height })),
        ]);
        const el = document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect();
        if (!box || !el) return;
        const topLeft = flow.current.flowToScreenPosition(box);
        const bottomRight = flow.current.flowToScreenPosition({ x: box.x + box.width, y: box.y + box.height });
        if (topLeft.x < el.left || topLeft.y < el.top || bottomRight.x > el.right || bottomRight.y > el.bottom)
          void flow.current.setCenter(box.x + box.width / 2, box.y + box.height / 2, { zoom: flow.current.getZoom(), duration: 200 });
      }, 50);
    };
    document.addEventListener('pointermove', onMove, { passive: true });
    document.addEventListener('copy', onCopy);
    document.addEventListener('cut', onCut);
    document.addEventListener('paste', onPaste);
    return () => {
      document.removeEventListener('pointermove', onMove);
      document.removeEventListener('copy', onCopy);
      document.removeEventListener('cut', onCut);
      document.removeEventListener('paste', onPaste);
    };
  }, [dispatch]);
}
