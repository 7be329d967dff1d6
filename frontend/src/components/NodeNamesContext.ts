/** The node names of the schema on screen, for messages that name nodes (ErrorList, step errors). */
import { createContext, useContext } from 'react';
import { idNames, type NodeNames } from '../lib/nodeNames';

export const NodeNamesContext = createContext<NodeNames>(idNames);
export const useNodeNames = () => useContext(NodeNamesContext);
