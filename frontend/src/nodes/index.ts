/** Custom node registry handed to <ReactFlow nodeTypes>. Every registry type renders as SchemaNode. */
import type { NodeTypes } from '@xyflow/react';
import { NODE_KIND } from '../lib/mapping';
import { SchemaNode } from './SchemaNode';

export const nodeTypes = { [NODE_KIND]: SchemaNode } satisfies NodeTypes;
