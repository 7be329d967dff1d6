/**
 * A small in-memory stand-in for the Django API (docs/contracts.md shapes) that serves the built
 * editor from dist/. For UI work and for checking the e2e suite when no backend runs:
 *   node e2e/mock-api.mjs [port]   then   E2E_BASE_URL=http://127.0.0.1:<port> npm run e2e
 * It is not the backend: its walker is a toy (condition is truthy-string, no real expressions).
 */
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';

const PORT = Number(process.argv[2] || process.env.PORT || 8099);
const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const str = (extra = {}) => ({ type: 'string', ...extra });
const expr = (extra = {}) => ({ type: 'string', 'x-expression': true, ...extra });
const obj = (properties, required = []) => ({ type: 'object', properties, required });
const T = (type, label, group, config_schema, extra = {}) => ({
  type, label, group, description: `${label} node`, is_trigger: group === 'trigger', side_effects: false,
  ports: ['out'], dynamic_ports: null, config_schema, ...extra,
});
const NODE_TYPES = [
  T('manual_trigger', 'Manual trigger', 'trigger', obj({})),
  T('webhook_trigger', 'Webhook', 'trigger', obj({})),
  T('schedule_trigger', 'Schedule', 'trigger', obj({ cron: str(), timezone: str({ default: 'UTC' }) }, ['cron'])),
  T('set', 'Set variables', 'logic', obj({ assignments: { type: 'array', items: obj({ name: str(), value: { 'x-expression': true } }, ['name', 'value']) } }, ['assignments'])),
  T('condition', 'Condition', 'logic', obj({ expression: expr() }, ['expression']), { ports: ['true', 'false'] }),
  T('switch', 'Switch', 'logic', obj({ value: expr(), cases: { type: 'array', items: obj({ port: str(), equals: str() }) } }), { ports: ['default'], dynamic_ports: { from: 'cases', key: 'port' } }),
  T('http_request', 'HTTP request', 'action', obj({ method: { type: 'string', enum: ['GET', 'POST', 'PUT', 'DELETE'], default: 'GET' }, url: expr(), headers: { type: 'object' }, body: expr(), timeout_seconds: { type: 'number', default: 10 }, expected_status: { type: 'array', items: { type: 'integer' } } }, ['method', 'url']), { side_effects: true }),
  T('log', 'Log', 'action', obj({ message: expr(), level: { type: 'string', enum: ['info', 'warning', 'error'], default: 'info' } }, ['message'])),
  T('delay', 'Delay', 'flow', obj({ seconds: { type: 'number' }, until: expr() })),
  T('wait', 'Wait for resume', 'flow', obj({ instructions: str() })),
  T('fail', 'Fail', 'flow', obj({ message: expr() }), { ports: [] }),
  T('end', 'End', 'flow', obj({}), { ports: [] }),
];
const spec = (t) => NODE_TYPES.find((n) => n.type === t);

const schemas = new Map();
const executions = new Map();
const steps = new Map();
let sessions = new Set();
const now = () => new Date().toISOString();

function validate(def) {
  const errors = [];
  const nodes = def?.nodes ?? [];
  const ids = new Set(nodes.map((n) => n.id));
  nodes.forEach((n, i) => {
    const s = spec(n.type);
    if (!s) return errors.push({ path: `nodes[${i}].type`, node_id: n.id, edge_id: null, message: `Unknown node type ${n.type}` });
    for (const r of s.config_schema.required ?? []) {
      const v = n.config?.[r];
      if (v === undefined || v === '') errors.push({ path: `nodes[${i}].config.${r}`, node_id: n.id, edge_id: null, message: 'This field is required.' });
    }
  });
  (def?.edges ?? []).forEach((e, i) => {
    if (!ids.has(e.source) || !ids.has(e.target)) errors.push({ path: `edges[${i}]`, node_id: null, edge_id: e.id, message: 'Dangling edge.' });
  });
  const triggers = nodes.filter((n) => spec(n.type)?.is_trigger);
  if (triggers.length !== 1) errors.push({ path: 'nodes', node_id: triggers[1]?.id ?? null, edge_id: null, message: `Exactly one trigger required (found ${triggers.length}).` });
  return errors;
}

function walk(ex, startId, input) {
  const s = schemas.get(ex.schema);
  const def = s.definition;
  let cur = startId;
  let data = input;
  const list = steps.get(ex.id);
  ex.status = 'running';
  while (cur) {
    const node = def.nodes.find((n) => n.id === cur);
    const started = now();
    if (node.type === 'wait' && !(ex._resumed === cur)) {
      ex.status = 'paused';
      ex.current_node_id = cur;
      ex.waiting = [{ node_id: cur, kind: 'wait', resume_at: null }];
      return;
    }
    let port = 'out';
    let output = data;
    if (node.type === 'fail') {
      list.push({ id: list.length + 1, node_id: cur, node_type: node.type, status: 'failed', attempt: 1, input: data, output: { error: { type: 'fail', message: node.config?.message || 'failed', details: {} } }, error: node.config?.message || 'failed', started_at: started, finished_at: now(), duration_ms: 0.4 });
      ex.status = 'failed'; ex.error = node.config?.message || 'failed'; ex.finished_at = now(); ex.current_node_id = cur;
      return;
    }
    if (node.type === 'condition') port = 'true';
    if (node.type === 'wait') output = ex._payload ?? {};
    list.push({ id: list.length + 1, node_id: cur, node_type: node.type, status: 'success', attempt: 1, input: data, output, error: null, started_at: started, finished_at: now(), duration_ms: 1.2 });
    const edge = def.edges.find((e) => e.source === cur && (e.source_port ?? 'out') === port);
    cur = edge?.target;
    data = output;
  }
  ex.status = 'completed'; ex.finished_at = now(); ex.current_node_id = null; ex.waiting = []; ex.result = data;
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}
const err = (res, status, type, detail, errors = []) => send(res, status, { type, detail, errors });
const pub = (ex) => Object.fromEntries(Object.entries(ex).filter(([k]) => !k.startsWith('_')));

createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const p = url.pathname;
  let body = '';
  for await (const c of req) body += c;
  const json = body ? JSON.parse(body) : {};
  const cookie = req.headers.cookie ?? '';
  const sid = /sessionid=([^;]+)/.exec(cookie)?.[1];
  const authed = sid && sessions.has(sid);
  if (!p.startsWith('/api/')) {
    const file = join(DIST, p);
    const target = p !== '/' && existsSync(file) && extname(file) ? file : join(DIST, 'index.html');
    const types = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.svg': 'image/svg+xml' };
    res.writeHead(200, { 'Content-Type': types[extname(target)] ?? 'application/octet-stream' });
    return res.end(readFileSync(target));
  }
  if (p === '/api/health/live') return send(res, 200, { status: 'ok' });
  if (p === '/api/auth/csrf/') return send(res, 204, undefined, { 'Set-Cookie': 'csrftoken=mocktoken; Path=/; SameSite=Lax' });
  if (req.method !== 'GET' && req.headers['x-csrftoken'] !== 'mocktoken') return err(res, 403, 'permission_denied', 'CSRF Failed');
  if (p === '/api/auth/login/') {
    if (json.email === 'demo@schema.local' && json.password === 'demo') {
      const id = randomUUID();
      sessions.add(id);
      return send(res, 200, { id: 1, email: json.email, is_staff: true }, { 'Set-Cookie': `sessionid=${id}; Path=/; HttpOnly; SameSite=Lax` });
    }
    return err(res, 400, 'validation_error', 'Invalid email or password.');
  }
  if (p === '/api/auth/session/') return send(res, 200, { authenticated: !!authed, user: authed ? { id: 1, email: 'demo@schema.local', is_staff: true } : null });
  if (!authed) return err(res, 403, 'not_authenticated', 'Authentication credentials were not provided.');
  if (p === '/api/auth/me/') return send(res, 200, { id: 1, email: 'demo@schema.local', is_staff: true });
  if (p === '/api/auth/logout/') { sessions.delete(sid); return send(res, 204); }
  if (p === '/api/node-types/') return send(res, 200, NODE_TYPES);
  let m;
  if (p === '/api/schemas/') {
    if (req.method === 'POST') {
      const errors = validate(json.definition);
      if (errors.length) return err(res, 400, 'validation_error', 'The definition is invalid.', errors);
      const id = randomUUID();
      const s = { id, name: json.name, description: json.description ?? '', definition: json.definition, status: 'draft', version: 1, created_by: 'demo@schema.local', created_at: now(), updated_at: now(), webhook_url: `http://${req.headers.host}/api/hooks/${id}/`, webhook_secret: randomUUID().replace(/-/g, ''), _versions: [{ version: 1, definition: json.definition, created_at: now() }] };
      schemas.set(id, s);
      return send(res, 201, pub(s));
    }
    const q = (url.searchParams.get('search') ?? '').toLowerCase();
    const st = url.searchParams.get('status');
    const results = [...schemas.values()].filter((s) => (!q || s.name.toLowerCase().includes(q)) && (!st || s.status === st)).reverse().map(pub);
    return send(res, 200, { next: null, previous: null, results });
  }
  if ((m = /^\/api\/schemas\/([^/]+)\/(?:([a-z-]+)\/)?$/.exec(p))) {
    const s = schemas.get(m[1]);
    if (!s) return err(res, 404, 'not_found', 'Not found.');
    const action = m[2];
    if (!action && req.method === 'GET') return send(res, 200, pub(s));
    if (!action && req.method === 'DELETE') { schemas.delete(s.id); return send(res, 204); }
    if (!action && (req.method === 'PUT' || req.method === 'PATCH')) {
      const errors = validate(json.definition);
      if (errors.length) return err(res, 400, 'validation_error', 'The definition is invalid.', errors);
      const changed = JSON.stringify(json.definition) !== JSON.stringify(s.definition);
      Object.assign(s, { name: json.name, description: json.description, definition: json.definition, updated_at: now() });
      if (changed) { s.version++; s._versions.push({ version: s.version, definition: json.definition, created_at: now() }); }
      return send(res, 200, pub(s));
    }
    if (action === 'validate') { const errors = validate(json.definition ?? s.definition); return send(res, 200, { valid: !errors.length, errors }); }
    if (action === 'activate') { const errors = validate(s.definition); if (errors.length) return err(res, 400, 'validation_error', 'Invalid.', errors); s.status = 'active'; return send(res, 200, pub(s)); }
    if (action === 'archive') { s.status = 'archived'; return send(res, 200, pub(s)); }
    if (action === 'rotate-secret') { s.webhook_secret = randomUUID().replace(/-/g, ''); return send(res, 200, pub(s)); }
    if (action === 'versions') return send(res, 200, s._versions);
    if (action === 'duplicate') { const id = randomUUID(); const c = { ...s, id, name: `${s.name} (copy)`, status: 'draft', version: 1, _versions: [{ version: 1, definition: s.definition, created_at: now() }] }; schemas.set(id, c); return send(res, 201, pub(c)); }
    if (action === 'execute') {
      const id = randomUUID();
      const ex = { id, schema: s.id, schema_name: s.name, schema_version: s.version, status: 'pending', trigger_type: 'manual', trigger_payload: json.payload ?? {}, created_at: now(), started_at: null, finished_at: null, error: null, current_node_id: null, context: {}, waiting: [], result: null };
      executions.set(id, ex); steps.set(id, []);
      setTimeout(() => { ex.started_at = now(); const t = s.definition.nodes.find((n) => spec(n.type)?.is_trigger); if (!t) { ex.status = "failed"; ex.error = "no trigger"; return; } walk(ex, t.id, ex.trigger_payload); }, 700);
      return send(res, 202, pub(ex));
    }
  }
  if (p === '/api/executions/') {
    const size = Number(url.searchParams.get('page_size') ?? 50);
    const offset = Number(url.searchParams.get('cursor') ?? 0);
    const f = (k) => url.searchParams.get(k);
    const all = [...executions.values()].reverse().filter((e) => (!f('schema') || e.schema === f('schema')) && (!f('status') || e.status === f('status')) && (!f('trigger_type') || e.trigger_type === f('trigger_type')));
    const link = (o) => { const u = new URL(url); u.searchParams.set('cursor', String(o)); return u.toString(); };
    return send(res, 200, { next: offset + size < all.length ? link(offset + size) : null, previous: offset > 0 ? link(Math.max(0, offset - size)) : null, results: all.slice(offset, offset + size).map(pub) });
  }
  if ((m = /^\/api\/executions\/([^/]+)\/(?:([a-z]+)\/)?$/.exec(p))) {
    const ex = executions.get(m[1]);
    if (!ex) return err(res, 404, 'not_found', 'Not found.');
    if (!m[2]) return send(res, 200, pub(ex));
    if (m[2] === 'steps') return send(res, 200, steps.get(ex.id));
    if (m[2] === 'cancel') { if (['completed', 'failed', 'cancelled'].includes(ex.status)) return err(res, 409, 'conflict', 'Finished.'); ex.status = 'cancelled'; ex.finished_at = now(); return send(res, 202, pub(ex)); }
    if (m[2] === 'resume') {
      if (ex.status !== 'paused') return err(res, 409, 'conflict', 'Not paused.');
      ex._resumed = ex.current_node_id; ex._payload = json.payload; ex.waiting = []; ex.status = 'running';
      setTimeout(() => walk(ex, ex._resumed, ex._payload), 500);
      return send(res, 202, pub(ex));
    }
    if (m[2] === 'retry') { if (ex.status !== 'failed') return err(res, 409, 'conflict', 'Not failed.'); return send(res, 202, pub(ex)); }
  }
  return err(res, 404, 'not_found', 'Not found.');
}).listen(PORT, '127.0.0.1', () => console.log(`mock API + editor on http://127.0.0.1:${PORT}`));
