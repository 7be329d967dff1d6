/**
 * Issue 21's acceptance task, replayed as a person does it: build a schema against a local JSON
 * API using only the data panes, the expression autocomplete and "Run this node" (each step
 * checked by what the output pane shows), then debug a failed production execution in the
 * editor ("load execution", the failed node's error, fix, "Run this node"). Screenshots at
 * 1280×800 and 1920×1080. The API is a small HTTP server started here on 127.0.0.1 and called as
 * `localhost` (run_e2e.py allows that host name to the workers: SCHEMA_HTTP_ALLOWLIST).
 * Registered into the suite of run.mjs, which passes its page and helpers.
 */
import { createServer } from 'node:http';

const ORDERS = {
  ada: [
    { id: 7, customer: 'ada', total: 120.5, placed: '2026-11-20' },
    { id: 8, customer: 'ada', total: 18, placed: '2026-11-28' },
  ],
  bob: [{ id: 13, customer: 'bob', total: 42, placed: '2026-10-02' }],
};
const details = (id) => ({ id, items: [{ sku: `SKU-${id}`, qty: 2 }], shipping: 'shipped', carrier: 'PostNL' });

/** The local JSON API: /orders?customer=, /orders/{id} (500 for order 13: moved) and /v2/orders/{id}. */
function startOrdersApi() {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const json = (status, body) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let m;
    if (url.pathname === '/orders') return json(200, ORDERS[url.searchParams.get('customer')] ?? []);
    if ((m = /^\/orders\/(\d+)$/.exec(url.pathname))) {
      if (m[1] === '13') return json(500, { error: 'order 13 was moved to the archive: read it at /v2/orders/13' });
      return json(200, details(Number(m[1])));
    }
    if ((m = /^\/v2\/orders\/(\d+)$/.exec(url.pathname))) return json(200, details(Number(m[1])));
    return json(404, { error: 'no such path' });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export function register(h) {
  const { test, page, tid, shot, assert, apiCall, selectNode, audit, stamp } = h;
  const SMALL = { width: 1280, height: 800 };
  const LARGE = { width: 1920, height: 1080 };

  /** The same moment at both sizes (the test works at 1280×800). */
  async function shotBoth(name) {
    // The whole graph in view ("fit view", at each size): nodes added one after another drift out of it.
    const fit = async () => {
      await page.locator('.react-flow__controls-fitview').click();
      await page.waitForTimeout(300);
    };
    await fit();
    await shot(`${name}-1280`);
    await page.setViewportSize(LARGE);
    await fit();
    await shot(`${name}-1920`);
    await page.setViewportSize(SMALL);
    await page.waitForTimeout(250);
  }

  const options = () => page.locator('.cm-tooltip-autocomplete li');
  /** Waits until the completion list offers `label`, selects it with the arrow keys, accepts with Enter. */
  async function pick(label) {
    const item = options().filter({ hasText: new RegExp(`^${label}`) }).first();
    await item.waitFor({ timeout: 15000 }); // the list waits for the pane's data; 5 s was short once under CI load
    const labels = await options().allTextContents();
    const want = labels.findIndex((l) => l.startsWith(label));
    const current = await options().evaluateAll((els) => els.findIndex((e) => e.getAttribute('aria-selected') === 'true'));
    for (let i = current; i < want; i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => !document.querySelector('.cm-tooltip-autocomplete'), null, { timeout: 2000 }).catch(() => undefined);
  }

  /** Adds a node of `type` after the selected one from the palette with the keyboard, gives it an id and a name. */
  async function addAfterSelected(type, id, name) {
    await page.locator(tid(`palette-${type}`)).focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction((t) => document.querySelector('[data-testid="node-id"]')?.value.startsWith(t), type);
    await page.locator(tid('node-id')).fill(id);
    await page.keyboard.press('Tab'); // the id is taken when the field is left
    await page.locator(tid(`node-${id}`)).waitFor();
    await page.locator(tid('node-name')).fill(name);
  }

  async function runThisNode() {
    await page.locator(tid('run-node')).click(); // side effects: the confirm() is accepted
    await page.locator(tid('test-result')).waitFor({ timeout: 20000 });
    return page.locator(tid('test-result')).getAttribute('data-status');
  }

  async function rawOutput(testId) {
    await page.locator(tid(`${testId}-view-raw`)).click();
    return page.locator(tid(`${testId}-raw`)).textContent();
  }

  test('task: build a schema against a local JSON API with the panes, autocomplete and "Run this node", then debug a failed run', async () => {
    const api = await startOrdersApi();
    const base = `http://localhost:${api.address().port}`;
    await page.setViewportSize(SMALL);
    try {
      // A new schema; its manual trigger is replaced by a webhook trigger.
      await page.goto(`${new URL(page.url()).origin}/schemas`);
      await page.locator(tid('new-schema')).click();
      await page.locator(tid('new-schema-name')).fill(`Order follow-up ${stamp}`);
      await page.locator(tid('create-schema')).click();
      await page.waitForURL(/\/schemas\/[0-9a-f-]{8,}/);
      const schemaId = page.url().split('/').pop();
      await page.locator(tid('node-trigger')).waitFor();
      await selectNode('trigger');
      await page.keyboard.press('Delete');
      await page.waitForFunction(() => !document.querySelector('[data-testid="node-trigger"]'));
      await page.locator('.react-flow__pane').click({ position: { x: 30, y: 30 } });
      await page.locator(tid('palette-webhook_trigger')).focus();
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('[data-testid="node-id"]')?.value === 'webhook_trigger');
      await page.locator(tid('node-id')).fill('hook');
      await page.keyboard.press('Tab');
      await page.locator(tid('node-hook')).waitFor();
      await page.locator(tid('node-name')).fill('Order event');

      // 1. The webhook's body, typed into the input pane and pinned.
      await page.locator(tid('edit-input')).click();
      await page.locator(tid('test-input')).fill('{"customer": "ada", "event": "follow-up"}');
      await page.locator(tid('pin')).click();
      await page.locator(tid('pinned-badge')).waitFor();
      assert((await page.locator(tid('input-data')).textContent()).includes('ada'), 'the input pane shows the pinned body');
      await shot('80-task-pinned-webhook-body-1280');

      // 2. GET the customer's orders: the URL's expression by autocomplete.
      await addAfterSelected('http_request', 'list', 'List orders');
      await page.locator(tid('field-config.url')).click();
      await page.keyboard.type(`${base}/orders?customer={{ tri`);
      await pick('trigger');
      await page.keyboard.type('.');
      await options().filter({ hasText: /^customer/ }).first().waitFor({ timeout: 5000 });
      const offered = await options().allTextContents();
      assert(offered.some((o) => o.startsWith('event')), `trigger. completes the pinned body's keys: ${offered}`);
      await shot('81-task-autocomplete-trigger-keys-1280');
      await pick('customer');
      const url = await page.locator(tid('field-config.url')).textContent();
      assert(new RegExp(`^${base.replace(/[.:/]/g, '\\$&')}/orders\\?customer=\\{\\{ trigger\\.customer ?\\}\\}$`).test(url), `the URL was completed: ${url}`);
      const urlPreview = page.locator(tid('preview-field-config.url'));
      await page.waitForFunction(() => /customer=ada/.test(document.querySelector('[data-testid="preview-field-config.url"]')?.textContent ?? ''), null, { timeout: 8000 });
      assert((await urlPreview.textContent()).includes(`${base}/orders?customer=ada`), `the preview shows the URL called: ${await urlPreview.textContent()}`);
      assert((await runThisNode()) === 'success', `List orders ran: ${await page.locator(tid('test-result')).textContent()}`);
      const listed = await rawOutput('test-output');
      assert(listed.includes('"status": 200') && listed.includes('"id": 7') && listed.includes('"id": 8'), `the output pane shows the API's orders: ${listed.slice(0, 300)}`);
      await shotBoth('82-task-list-orders-run');
      await page.locator(tid('pin-output')).click(); // the next nodes get it as their input
      await page.locator(tid('output-pinned-badge')).waitFor();
      await page.locator(tid('pin-mark-list')).waitFor();
      const pinnedText = await page.locator(tid('pinned-output')).textContent();
      assert(pinnedText.includes('200') && pinnedText.includes('[2 items]'), `the pane shows the pinned answer: ${pinnedText}`);

      // 3. The first order, kept with a set node: `input.body | first`, all by completion.
      await addAfterSelected('set', 'first', 'First order');
      await page.locator(tid('add-config.assignments')).click();
      await page.locator(tid('field-config.assignments[0].name')).fill('order');
      await page.locator(tid('field-config.assignments[0].value')).click();
      await page.keyboard.type('{{ inp');
      await pick('input');
      await page.keyboard.type('.');
      await options().filter({ hasText: /^body/ }).first().waitFor({ timeout: 5000 });
      const inputKeys = await options().allTextContents();
      assert(['status', 'headers', 'body'].every((k) => inputKeys.some((o) => o.startsWith(k))), `input. completes the pinned HTTP output: ${inputKeys}`);
      await pick('body');
      await page.keyboard.type(' | fir');
      await options().filter({ hasText: /^first/ }).first().waitFor({ timeout: 5000 });
      await shot('83-task-autocomplete-filter-1280');
      await pick('first');
      const value = await page.locator(tid('field-config.assignments[0].value')).textContent();
      assert(/^\{\{ input\.body \| first ?\}\}$/.test(value), `the set value was completed: ${value}`);
      await page.waitForFunction(() => /"id":7/.test(document.querySelector('[data-testid="preview-field-config.assignments[0].value"]')?.textContent ?? ''), null, { timeout: 8000 });
      assert((await runThisNode()) === 'success', 'First order ran');
      const first = await rawOutput('test-output');
      assert(first.includes('"order"') && first.includes('"id": 7') && !first.includes('"id": 8'), `the output pane shows the first order only: ${first}`);
      await page.locator(tid('pin-output')).click();
      await page.locator(tid('output-pinned-badge')).waitFor();
      await page.locator(tid('pin-mark-first')).waitFor();

      // 4. The order's details: an expression in the URL path.
      await addAfterSelected('http_request', 'details', 'Order details');
      await page.locator(tid('field-config.url')).click();
      await page.keyboard.type(`${base}/orders/{{ inp`);
      await pick('input');
      await page.keyboard.type('.');
      await pick('order');
      await page.keyboard.type('.');
      await options().filter({ hasText: /^total/ }).first().waitFor({ timeout: 5000 });
      assert((await options().allTextContents()).some((o) => o.startsWith('id') && o.includes('7')), 'the completion shows the value beside the key');
      await pick('id');
      const detailsUrl = await page.locator(tid('field-config.url')).textContent();
      assert(/\/orders\/\{\{ input\.order\.id ?\}\}$/.test(detailsUrl), `the details URL was completed: ${detailsUrl}`);
      assert((await runThisNode()) === 'success', 'Order details ran');
      const shipped = await rawOutput('test-output');
      assert(shipped.includes('"shipping": "shipped"') && shipped.includes('SKU-7'), `the output pane shows order 7's details: ${shipped}`);
      await shotBoth('84-task-order-details-run');
      await audit('task: built with data');

      // Saved; the pins of the HTTP answers are dropped (a production run never uses pins anyway).
      for (const id of ['list', 'first']) {
        await selectNode(id);
        await page.locator(tid('unpin-output')).click();
      }
      await page.locator(tid('save')).click();
      await page.locator(tid('notice')).filter({ hasText: 'Saved' }).waitFor();
      const saved = (await apiCall('GET', `/schemas/${schemaId}/`)).body;
      assert(saved.problems.length === 0, `the built schema is complete: ${JSON.stringify(saved.problems)}`);
      assert(JSON.stringify(saved.definition.edges.map((e) => [e.source, e.target])) === JSON.stringify([['hook', 'list'], ['list', 'first'], ['first', 'details']]), 'joined in order');

      // 5. Production: an event for bob fails (the API answers 500 for his order 13).
      const ok = await apiCall('POST', `/schemas/${schemaId}/execute/`, { payload: { customer: 'ada' } });
      const bad = await apiCall('POST', `/schemas/${schemaId}/execute/`, { payload: { customer: 'bob' } });
      assert(ok.status === 202 && bad.status === 202, `runs started (${ok.status}, ${bad.status}: ${JSON.stringify(bad.body)})`);
      for (const [run, want] of [[ok, 'completed'], [bad, 'failed']]) {
        let status = '';
        for (let i = 0; i < 150 && !['completed', 'failed'].includes(status); i++) {
          status = (await apiCall('GET', `/executions/${run.body.id}/`)).body.status;
          if (!['completed', 'failed'].includes(status)) await page.waitForTimeout(200);
        }
        assert(status === want, `the ${want} run: ${status}`);
      }

      // 6. Debug it in the editor: load the failed execution.
      await page.reload();
      await page.locator(tid('node-details')).waitFor();
      await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="load-execution"] option')].filter((o) => o.value).length >= 2);
      const labels = await page.locator(`${tid('load-execution')} option`).allTextContents();
      const failedAt = labels.findIndex((t) => t.includes('failed'));
      assert(failedAt > 0, `the failed run is offered: ${labels}`);
      await page.locator(tid('load-execution')).selectOption({ index: failedAt });
      await page.locator(tid('data-execution-status')).filter({ hasText: 'failed' }).waitFor();
      await page.waitForFunction(() => document.querySelector('[data-testid="node-details"]')?.dataset.status === 'failed');
      for (const id of ['hook', 'list', 'first']) assert((await page.locator(tid(`node-${id}`)).getAttribute('data-status')) === 'success', `${id} ran`);
      await selectNode('details');
      const error = await page.locator(tid('output-error')).textContent();
      assert(error.includes('HTTP 500') && error.includes('/orders/13') && error.includes('expected 2xx'), `the error in plain words: ${error}`);
      await page.locator(`${tid('input-data')} button[aria-label="Unfold input.order"]`).click();
      assert((await page.locator(tid('input-data')).textContent()).includes('"bob"'), 'the input pane shows what the node got in that run');
      // The failure's output opens as raw JSON: the API's own answer is readable without unfolding.
      assert((await page.locator(tid('output-data')).getAttribute('data-view')) === 'raw', 'a failed output opens raw');
      const answer = await page.locator(tid('output-data-raw')).textContent();
      assert(answer.includes('read it at /v2/orders/13'), `the API's answer is in the output pane: ${answer}`);
      await shotBoth('85-task-failed-execution-loaded');
      await audit('task: failed execution loaded');

      // 7. Fix the URL (the API said where the order went) and run the node on that run's input.
      await page.locator(tid('field-config.url')).click();
      await page.keyboard.press('Control+Home');
      for (let i = 0; i < `${base}/`.length; i++) await page.keyboard.press('ArrowRight');
      await page.keyboard.type('v2/');
      await page.waitForFunction(() => /v2\/orders\/13/.test(document.querySelector('[data-testid="preview-field-config.url"]')?.textContent ?? ''), null, { timeout: 8000 });
      assert((await runThisNode()) === 'success', `the fixed node runs: ${await page.locator(tid('test-result')).textContent()}`);
      const fixed = await rawOutput('test-output');
      assert(fixed.includes('SKU-13') && fixed.includes('"shipping": "shipped"'), `order 13's details: ${fixed}`);
      await shotBoth('86-task-fixed-and-run');
      const executions = (await apiCall('GET', `/executions/?schema=${schemaId}`)).body.results.length;
      assert(executions === 2, `the test runs made no execution (${executions})`);
      // Ctrl+S straight after typing (before the field commits on its own) saves what was typed.
      const typed = `${await page.locator(tid('field-config.url')).textContent()}?expand=items`;
      await page.locator(tid('field-config.url')).click();
      await page.keyboard.press('Control+End');
      await page.keyboard.type('?expand=items');
      await page.keyboard.press('Control+s');
      await page.locator(tid('notice')).filter({ hasText: 'Saved' }).waitFor();
      const stored = (await apiCall('GET', `/schemas/${schemaId}/`)).body.definition.nodes.find((n) => n.id === 'details');
      assert(stored.config.url === typed, `Ctrl+S saved the text just typed: ${stored.config.url}`);
    } finally {
      api.close();
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });
}
