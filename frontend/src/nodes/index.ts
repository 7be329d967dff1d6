/** Custom node registry handed to <ReactFlow nodeTypes>: every registry type renders as
 * SchemaNode; sticky notes as NoteNode. */
import type { NodeTypes } from '@xyflow/react';
import { NODE_KIND, NOTE_KIND } from '../lib/mapping';
import { NoteNode } from './NoteNode';
import { SchemaNode } from './SchemaNode';

export const nodeTypes = { [NODE_KIND]: SchemaNode, [NOTE_KIND]: NoteNode } satisfies NodeTypes;
