/**
 * e2e of the execution policies in the editor (issue 16): the priority and "while paused" settings
 * are set in the schema settings panel and saved; Pause holds new runs (the panel says how many,
 * the executions page says why they wait and shows a raised priority), Resume starts them; the
 * executions page finds runs by a payload field and by error text.
 * Registered into the suite of run.mjs.
 */
export function register(h) {
  const { test, page, tid, shot, assert, apiCall, importDefinition, audit, stamp } = h;

  /** The executions of a schema (newest first). */
  async function runsOf(schemaId) {
    const list = await apiCall('GET', `/executions/?schema=${schemaId}&page_size=50`);
    assert(list.status === 200, `the executions list answers 200 (got ${list.status})`);
    return list.body.results;
  }

  async function waitFor(what, predicate, timeout = 30000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const value = await predicate();
      if (value) return value;
      assert(Date.now() < deadline, `timed out waiting for ${what}`);
      await page.waitForTimeout(300);
    }
  }

  test('policies: priority set in the editor; Pause holds runs and says so, Resume starts them; search by payload field and error text', async () => {
    // Orders above 2 are declined: a failed run with a searchable error.
    await importDefinition(`E2E policies ${stamp}`, {
      nodes: [
        { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
        { id: 'check', type: 'condition', name: 'Small order?', config: { expression: '{{ trigger.order <= 2 }}' }, position: { x: 260, y: 0 } },
        { id: 'done', type: 'end', name: 'Done', config: { output: '{{ trigger.order }}' }, position: { x: 520, y: -80 } },
        { id: 'decline', type: 'fail', name: 'Decline', config: { message: 'card declined for order {{ trigger.order }}' }, position: { x: 520, y: 80 } },
      ],
      edges: [
        { id: 'e1', source: 'start', target: 'check', source_port: 'out' },
        { id: 'e2', source: 'check', target: 'done', source_port: 'true' },
        { id: 'e3', source: 'check', target: 'decline', source_port: 'false' },
      ],
      variables: {},
    });
    const schemaId = page.url().split('/').pop();

    // The settings panel (nothing selected): priority 8, calls may ask up to 9; held while paused.
    await page.locator(tid('execution-settings')).waitFor();
    await page.locator(tid('settings-priority')).fill('8');
    await page.locator(tid('settings-max-call-priority')).fill('9');
    assert((await page.locator(tid('settings-when-paused')).inputValue()) === 'queue', 'calls are held while paused by default');
    await page.locator(tid('save')).click();
    await page.locator(tid('notice')).filter({ hasText: 'Saved' }).waitFor();
    const saved = await apiCall('GET', `/schemas/${schemaId}/`);
    const settings = saved.body.definition.settings ?? {};
    assert(settings.priority === 8 && settings.max_call_priority === 9, `settings saved (got ${JSON.stringify(settings)})`);

    // Pause: runs started meanwhile are held and the panel counts them.
    const state = page.locator(tid('schema-pause-state'));
    assert((await state.textContent()).startsWith('Running'), 'a new schema runs');
    await page.locator(tid('schema-pause')).click();
    await page.locator(tid('schema-resume')).waitFor();
    const held = [];
    for (const order of [1, 2, 3]) {
      const run = await apiCall('POST', `/schemas/${schemaId}/execute/`, { payload: { order } });
      assert(run.status === 202, `a run while paused is accepted (got ${run.status})`);
      assert(run.body.queued === 'queued: the schema is paused', `it is held (got ${run.body.queued})`);
      assert(run.body.priority === 8, `it has the schema's priority (got ${run.body.priority})`);
      assert(run.body.status === 'pending' && run.body.started_at === null, `it has not started (got ${run.body.status}, started_at ${run.body.started_at})`);
      held.push(run.body.id);
    }
    const urgent = await apiCall('POST', `/schemas/${schemaId}/execute/`, { payload: { order: 0 }, priority: 9 });
    assert(urgent.status === 202 && urgent.body.priority === 9, `a run may ask for 9 (got ${urgent.status} ${urgent.body.priority})`);
    held.push(urgent.body.id);
    await page.waitForFunction(
      () => /^Paused · drained: nothing running, 4 held until resumed\.$/.test(document.querySelector('[data-testid="schema-pause-state"]')?.textContent ?? ''),
      null,
      { timeout: 15000 },
    );
    await page.waitForTimeout(1500); // nothing starts while paused
    assert((await runsOf(schemaId)).every((e) => e.status === 'pending'), 'the held runs have not started');
    await shot('policies-01-paused-held');
    await audit('editor with the schema paused');

    // The executions page says why they wait, and which asked for a higher priority.
    const editorUrl = page.url();
    await page.goto(`${new URL(editorUrl).origin}/executions?schema=${schemaId}`);
    const urgentRow = page.locator(tid(`execution-row-${urgent.body.id}`));
    await urgentRow.waitFor();
    const urgentText = await urgentRow.textContent();
    assert(urgentText.includes('queued: the schema is paused'), `the row says why it waits (got ${urgentText})`);
    assert((await page.locator(tid(`execution-priority-${urgent.body.id}`)).textContent()).includes('priority 9'), 'the row shows its priority');
    const queuedCell = await page.locator(tid(`execution-duration-${urgent.body.id}`)).textContent();
    assert(queuedCell === 'queued', `a run not started has no duration, it is queued (got ${queuedCell})`);
    await shot('policies-02-executions-held');
    await page.locator(tid(`execution-link-${urgent.body.id}`)).click();
    await page.locator(tid('execution-queued')).waitFor();
    const banner = await page.locator(tid('execution-queued')).textContent();
    assert(banner === 'Queued: the schema is paused.', `the execution says why it has not started (got ${banner})`);
    assert((await page.locator(tid('execution-view')).textContent()).includes('priority 9'), 'the execution shows its priority');
    const since = await page.locator(tid('execution-time')).textContent();
    assert(/^queued since /.test(since) && !since.includes('started') && !/\d s$/.test(since), `it says since when it is queued, no start, no duration (got ${since})`);
    await page.waitForTimeout(1500); // a live page polls every second: nothing grows while it waits
    assert((await page.locator(tid('execution-time')).textContent()) === since, 'the queued time does not change while it waits');
    await shot('policies-02b-execution-held');
    await page.goto(editorUrl);
    await page.locator(tid('schema-resume')).waitFor();

    // Resume: the held runs start and finish (order 3 is declined).
    await page.locator(tid('schema-resume')).click();
    await page.locator(tid('schema-pause')).waitFor();
    assert((await state.textContent()).startsWith('Running'), 'the panel says it runs again');
    const finished = await waitFor('the held runs to finish', async () => {
      const runs = await runsOf(schemaId);
      return runs.length === 4 && runs.every((e) => ['completed', 'failed'].includes(e.status)) && runs;
    });
    const [, two, three] = held; // orders 1, 2, 3 (declined), 0
    const failed = finished.filter((e) => e.status === 'failed').map((e) => e.id);
    assert(failed.length === 1 && failed[0] === three, `the run of order 3 was declined, the others completed (failed: ${failed})`);

    // The executions page: a payload field, then error text.
    await page.goto(`${new URL(page.url()).origin}/executions?schema=${schemaId}`);
    await page.locator(tid('executions-table')).waitFor();
    await page.locator(tid('filter-field')).fill('payload.order = 2');
    await page.locator(tid('filter-field')).press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid^="execution-row-"]').length === 1);
    const rowIds = async () =>
      page.locator('[data-testid^="execution-row-"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-testid').replace('execution-row-', '')));
    assert((await rowIds())[0] === two, `payload.order = 2 finds that run (got ${await rowIds()})`);
    assert(/payload__order=2/.test(page.url()), 'the search is in the address');
    await shot('policies-03-search-payload');

    await page.locator(tid('filter-field')).fill('');
    await page.locator(tid('filter-field')).press('Enter');
    await page.locator(tid('filter-error')).fill('CARD DECLINED');
    await page.locator(tid('filter-error')).press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid^="execution-row-"]').length === 1);
    assert((await rowIds())[0] === three, 'error text (any case) finds the declined run');
    const row = await page.locator(tid(`execution-row-${three}`)).textContent();
    assert(row.includes('card declined for order 3'), `the row shows the error (got ${row})`);
    await shot('policies-04-search-error');
    await audit('executions search');
  });
}
