/**
 * End-to-end tests of the built editor against a running backend, with playwright-core driving
 * Debian's Chromium (never a downloaded browser). Usage: `npm run e2e`
 *   E2E_BASE_URL  backend serving the built app (default http://127.0.0.1:8000)
 *   E2E_EMAIL / E2E_PASSWORD  (default demo@schema.local / demo)
 *   CHROMIUM_PATH (default /usr/bin/chromium), E2E_HEADED=1 to watch, E2E_ONLY=<name substrings, |-separated>
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
  // A first visit, signed out: straight to the sign-in page, and no failed request in the console
  // (the console guard fails this test on any; the app asks `auth/session/`, not the 401 of `me`).
  await page.goto(`${BASE}/schemas`);
  await page.waitForURL(/\/login\?next=%2Fschemas$/);
  await page.locator(tid('login-form')).waitFor();
  await page.waitForLoadState('networkidle');
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
  assert(text.includes(LONG_FAILURE), `the step error is the node's whole message (got ${text.slice(0, 200)})`);
  assert(!/Traceback|File "/.test(text), 'no traceback is shown to the owner');
  for (const id of ['step-error-boom', 'execution-error']) {
    const box = await page.locator(tid(id)).evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
    assert(box.scroll <= box.client + 1, `${id} wraps instead of clipping (${box.scroll} > ${box.client} px)`);
  }
  assert(await page.locator(`${tid('node-boom')}.status-failed`).count(), 'the failed node is red');
  assert(await page.locator(tid('retry-execution')).isVisible(), 'retry is offered');
  await shot('06-execution-failed');
});

// A long sentence with a long unbroken URL: it must wrap in the timeline, not run off the panel.
const LONG_FAILURE = `e2e: intentional failure after calling https://api.example.com/${'orders/'.repeat(30)}7?expand=${'x'.repeat(120)} and more words to wrap`;
function failConfig() {
  const props = specOf('fail')?.config_schema?.properties ?? {};
  const key = Object.keys(props).find((k) => /message|error|reason/i.test(k));
  return key ? { [key]: LONG_FAILURE } : {};
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

test('an unfinished draft saves, shows what is left on its nodes in plain words, and is not activated', async () => {
  await page.goto(builtSchemaUrl);
  await page.locator(tid('editor')).waitFor();
  const before = await page.locator('.react-flow__node').count();
  // Added from the palette with the keyboard, nothing selected: not connected, its Message still empty.
  await page.locator('.react-flow__pane').click({ position: { x: 40, y: 40 } });
  await page.locator(tid('palette-log')).focus();
  await page.keyboard.press('Enter');
  assert((await page.locator('.react-flow__node').count()) === before + 1, 'a log node is added');
  await page.locator(tid('save')).click();
  const notice = page.locator(tid('notice'));
  await notice.waitFor();
  const saved = await notice.textContent();
  assert(/^Saved as a draft · version \d+ · \d+ to finish/.test(saved), `the draft is saved and says what is left (got ${saved})`);
  assert((await page.locator(tid('dirty')).count()) === 0, 'nothing is left unsaved');
  const marked = page.locator('.flow-node.has-error');
  assert((await marked.count()) === 1, 'the unfinished node is marked');
  const said = await page.locator('.flow-node-errors').allTextContents();
  assert(said.some((t) => t.includes('Fill in Message.')), `the node names the field to fill in (got ${said})`);
  assert(!said.some((t) => /valid under|required property/.test(t)), `no JSON-Schema wording (got ${said})`);
  await shot('09-editor-unfinished-draft');
  await expectHttpError(async () => {
    await page.locator(tid('activate')).click();
    await page.locator(tid('save-error')).waitFor();
  });
  assert(/cannot be activated/.test(await page.locator(tid('save-error')).textContent()), 'activation is refused');
  // Remove the node again and save: the schema is complete for the tests after this one.
  await marked.click();
  await page.keyboard.press('Delete');
  assert((await page.locator('.react-flow__node').count()) === before, 'the node is removed');
  await page.locator(tid('save')).click();
  await page.waitForFunction(
    (id) => /^Saved · version/.test(document.querySelector(`[data-testid="${id}"]`)?.textContent ?? ''),
    'notice',
  );
  assert((await page.locator('.flow-node.has-error').count()) === 0, 'nothing is marked once complete');
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

// ---- issue 14, items 11 and 12: what a user notices, at 1024, 1280 and 1920 wide -------------
const WIDTHS = [1024, 1280, 1920];
const DEFAULT_VIEWPORT = { width: 1440, height: 900 };

/** The canvas zoom React Flow applies (its viewport's CSS transform). */
async function canvasZoom() {
  const t = await page.locator('.react-flow__viewport').evaluate((el) => el.style.transform);
  const m = /scale\(([\d.]+)\)/.exec(t);
  assert(m, `the canvas has a zoom (${t})`);
  return Number(m[1]);
}

/** Six named nodes in a row: trigger → set → condition → log → log → end. */
const sixNodes = () => ({
  nodes: [
    { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
    { id: 'assign', type: 'set', name: 'Remember amount', config: { assignments: [{ name: 'amount', value: '{{ trigger.amount }}' }] }, position: { x: 30, y: 40 } },
    { id: 'check', type: 'condition', name: 'Big order?', config: { expression: '{{ vars.amount > 10 }}' }, position: { x: 60, y: 80 } },
    { id: 'note', type: 'log', name: 'Note it', config: { message: 'big order' }, position: { x: 90, y: 120 } },
    { id: 'again', type: 'log', name: 'Note again', config: { message: 'still big' }, position: { x: 120, y: 160 } },
    { id: 'done', type: 'end', name: 'Done', config: {}, position: { x: 150, y: 200 } },
  ],
  edges: [
    { id: 'e1', source: 'start', target: 'assign', source_port: 'out' },
    { id: 'e2', source: 'assign', target: 'check', source_port: 'out' },
    { id: 'e3', source: 'check', target: 'note', source_port: 'true' },
    { id: 'e4', source: 'note', target: 'again', source_port: 'out' },
    { id: 'e5', source: 'again', target: 'done', source_port: 'out' },
  ],
  variables: {},
});

let sixUrl = '';
/** The six-node schema's editor URL (imported once; any of these tests may run alone). */
async function sixNodesUrl() {
  if (!sixUrl) {
    await importDefinition(`E2E six ${stamp}`, sixNodes());
    sixUrl = page.url();
  }
  return sixUrl;
}
test('editor at 1024/1280/1920: steady toolbar, readable auto-layout, small minimap', async () => {
  await sixNodesUrl();
  try {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 800 });
      await page.goto(sixUrl);
      await page.locator(tid('editor')).waitFor();
      await page.locator(tid('node-done')).waitFor();
      // Opening fits the graph at a readable zoom.
      await page.waitForTimeout(300);
      assert((await canvasZoom()) >= 0.7, `${width}: opened at a readable zoom (got ${await canvasZoom()})`);

      // The Unsaved marker neither wraps the bar nor moves the canvas.
      const bar = tid('editor') + ' .editor-bar';
      const cleanBar = await page.locator(bar).boundingBox();
      const cleanCanvas = await page.locator(tid('canvas')).boundingBox();
      await page.locator(tid('schema-name')).fill(`E2E six ${stamp} ✎`);
      await page.locator(tid('dirty')).waitFor();
      const dirtyBar = await page.locator(bar).boundingBox();
      const dirtyCanvas = await page.locator(tid('canvas')).boundingBox();
      assert(Math.abs(dirtyBar.height - cleanBar.height) < 1, `${width}: toolbar ${cleanBar.height}px clean, ${dirtyBar.height}px with Unsaved`);
      assert(Math.abs(dirtyCanvas.y - cleanCanvas.y) < 1, `${width}: the canvas stays put when Unsaved shows`);
      const overflow = await page.locator(bar).evaluate((el) => el.scrollWidth - el.clientWidth);
      assert(overflow <= 0, `${width}: every toolbar button fits (${overflow}px over)`);
      const buttons = await page.locator(`${bar} .toolbar .btn`).evaluateAll((els) => new Set(els.map((e) => Math.round(e.getBoundingClientRect().top))).size);
      assert(buttons === 1, `${width}: the toolbar buttons sit on one row (${buttons} rows)`);

      // Auto-layout: six nodes left to right, still readable; the trigger is in view.
      await page.locator(tid('auto-layout')).click();
      await page.waitForTimeout(500);
      const zoom = await canvasZoom();
      assert(zoom >= 0.7, `${width}: zoom after Auto-layout is ${zoom.toFixed(2)} (want ≥ 0.7)`);
      const canvas = await page.locator(tid('canvas')).boundingBox();
      const start = await page.locator(tid('node-start')).boundingBox();
      assert(start.x >= canvas.x && start.x + start.width <= canvas.x + canvas.width, `${width}: the trigger is in view after Auto-layout`);

      // The minimap takes a small corner, or none where the canvas is narrow.
      const map = page.locator('.react-flow__minimap');
      if (await map.isVisible()) {
        const m = await map.boundingBox();
        const share = (m.width * m.height) / (canvas.width * canvas.height);
        assert(share <= 0.06, `${width}: the minimap covers ${(share * 100).toFixed(0)} % of the canvas`);
      } else {
        assert(canvas.width < 600, `${width}: the minimap is hidden only on a narrow canvas (${canvas.width}px)`);
      }
      await shot(`13-editor-auto-layout-${width}`);
    }
  } finally {
    await page.setViewportSize(DEFAULT_VIEWPORT);
  }
});

test('side panels fold away and stay folded after a reload', async () => {
  await page.setViewportSize({ width: 1280, height: 800 });
  try {
    await page.goto(await sixNodesUrl());
    await page.locator(tid('editor')).waitFor();
    const before = (await page.locator(tid('canvas')).boundingBox()).width;
    await page.locator(tid('palette-slot-toggle')).click();
    await page.locator(tid('details-slot-toggle')).click();
    assert(!(await page.locator(tid('palette')).isVisible()), 'the palette is folded');
    assert(!(await page.locator(tid('schema-panel')).isVisible()), 'the details panel is folded');
    await page.waitForTimeout(200);
    const wider = (await page.locator(tid('canvas')).boundingBox()).width;
    assert(wider > before + 400, `the canvas takes the room (${before} → ${wider}px)`);
    await page.reload();
    await page.locator(tid('editor')).waitFor();
    assert((await page.locator(tid('palette-slot')).getAttribute('data-collapsed')) === 'true', 'the palette stays folded after a reload');
    assert((await page.locator(tid('details-slot-toggle')).getAttribute('aria-expanded')) === 'false', 'so does the details panel');
    await shot('14-editor-panels-folded-1280');
    await audit('editor, panels folded');
    await page.locator(tid('palette-slot-toggle')).click();
    await page.locator(tid('details-slot-toggle')).click();
    await page.locator(tid('palette')).waitFor();
    await page.locator(tid('schema-panel')).waitFor();
  } finally {
    await page.setViewportSize(DEFAULT_VIEWPORT);
  }
});

test('the first click on "+ Add item" after typing in an expression field adds an item', async () => {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 800 });
    try {
      await page.goto(await sixNodesUrl());
      await page.locator(tid('editor')).waitFor();
      await selectNode('assign');
      const items = page.locator(`${tid('field-config.assignments')} .array-item`);
      const count = await items.count();
      await page.locator(tid('field-config.assignments[0].value')).click();
      await page.keyboard.type(' ');
      await page.locator('.expr-hint').first().waitFor();
      await shot(`15-expression-hint-${width}`);
      await page.locator(tid('add-config.assignments')).click();
      await page.waitForFunction(
        ({ sel, n }) => document.querySelectorAll(sel).length === n,
        { sel: '[data-testid="field-config.assignments"] .array-item', n: count + 1 },
        { timeout: 2000 },
      ).catch(() => undefined);
      assert((await items.count()) === count + 1, `${width}: one click added an item (${count} → ${await items.count()})`);
    } finally {
      await page.setViewportSize(DEFAULT_VIEWPORT);
    }
  }
});

test('new schema: the dialog opens on Name and refuses an empty one; keyboard-added nodes are joined', async () => {
  await page.goto(`${BASE}/schemas`);
  await page.locator(tid('schema-table')).waitFor();
  await page.locator(tid('new-schema')).click();
  await page.locator(tid('new-schema-dialog')).waitFor();
  const focused = await page.evaluate(() => document.activeElement?.getAttribute('data-testid'));
  assert(focused === 'new-schema-name', `the dialog focuses Name (focused: ${focused})`);
  await page.locator(tid('create-schema')).click();
  const error = page.locator(tid('new-schema-name-error'));
  await error.waitFor();
  assert((await error.textContent()).includes('name'), 'the Name field says why');
  assert((await page.locator(tid('new-schema-name')).getAttribute('aria-invalid')) === 'true', 'Name is marked invalid');
  assert(/\/schemas$/.test(page.url()) && (await page.locator(tid('new-schema-dialog')).isVisible()), 'no schema was created');
  await shot('16-new-schema-empty-name');
  await page.locator(tid('new-schema-name')).fill(`E2E keyboard ${stamp}`);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/schemas\/[0-9a-f-]{8,}/);
  await page.locator(tid('node-trigger')).waitFor();

  // Select the trigger, then add two nodes from the palette with the keyboard.
  await selectNode('trigger');
  await page.locator(tid('palette-log')).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid="node-id"]')?.value === 'log');
  await page.locator(tid('palette-end')).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid="node-id"]')?.value === 'end');
  // React Flow draws an edge once both ends are measured: give it a moment.
  await page.waitForFunction(() => document.querySelectorAll('.react-flow__edge').length === 2, null, { timeout: 3000 }).catch(() => undefined);
  assert((await page.locator('.react-flow__edge').count()) === 2, 'each keyboard-added node is joined to the one selected before');
  await page.waitForTimeout(300); // the view pans to the new node
  const boxes = await Promise.all(['trigger', 'log', 'end'].map((id) => page.locator(tid(`node-${id}`)).boundingBox()));
  for (let i = 1; i < boxes.length; i++) assert(boxes[i].x >= boxes[i - 1].x + boxes[i - 1].width, 'each sits right of the node it follows, not on it');
  await shot('17-editor-keyboard-added');
  await page.locator(tid('save')).click();
  await page.locator(tid('notice')).filter({ hasText: 'Saved' }).waitFor();
  const saved = await apiCall('GET', `/schemas/${page.url().split('/').pop()}/`);
  const edges = saved.body.definition.edges.map((e) => `${e.source}.${e.source_port ?? 'out'}→${e.target}`).sort();
  assert(JSON.stringify(edges) === JSON.stringify(['log.out→end', 'trigger.out→log']), `stored edges: ${edges}`);
});

test('importing a schema whose name is taken adds "(imported)" and says so', async () => {
  const name = `E2E twice ${stamp}`;
  await importDefinition(name, sixNodes());
  assert((await page.locator(tid('schema-name')).inputValue()) === name, 'the first import keeps its name');
  await importDefinition(name, sixNodes());
  assert((await page.locator(tid('schema-name')).inputValue()) === `${name} (imported)`, 'the second import is suffixed');
  assert((await page.locator(tid('notice')).textContent()).includes('already exists'), 'the editor says why');
  await shot('18-import-renamed');
});

test('runs show node names; a cancelled run shows where it stopped and can be re-run', async () => {
  await importDefinition(`E2E cancel ${stamp}`, {
    nodes: [
      { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
      { id: 'approval', type: 'wait', name: 'Manager approval', config: {}, position: { x: 280, y: 0 } },
      { id: 'done', type: 'end', name: 'Done', config: {}, position: { x: 560, y: 0 } },
    ],
    edges: [
      { id: 'e1', source: 'start', target: 'approval', source_port: 'out' },
      { id: 'e2', source: 'approval', target: 'done', source_port: 'out' },
    ],
    variables: {},
  });
  await runNow({ order: 8 });
  assert((await waitExecutionStatus(['paused', 'failed', 'completed'])) === 'paused', 'the run waits');
  await page.locator(tid('waiting-node')).waitFor();
  assert((await page.locator(tid('waiting-node')).textContent()).includes('Manager approval'), 'the waiting panel names the node');
  await page.locator(tid('step-name-start')).waitFor();
  assert((await page.locator(tid('step-name-start')).textContent()).includes('Start'), 'the step list shows the name users gave');
  const firstRun = page.url();
  await page.locator(tid('cancel-execution')).click();
  assert((await waitExecutionStatus(['cancelled'])) === 'cancelled', 'cancelled');
  await page.locator(tid('stopped-at')).waitFor();
  assert((await page.locator(tid('stopped-at')).textContent()).includes('Manager approval'), 'it says where the run stopped');
  assert((await page.locator(tid('node-approval')).getAttribute('data-status')) === 'cancelled', 'the canvas marks that node');
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 800 });
    await page.waitForTimeout(200);
    await shot(`19-execution-cancelled-${width}`);
  }
  await page.setViewportSize(DEFAULT_VIEWPORT);
  await audit('cancelled execution');
  await page.locator(tid('rerun-execution')).click();
  await page.waitForURL((url) => url.toString() !== firstRun && /\/executions\/[0-9a-f-]{8,}/.test(url.toString()));
  assert((await waitExecutionStatus(['paused', 'failed', 'completed'])) === 'paused', 'the re-run runs again to the wait');
  await page.locator(tid('cancel-execution')).click();
  await waitExecutionStatus(['cancelled']);
});

test('executions list: a click anywhere on a row, or Enter on it, opens the execution', async () => {
  await page.goto(`${BASE}/executions`);
  await page.locator(tid('executions-table')).waitFor();
  const row = page.locator('[data-testid^="execution-row-"]').first();
  await row.waitFor();
  const id = (await row.getAttribute('data-testid')).replace('execution-row-', '');
  // A click on the "Created" cell (plain text). Playwright's own click would refuse: the row's
  // link lies over the cell, which is the point.
  const cell = await row.locator('td').nth(4).boundingBox();
  await page.mouse.click(cell.x + cell.width / 2, cell.y + cell.height / 2);
  await page.waitForURL(new RegExp(`/executions/${id}$`));
  await page.goBack();
  await page.locator(tid(`execution-link-${id}`)).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`/executions/${id}$`));
  await page.goBack();
  // The schema's link in the row still opens the schema.
  await page.locator(tid(`execution-row-${id}`)).locator('a[href^="/schemas/"]').click();
  await page.waitForURL(/\/schemas\/[0-9a-f-]{8,}$/);
  await page.locator(tid('editor')).waitFor();
});

// Tests kept in their own modules, given the page and the helpers above.
(await import('./authoring.mjs')).register({ test, page, tid, shot, assert, apiCall, importDefinition, selectNode, runNow, waitExecutionStatus, audit, expectHttpError, stamp });
(await import('./credentials.mjs')).register({ test, page, tid, shot, assert, importDefinition, selectNode, runNow, waitExecutionStatus, audit, stamp });
(await import('./authoring-runs.mjs')).register({ test, page, tid, shot, assert, apiCall, importDefinition, selectNode, audit, stamp });
(await import('./subflows.mjs')).register({ test, page, tid, shot, assert, apiCall, importDefinition, runNow, waitExecutionStatus, audit, stamp, dropNode, connect });
(await import('./policies.mjs')).register({ test, page, tid, shot, assert, apiCall, importDefinition, audit, stamp });
(await import('./task-replay.mjs')).register({ test, page, tid, shot, assert, apiCall, selectNode, audit, stamp });

// ---- runner --------------------------------------------------------------------------------
let passed = 0;
let failed = 0;
for (const t of tests) {
  if (ONLY && !ONLY.split('|').some((o) => t.name.includes(o)) && t.name !== 'sign in') continue;
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
