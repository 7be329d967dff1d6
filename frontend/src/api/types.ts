/** Shapes of docs/contracts.md: the definition format, the node-type registry and the API bodies. */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface RetryPolicy {
  max_attempts?: number;
  backoff?: 'fixed' | 'exponential';
  base_seconds?: number;
  max_seconds?: number;
  jitter?: boolean;
}

export type OnError = 'fail' | 'error';

export interface DefinitionNode {
  id: string;
  type: string;
  name?: string;
  config?: JsonObject;
  position?: { x: number; y: number };
  retry?: RetryPolicy;
  on_error?: OnError;
}

export interface DefinitionEdge {
  id: string;
  source: string;
  target: string;
  source_port?: string;
}

export interface Definition {
  nodes: DefinitionNode[];
  edges: DefinitionEdge[];
  variables?: JsonObject;
}

export type NodeGroup = 'trigger' | 'logic' | 'action' | 'flow';

/** A JSON Schema fragment as the registry serves it (only the keywords the form generator reads). */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: JsonValue[];
  default?: JsonValue;
  minimum?: number;
  maximum?: number;
  format?: string;
  additionalProperties?: boolean | JsonSchema;
  'x-expression'?: boolean;
  [key: string]: unknown;
}

export interface NodeTypeSpec {
  type: string;
  label: string;
  group: NodeGroup;
  description: string;
  is_trigger: boolean;
  side_effects: boolean;
  ports: string[];
  dynamic_ports: { from: string; key: string } | null;
  config_schema: JsonSchema;
}

export type SchemaStatus = 'draft' | 'active' | 'archived';

export interface Schema {
  id: string;
  name: string;
  description: string;
  definition: Definition;
  status: SchemaStatus;
  version: number;
  created_by: string | null;
  created_at: string;
  updated_at: string;
  webhook_url: string;
  webhook_secret: string;
}

export interface SchemaVersion {
  version: number;
  definition: Definition;
  created_at: string;
}

export interface ApiFieldError {
  path?: string | null;
  node_id?: string | null;
  edge_id?: string | null;
  message: string;
}

export interface ApiErrorBody {
  type: string;
  detail: string;
  errors?: ApiFieldError[];
}

export interface Page<T> {
  next: string | null;
  previous: string | null;
  results: T[];
}

export type ExecutionStatus = 'pending' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
export const FINISHED_STATUSES: readonly ExecutionStatus[] = ['completed', 'failed', 'cancelled'];

export interface Execution {
  id: string;
  schema: string;
  schema_name: string;
  schema_version: number;
  status: ExecutionStatus;
  trigger_type: 'manual' | 'webhook' | 'scheduler';
  trigger_payload: JsonValue;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  current_node_id: string | null;
  context: JsonValue;
  waiting: { node_id: string; kind: 'delay' | 'wait' | 'retry'; resume_at: string | null } | null;
  result: JsonValue | null;
}

export type StepStatus = 'success' | 'failed' | 'skipped';

export interface ExecutionStep {
  id: number;
  node_id: string;
  node_type: string;
  status: StepStatus;
  attempt: number;
  input: JsonValue;
  output: JsonValue;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

export interface User {
  id: number | string;
  email: string;
  is_staff: boolean;
}
