/**
 * A sticky note on the canvas: free text beside the schema, never executed. Drag it by its edge,
 * resize it from its corners when selected, type in it; read-only views show the text.
 */
import { memo } from 'react';
import { NodeResizer, type NodeProps } from '@xyflow/react';
import type { CanvasNote } from '../lib/mapping';
import { useEditorContext } from './EditorContext';

function NoteNodeView({ id, data, selected }: NodeProps<CanvasNote>) {
  const { readOnly, onNoteText, onNoteResizeStart } = useEditorContext();
  return (
    <div className="note-node" data-testid={`note-${id}`}>
      {!readOnly && (
        <NodeResizer isVisible={!!selected} minWidth={120} minHeight={60} maxWidth={4000} maxHeight={4000} onResizeStart={onNoteResizeStart} lineClassName="note-resize-line" handleClassName="note-resize-handle" />
      )}
      <div className="note-grip" title="Sticky note: drag to move" aria-hidden="true" />
      {readOnly || !onNoteText ? (
        <p className="note-text">{data.text}</p>
      ) : (
        <textarea
          className="note-text nodrag nowheel"
          aria-label="Sticky note"
          placeholder="Write a note…"
          value={data.text}
          maxLength={10000}
          data-testid={`note-text-${id}`}
          onChange={(e) => onNoteText(id, e.target.value)}
        />
      )}
    </div>
  );
}

export const NoteNode = memo(NoteNodeView);
