/**
 * End-to-end tests of the built editor against a running backend, with playwright-core driving
 * Debian's Chromium (never a downloaded browser). Usage: `npm run e2e`
 *   E2E_BASE_URL  backend serving the built app (default http://127.0.0.1:8000)
 *   E2E_EMAIL / E2E_PASSWORD  (default demo@schema.local / demo)
 *   CHROMIUM_PATH (default /usr/bin/chromium), E2E_HEADED=1 to watch, E2E_ONLY=<name substring>
 * Any browser console error or uncaught page error fails the test it happens in (HTTP errors a
 * test provokes on purpose are allowed inside `expectHttpError`). Screenshots: e2e/screenshots/.
 */
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const BASE = (process.env.E2E_BASE_URL || 'http://127.0.0.1:8000').replace(/\/$/, '');
const EMAIL = process.env.E2E_EMAIL || 'demo@schema.local';
const PASSWORD = process.env.E2E_PASSWORD || 'demo';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ONLY = process.env.E2E_ONLY || '';
const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(HERE, 'screenshots');
rmSync(SHOTS, { recursive: true, force: true }); // screenshots of this run only
mkdirSync(SHOTS, { recursive: true });
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const RUN_TIMEOUT = Number(process.env.E2E_RUN_TIMEOUT_MS || 30000);

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: !process.env.E2E_HEADED,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-quic',
    '--no-first-run',
    '--disable-component-update',
    '--disable-sync',
  ].filter((a) => a !== '--headless' || !process.env.E2E_HEADED),
});
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
context.setDefaultTimeout(15000);
const page = await context.newPage();
// confirm() (delete, rotate) and beforeunload prompts: accept, so navigation never hangs.
page.on('dialog', (d) => void d.accept());

// ---- console guard -------------------------------------------------------------------------
let consoleErrors = [];
let allowedHttp = 0;
page.on('console', (msg) => {
  if (msg.type() !== 'error') return;
  const text = msg.text();
  if (allowedHttp > 0 && /Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
  consoleErrors.push(`console.error: ${text}`);
});
page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
async function expectHttpError(fn) {
  allowedHttp++;
  try {
    return await fn();
  } finally {
    // Console messages arrive asynchronously; keep the window open a moment.
    await page.waitForTimeout(300);
    allowedHttp--;
  }
}

// ---- helpers -------------------------------------------------------------------------------
const tid = (id) => `[data-testid="${id}"]`;
const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

/** fetch() inside the page with the session cookie and CSRF header, like the app does. */
async function apiCall(method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const token = document.cookie.split('; ').find((c) => c.startsWith('csrftoken='))?.split('=')[1];
      const res = await fetch(`/api${path}`, {
        method,
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', ...(token ? { 'X-CSRFToken': decodeURIComponent(token) } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    { method, path, body },
  );
}

let nodeTypes = [];
const specOf = (type) => nodeTypes.find((t) => t.type === type);

/** Drag a palette entry onto the canvas at (x, y) relative to the canvas; returns the new node's id. */
async function dropNode(type, x, y) {
  const before = await page.locator('.react-flow__node').count();
  await page.locator(tid(`palette-${type}`)).dragTo(page.locator('.react-flow__pane'), { targetPosition: { x, y } });
  let after = await page.locator('.react-flow__node').count();
  if (after === before) {
    // Fallback: synthetic HTML5 drag events (some headless builds skip native DnD).
    await page.evaluate(
      ({ type, x, y }) => {
        const src = document.querySelector(`[data-testid="palette-${type}"]`);
        const pane = document.querySelector('.react-flow__pane');
        const rect = pane.getBoundingClientRect();
        const dt = new DataTransfer();
        const o = { bubbles: true, cancelable: true, dataTransfer: dt, clientX: rect.left + x, clientY: rect.top + y };
        src.dispatchEvent(new DragEvent('dragstart', o));
        pane.dispatchEvent(new DragEvent('dragenter', o));
        pane.dispatchEvent(new DragEvent('dragover', o));
        pane.dispatchEvent(new DragEvent('drop', o));
        src.dispatchEvent(new DragEvent('dragend', o));
      },
      { type, x, y },
    );
    after = await page.locator('.react-flow__node').count();
  }
  assert(after === before + 1, `dropping ${type} adds a node`);
  // The new node is selected and its panel is open.
  const id = await page.locator(tid('node-id')).inputValue();
  return id;
}

/** Draw an edge by dragging from an output handle to a node's input handle. */
async function connect(source, port, target) {
  const from = await page.locator(tid(`handle-${source}-${port}`)).boundingBox();
  const to = await page.locator(tid(`handle-${target}-in`)).boundingBox();
  assert(from && to, `handles ${source}.${port} and ${target}.in are visible`);
  const edgesBefore = await page.locator('.react-flow__edge').count();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 5 });
  await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction((n) => document.querySelectorAll('.react-flow__edge').length === n + 1, edgesBefore);
}

async function selectNode(id) {
  await page.locator(`${tid(`node-${id}`)} .flow-node-head`).click();
  await page.waitForFunction((id) => document.querySelector('[data-testid="node-id"]')?.value === id, id);
}

async function fillField(path, value) {
  const el = page.locator(tid(`field-${path}`));
  await el.fill(String(value));
}

/** Fill every required config field a type's schema declares that the test did not set. */
function describeSchema(type) {
  return JSON.stringify(specOf(type)?.config_schema ?? {}, null, 0);
}

async function waitExecutionStatus(expected, timeout = RUN_TIMEOUT) {
  await page.waitForFunction(
    (statuses) => statuses.includes(document.querySelector('[data-testid="execution-status"]')?.textContent ?? ''),
    Array.isArray(expected) ? expected : [expected],
    { timeout },
  );
  return page.locator(tid('execution-status')).textContent();
}

async function importDefinition(name, definition) {
  await page.goto(`${BASE}/schemas`);
  await page.locator(tid('schema-table')).waitFor();
  const file = join(tmpdir(), `e2e-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ name, description: 'made by the e2e suite', definition }));
  await page.locator(tid('import-file')).setInputFiles(file);
  await page.waitForURL(/\/schemas\/[0-9a-f-]{8,}/);
  await page.locator(tid('editor')).waitFor();
}

async function runNow(payload) {
  await page.locator(tid('run-now')).click();
  await page.locator(tid('run-payload')).fill(JSON.stringify(payload));
  await page.locator(tid('run-submit')).click();
  await page.waitForURL(/\/executions\/[0-9a-f-]{8,}/);
  await page.locator(tid('execution-view')).waitFor();
}

/** axe-core on the current page: serious/critical violations fail the test, the rest is printed. */
async function audit(name) {
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () =>
    (await window.axe.run(document, { resultTypes: ['violations'] })).violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    })),
  );
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of violations.filter((x) => !bad.includes(x))) console.log(`    a11y (${name}, ${v.impact}): ${v.id} ${v.targets.join(', ')}`);
  assert(!bad.length, `accessibility violations on ${name}: ${JSON.stringify(bad)}`);
}

// ---- tests ---------------------------------------------------------------------------------
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test('sign in', async () => {
  await page.goto(`${BASE}/login`);
  await page.locator(tid('login-form')).waitFor();
  await shot('01-login');
  await audit('login');
  await page.locator(tid('login-email')).fill(EMAIL);
  await page.locator(tid('login-password')).fill(PASSWORD);
  await page.locator(tid('login-submit')).click();
  await page.waitForURL(/\/schemas$/);
  await page.locator(tid('schema-table')).waitFor();
  assert((await page.locator(tid('current-user')).textContent()) === EMAIL, 'the signed-in user is shown');
  const types = await apiCall('GET', '/node-types/');
  assert(types.status === 200, `node-types answers 200 (got ${types.status})`);
  nodeTypes = Array.isArray(types.body) ? types.body : types.body.results;
  for (const t of ['manual_trigger', 'set', 'condition', 'log', 'end', 'fail', 'wait']) assert(specOf(t), `node type ${t} exists`);
  await shot('02-schemas');
  await audit('schemas');
});

let builtSchemaUrl = '';
test('build a schema by drag and drop, save it', async () => {
  await page.locator(tid('new-schema')).click();
  await page.locator(tid('new-schema-name')).fill(`E2E built ${stamp}`);
  await page.locator(tid('create-schema')).click();
  await page.waitForURL(/\/schemas\/[0-9a-f-]{8,}/);
  builtSchemaUrl = page.url();
  await page.locator(tid('palette')).waitFor();
  for (const g of ['trigger', 'logic', 'action', 'flow']) assert(await page.locator(tid(`palette-group-${g}`)).count(), `palette group ${g}`);

  // A new schema starts with a trigger (a stored definition is always valid). Delete it with the
  // keyboard and build everything by drag and drop.
  await page.locator(tid('node-trigger')).waitFor();
  await selectNode('trigger');
  await page.locator(tid('node-trigger')).focus().catch(() => undefined);
  await page.keyboard.press('Delete');
  await page.waitForFunction(() => !document.querySelector('[data-testid="node-trigger"]'));
  const trigger = await dropNode('manual_trigger', 115, 220);
  const set = await dropNode('set', 350, 220);
  await fillSetConfig();
  const cond = await dropNode('condition', 585, 220);
  await fillConditionConfig();
  const log = await dropNode('log', 790, 110);
  await fillLogConfig();
  const end = await dropNode('end', 790, 360);
  assert((await page.locator(tid(`handle-${cond}-true`)).count()) === 1, 'condition has a true handle');
  assert((await page.locator(tid(`handle-${cond}-false`)).count()) === 1, 'condition has a false handle');

  await connect(trigger, 'out', set);
  await connect(set, 'out', cond);
  await connect(cond, 'true', log);
  await connect(cond, 'false', end);

  // Undo / redo the last edge.
  await page.locator('.react-flow__pane').click({ position: { x: 40, y: 500 } });
  await page.keyboard.press('Control+z');
  assert((await page.locator('.react-flow__edge').count()) === 3, 'undo removes the last edge');
  await page.keyboard.press('Control+Shift+z');
  assert((await page.locator('.react-flow__edge').count()) === 4, 'redo restores it');

  // Expression hint on an expression field lists vars/trigger/input and upstream nodes.
  await selectNode(log);
  const hint = page.locator('.expr-hint').first();
  if (await hint.count()) {
    const text = await hint.textContent();
    assert(text.includes('trigger') && text.includes(`nodes.${set}.output`), `expression hint lists upstream nodes: ${text}`);
  }

  await page.locator(tid('auto-layout')).click();
  assert(await page.locator(tid('dirty')).isVisible(), 'unsaved marker shows');
  await shot('03-editor-built');
  await audit('editor');
  await page.locator(tid('save')).click();
  await page.locator(tid('notice')).filter({ hasText: 'Saved' }).waitFor();
  assert((await page.locator(tid('dirty')).count()) === 0, 'saved: no unsaved marker');
  const reloaded = await apiCall('GET', `/schemas/${builtSchemaUrl.split('/').pop()}/`);
  assert(reloaded.body.definition.nodes.length === 5, 'five nodes stored');
  assert(reloaded.body.definition.edges.some((e) => e.source === cond && e.source_port === 'true' && e.target === log), 'true edge stored');
});

async function fillSetConfig() {
  // `set` assigns variables; fill whatever shape the registry declares.
  const schema = specOf('set').config_schema;
  const props = schema.properties ?? {};
  const key = Object.keys(props)[0];
  if (!key) return;
  const p = props[key];
  if (p.type === 'array') {
    await page.locator(tid(`add-config.${key}`)).click();
    const item = p.items?.properties ?? {};
    const names = Object.keys(item);
    if (names[0]) await fillField(`config.${key}[0].${names[0]}`, 'amount');
    if (names[1]) await fillField(`config.${key}[0].${names[1]}`, '{{ trigger.amount }}');
  } else {
    const el = page.locator(tid(`field-config.${key}`));
    await el.fill(JSON.stringify({ amount: '{{ trigger.amount }}' }));
  }
}
async function fillConditionConfig() {
  const props = specOf('condition').config_schema.properties ?? {};
  for (const [k, p] of Object.entries(props)) {
    if (p.enum) continue;
    if (p.type === 'string' || (Array.isArray(p.type) && p.type.includes('string'))) {
      if (/expr|condition|value|left/i.test(k)) await fillField(`config.${k}`, '{{ trigger.amount > 10 }}');
    }
  }
}
async function fillLogConfig() {
  const props = specOf('log').config_schema.properties ?? {};
  for (const [k, p] of Object.entries(props)) {
    if (p.type === 'string' && !p.enum && /message|text/i.test(k)) await fillField(`config.${k}`, 'amount is {{ trigger.amount }}');
  }
}

test('run the built schema and watch it complete', async () => {
  await page.goto(builtSchemaUrl);
  await page.locator(tid('editor')).waitFor();
  await runNow({ amount: 42 });
  await shot('04-execution-live');
  const status = await waitExecutionStatus(['completed', 'failed']);
  await page.waitForTimeout(1200); // one more poll for the steps
  await shot('05-execution-completed');
  await audit('execution');
  const err = (await page.locator(tid('execution-error')).count()) ? await page.locator(tid('execution-error')).textContent() : '';
  assert(status === 'completed', `execution completed (got ${status}: ${err}; set schema ${describeSchema('set')})`);
  const steps = await page.locator('[data-testid^="step-"][data-status]').count();
  assert(steps >= 4, `at least 4 steps in the timeline (got ${steps})`);
  assert((await page.locator('.flow-node.status-success').count()) >= 4, 'nodes coloured by step status');
});

test('a failing node shows its error', async () => {
  await importDefinition(`E2E fail ${stamp}`, {
    nodes: [
      { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
      { id: 'boom', type: 'fail', name: 'Boom', config: failConfig(), position: { x: 280, y: 0 } },
    ],
    edges: [{ id: 'e1', source: 'start', target: 'boom', source_port: 'out' }],
    variables: {},
  });
  await runNow({});
  const status = await waitExecutionStatus(['failed', 'completed']);
  assert(status === 'failed', `execution failed (got ${status})`);
  await page.locator(tid('step-error-boom')).waitFor();
  const text = await page.locator(tid('step-error-boom')).textContent();
  assert(text.length > 0, 'the step error is shown');
  assert(await page.locator(`${tid('node-boom')}.status-failed`).count(), 'the failed node is red');
  assert(await page.locator(tid('retry-execution')).isVisible(), 'retry is offered');
  await shot('06-execution-failed');
});

function failConfig() {
  const props = specOf('fail')?.config_schema?.properties ?? {};
  const key = Object.keys(props).find((k) => /message|error|reason/i.test(k));
  return key ? { [key]: 'e2e: intentional failure' } : {};
}

test('resume a waiting execution', async () => {
  await importDefinition(`E2E wait ${stamp}`, {
    nodes: [
      { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
      { id: 'approval', type: 'wait', name: 'Approval', config: {}, position: { x: 280, y: 0 } },
      { id: 'done', type: 'end', name: 'Done', config: {}, position: { x: 560, y: 0 } },
    ],
    edges: [
      { id: 'e1', source: 'start', target: 'approval', source_port: 'out' },
      { id: 'e2', source: 'approval', target: 'done', source_port: 'out' },
    ],
    variables: {},
  });
  await runNow({ order: 7 });
  const status = await waitExecutionStatus(['paused', 'failed', 'completed']);
  assert(status === 'paused', `execution paused (got ${status})`);
  await page.locator(tid('waiting')).waitFor();
  assert((await page.locator(tid('waiting-kind')).textContent()) === 'wait', 'it waits for a resume');
  await shot('07-execution-paused');
  await page.locator(tid('resume-payload')).fill('{"approved": true}');
  await page.locator(tid('resume-execution')).click();
  const refused = page.locator(tid('execution-action-error'));
  const after = await Promise.race([
    waitExecutionStatus(['completed', 'failed']),
    refused.waitFor({ timeout: RUN_TIMEOUT }).then(async () => `resume refused by the API: ${await refused.textContent()}`),
  ]);
  assert(after === 'completed', `resumed execution completed (got ${after})`);
  await shot('08-execution-resumed');
});

test('validation errors from the API are drawn on nodes and fields', async () => {
  await page.goto(builtSchemaUrl);
  await page.locator(tid('editor')).waitFor();
  await dropNode('manual_trigger', 300, 520); // a second trigger: the API refuses it
  await expectHttpError(async () => {
    await page.locator(tid('save')).click();
    await page.locator(tid('save-error')).waitFor();
  });
  const marked = await page.locator('.flow-node.has-error').count();
  const general = await page.locator(tid('general-errors')).count();
  assert(marked > 0 || general > 0, 'the problem is shown on a node or in the list');
  await shot('09-editor-validation-errors');
  // Undo the drop and leave without the unsaved-changes prompt.
  await page.locator('.react-flow__pane').click({ position: { x: 40, y: 500 } });
  await page.keyboard.press('Control+z');
  assert((await page.locator(tid('dirty')).count()) === 0, 'undo returns to the saved state');
});

test('unsaved changes prompt on in-app navigation', async () => {
  await page.goto(builtSchemaUrl);
  await page.locator(tid('editor')).waitFor();
  await page.locator(tid('schema-name')).fill(`E2E built ${stamp} (renamed)`);
  await page.locator(tid('nav-executions')).click();
  await page.locator(tid('unsaved-dialog')).waitFor();
  await page.locator(tid('discard-changes')).click();
  await page.waitForURL(/\/executions$/);
});

test('executions list with filters', async () => {
  await page.goto(`${BASE}/executions`);
  await page.locator(tid('executions-table')).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid^="execution-row-"]').length >= 3);
  await page.locator(tid('filter-status')).selectOption('failed');
  await page.waitForFunction(() =>
    [...document.querySelectorAll('[data-testid^="execution-row-"] .badge')].every((b) => b.textContent === 'failed'),
  );
  await page.locator(tid('filter-status')).selectOption('');
  await shot('10-executions');
  await audit('executions');
});

test('export downloads {name, description, definition}', async () => {
  await page.goto(builtSchemaUrl);
  await page.locator(tid('editor')).waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator(tid('export')).click()]);
  const path = await download.path();
  const { readFileSync } = await import('node:fs');
  const data = JSON.parse(readFileSync(path, 'utf8'));
  assert(data.name && data.definition && data.definition.nodes.length === 5, 'exported file holds the schema');
  await page.locator(tid('activate')).click();
  await page.waitForFunction(() => document.querySelector('[data-testid="schema-status"]')?.textContent === 'active');
  await page.locator(tid('webhook')).click();
  await page.locator(tid('webhook-dialog')).waitFor();
  assert((await page.locator(tid('webhook-url')).inputValue()).includes('/api/hooks/'), 'webhook url shown');
  await shot('11-webhook-dialog');
  await audit('webhook dialog');
  await page.keyboard.press('Escape');
});

test('schema list: search, duplicate, archive, delete', async () => {
  await page.goto(`${BASE}/schemas`);
  await page.locator(tid('schema-table')).waitFor();
  await page.locator(tid('schema-search')).fill(`E2E built ${stamp}`);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid^="schema-row-"]').length === 1);
  const row = page.locator('[data-testid^="schema-row-"]').first();
  await row.getByRole('button', { name: /^Duplicate/ }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid^="schema-row-"]').length === 2);
  await shot('12-schemas-list');
  const copy = page.locator('[data-testid^="schema-row-"]').filter({ hasText: 'copy' }).first();
  await copy.getByRole('button', { name: /^Archive/ }).click();
  await copy.locator('.badge-archived').waitFor();
  await page.locator(tid('schema-status-filter')).selectOption('archived');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid^="schema-row-"]').length === 1);
  await page.locator('[data-testid^="schema-row-"]').first().getByRole('button', { name: /^Delete/ }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid^="schema-row-"]').length === 0);
});

// ---- runner --------------------------------------------------------------------------------
let passed = 0;
let failed = 0;
for (const t of tests) {
  if (ONLY && !t.name.includes(ONLY) && t.name !== 'sign in') continue;
  consoleErrors = [];
  const started = Date.now();
  try {
    await t.fn();
    if (consoleErrors.length) throw new Error(`browser console errors:\n  ${consoleErrors.join('\n  ')}`);
    passed++;
    console.log(`  ✓ ${t.name} (${Date.now() - started} ms)`);
  } catch (err) {
    failed++;
    console.log(`  ✗ ${t.name}\n    ${String(err?.stack || err).split('\n').slice(0, 6).join('\n    ')}`);
    await shot(`FAILED-${t.name.replace(/\W+/g, '-')}`).catch(() => undefined);
    if (t.name === 'sign in') break; // everything else needs a session
  }
}
await browser.close();
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
