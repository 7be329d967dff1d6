/** Node-type registry fixtures for unit tests (the shapes of GET /api/node-types/). */
import type { NodeTypeSpec } from '../api/types';

const base = { description: '', side_effects: false, dynamic_ports: null, accepts_many_inputs: false, config_schema: { type: 'object', properties: {} } };

export const SPECS: NodeTypeSpec[] = [
  { ...base, type: 'manual_trigger', label: 'Manual trigger', group: 'trigger', is_trigger: true, ports: ['out'] },
  {
    ...base,
    type: 'http_request',
    label: 'HTTP request',
    group: 'action',
    is_trigger: false,
    side_effects: true,
    ports: ['out'],
    config_schema: {
      type: 'object',
      properties: {
        method: { type: 'string', enum: ['GET', 'POST'], default: 'GET' },
        url: { type: 'string', 'x-expression': true },
        timeout: { type: 'number', default: 10 },
      },
      required: ['method', 'url'],
    },
  },
  { ...base, type: 'condition', label: 'Condition', group: 'logic', is_trigger: false, ports: ['true', 'false'] },
  {
    ...base,
    type: 'switch',
    label: 'Switch',
    group: 'logic',
    is_trigger: false,
    ports: ['default'],
    dynamic_ports: { from: 'cases', key: 'port' },
  },
  { ...base, type: 'log', label: 'Log', group: 'action', is_trigger: false, ports: ['out'] },
  { ...base, type: 'end', label: 'End', group: 'flow', is_trigger: false, ports: [] },
];

export const SPEC_MAP = new Map(SPECS.map((s) => [s.type, s]));
