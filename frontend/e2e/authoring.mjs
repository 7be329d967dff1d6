/**
 * e2e tests of authoring with data (issue 21): the input/output panes under the canvas, loading a
 * past execution, the expression editor with completion and a server-side preview, and running
 * one node. Registered into the suite of run.mjs, which passes its page and helpers.
 */
export function register(h) {
  const { test, page, tid, shot, assert, apiCall, importDefinition, selectNode, runNow, waitExecutionStatus, audit, stamp } = h;

  /** A trigger, a `set` that copies the orders and counts them, a condition and a fail branch. */
  const ordersSchema = () => ({
    nodes: [
      { id: 'start', type: 'manual_trigger', name: 'Orders arrive', config: {}, position: { x: 0, y: 0 } },
      {
        id: 'count',
        type: 'set',
        name: 'Count orders',
        config: {
          assignments: [
            { name: 'orders', value: '{{ trigger.orders }}' },
            { name: 'count', value: '{{ trigger.orders | length }}' },
          ],
        },
        position: { x: 300, y: 0 },
      },
      { id: 'big', type: 'condition', name: 'Many orders?', config: { expression: '{{ vars.count > 100 }}' }, position: { x: 600, y: 0 } },
      { id: 'done', type: 'end', name: 'Done', config: {}, position: { x: 900, y: -80 } },
      { id: 'too_few', type: 'fail', name: 'Too few', config: { message: 'only {{ vars.count }} orders' }, position: { x: 900, y: 80 } },
    ],
    edges: [
      { id: 'e1', source: 'start', target: 'count', source_port: 'out' },
      { id: 'e2', source: 'count', target: 'big', source_port: 'out' },
      { id: 'e3', source: 'big', target: 'done', source_port: 'true' },
      { id: 'e4', source: 'big', target: 'too_few', source_port: 'false' },
    ],
    variables: { threshold: 100 },
  });
  /** ~0.5 MB of orders (an expression result may be 1 M characters): big enough to be paged everywhere. */
  const orders = (n) => Array.from({ length: n }, (_, i) => ({ id: i, customer: `customer ${i}`, total: Math.round(i * 1.37 * 100) / 100, note: 'n'.repeat(120) }));

  let ordersUrl = '';
  async function ordersEditor() {
    if (!ordersUrl) {
      await importDefinition(`E2E orders ${stamp}`, ordersSchema());
      ordersUrl = page.url();
      const id = ordersUrl.split('/').pop();
      // A failed run first (3 orders), then the big successful one: the latest.
      for (const payload of [{ orders: orders(3) }, { orders: orders(2500) }]) {
        const started = await apiCall('POST', `/schemas/${id}/execute/`, { payload });
        assert(started.status === 202, `run started (${started.status})`);
        for (let i = 0; i < 100; i++) {
          const ex = await apiCall('GET', `/executions/${started.body.id}/`);
          if (['completed', 'failed'].includes(ex.body.status)) break;
          await page.waitForTimeout(200);
        }
      }
    }
    await page.goto(ordersUrl);
    await page.locator(tid('editor')).waitFor();
    await page.locator(tid('node-too_few')).waitFor();
    await page.locator('.react-flow__controls-fitview').click(); // every node in view at 1280 wide
    return ordersUrl;
  }

  test('data: input/output panes: a node shows what it received and produced in the latest run; big values are paged', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    try {
      await ordersEditor();
      await page.locator(tid('data-execution-status')).filter({ hasText: 'completed' }).waitFor();
      // The canvas is coloured by the latest run.
      await page.waitForFunction(() => document.querySelector('[data-testid="node-count"]')?.dataset.status === 'success');
      await selectNode('count');
      await page.locator(tid('input-pane')).waitFor();
      // Input of `count` is the trigger's output: the payload with 2500 orders, as a JSON tree.
      const started = Date.now();
      await page.locator(tid('input-data-view-table')).click();
      await page.locator(tid('input-data-table')).waitFor();
      assert(Date.now() - started < 5000, 'the table view opens without freezing the page');
      // The output is an object {orders, count}: tree first; unfold `orders`, then show it as a table.
      const out = page.locator(tid('output-data'));
      assert((await out.getAttribute('data-view')) === 'tree', 'an object opens as a JSON tree');
      await out.locator('button[aria-label="Unfold nodes.count.output.orders"]').click();
      const leaves = await out.locator('[data-expr^="nodes.count.output.orders["]').count();
      assert(leaves === 50, `one page of 50 orders is drawn (got ${leaves})`);
      await out.getByRole('button', { name: 'Next page of items of nodes.count.output.orders' }).click();
      assert(await out.locator('[data-expr="nodes.count.output.orders[50]"]').count(), 'the next page shows orders 50…');
      await shot('21-data-panes-tree-1280');
      await page.locator(tid('output-data-view-raw')).click();
      const rawText = await page.locator(`${tid('output-data-raw')} pre`).textContent();
      assert(rawText.split('\n').length === 400, 'raw JSON shows one page of 400 lines');
      assert((await page.locator(tid('output-data-raw')).textContent()).includes('of 150'), 'and says how many lines there are');
      // The trigger: its input is the payload, as a table of orders.
      await selectNode('start');
      await page.locator(tid('input-data')).waitFor();
      await page.locator(tid('output-data-view-table')).click();
      await shot('22-data-panes-table-1280');
      await audit('editor with run data');
      // A node that did not run says so.
      await selectNode('too_few');
      await page.locator(tid('data-not-run')).waitFor();
    } finally {
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  test('data: load execution: a past failed run goes on the canvas with its error', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    try {
      await ordersEditor();
      const options = page.locator(`${tid('load-execution')} option`);
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="load-execution"] option').length >= 3);
      const failed = (await options.allTextContents()).findIndex((t) => t.includes('failed'));
      assert(failed > 0, 'the failed run is offered');
      await page.locator(tid('load-execution')).selectOption({ index: failed });
      await page.locator(tid('data-execution-status')).filter({ hasText: 'failed' }).waitFor();
      await page.waitForFunction(() => document.querySelector('[data-testid="node-too_few"]')?.dataset.status === 'failed');
      assert((await page.locator(tid('node-done')).getAttribute('data-status')) === '', 'a node that did not run stays plain');
      await selectNode('too_few');
      await page.locator(tid('output-error')).waitFor();
      assert((await page.locator(tid('output-error')).textContent()).includes('only 3 orders'), 'the failed node shows its error');
      await shot('23-load-failed-execution-1280');
    } finally {
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });
}
