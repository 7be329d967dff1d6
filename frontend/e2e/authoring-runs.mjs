/**
 * e2e tests of issue 21's later items: node names in the executions list and on a child run,
 * paste where the user looks, pinned data on any node with "Run to here", and sticky notes.
 * Registered into the suite of run.mjs, which passes its page and helpers.
 */
export function register(h) {
  const { test, page, tid, shot, assert, apiCall, importDefinition, selectNode, audit, stamp } = h;
  const origin = () => new URL(page.url()).origin;
  const idOf = () => page.url().split('/').pop();

  async function waitStatus(executionId, statuses) {
    for (let i = 0; i < 150; i++) {
      const ex = await apiCall('GET', `/executions/${executionId}/`);
      if (statuses.includes(ex.body.status)) return ex.body;
      await page.waitForTimeout(200);
    }
    throw new Error(`execution ${executionId} never reached ${statuses}`);
  }

  test('names: the executions list and a child run name the nodes users named', async () => {
    await importDefinition(`E2E names child ${stamp}`, {
      nodes: [
        { id: 't', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
        { id: 'done', type: 'end', name: 'Done', config: {}, position: { x: 300, y: 0 } },
      ],
      edges: [{ id: 'e1', source: 't', target: 'done', source_port: 'out' }],
      variables: {},
    });
    const childId = idOf();
    assert((await apiCall('POST', `/schemas/${childId}/activate/`)).status === 200, 'child schema activated');
    await importDefinition(`E2E names parent ${stamp}`, {
      nodes: [
        { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
        { id: 'bill', type: 'call_schema', name: 'Bill the customer', config: { schema_id: childId, mode: 'fire' }, position: { x: 300, y: 0 } },
        { id: 'approval', type: 'wait', name: 'Manager approval', config: { instructions: 'Approve?' }, position: { x: 600, y: 0 } },
      ],
      edges: [
        { id: 'e1', source: 'start', target: 'bill', source_port: 'out' },
        { id: 'e2', source: 'bill', target: 'approval', source_port: 'out' },
      ],
      variables: {},
    });
    const parentId = idOf();
    const started = await apiCall('POST', `/schemas/${parentId}/execute/`, { payload: { order: 1 } });
    assert(started.status === 202, `parent started (${started.status}: ${JSON.stringify(started.body)})`);
    await waitStatus(started.body.id, ['paused']);
    await page.goto(`${origin()}/executions?schema=${parentId}`);
    const row = page.locator(tid(`execution-row-${started.body.id}`));
    await row.waitFor();
    const text = await row.textContent();
    assert(text.includes('wait at Manager approval') && !text.includes('wait at approval'), `the list names the waiting node: ${text}`);
    await shot('60-executions-list-waits-at-node-name');
    await audit('executions list with names');
    const children = await apiCall('GET', `/executions/?parent=${started.body.id}`);
    const child = children.body.results[0];
    assert(child, 'the call started a child run');
    await page.goto(`${origin()}/executions/${child.id}`);
    await page.locator(tid('parent-link')).waitFor();
    const link = await page.locator(tid('parent-link')).textContent();
    assert(link.includes('started by Bill the customer'), `the child names the node that started it: ${link}`);
    await page.locator(tid('node-done')).waitFor(); // its own graph drawn (the shot shows the whole page)
    await shot('61-child-run-started-by-node-name');
    await audit('child execution');
    await apiCall('POST', `/executions/${started.body.id}/cancel/`);
  });

  test('canvas: pasted nodes land in view (under the mouse or mid-view) and are selected', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    try {
      await importDefinition(`E2E paste in view ${stamp}`, {
        nodes: [
          { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
          { id: 'note', type: 'log', name: 'Write it down', config: { level: 'info', message: 'hello' }, position: { x: 300, y: 0 } },
        ],
        edges: [{ id: 'e1', source: 'start', target: 'note', source_port: 'out' }],
        variables: {},
      });
      await selectNode('note');
      await page.locator(`${tid('node-note')} .flow-node-head`).click();
      await page.keyboard.press('Control+c');
      // Pan far away from the originals: drag the empty pane.
      const canvas = await page.locator(tid('canvas')).boundingBox();
      await page.mouse.move(canvas.x + canvas.width - 60, canvas.y + canvas.height / 2);
      await page.mouse.down();
      await page.mouse.move(canvas.x + 60, canvas.y + 40, { steps: 10 });
      await page.mouse.up();
      await page.mouse.move(canvas.x + canvas.width - 60, canvas.y + canvas.height / 2);
      await page.mouse.down();
      await page.mouse.move(canvas.x + 60, canvas.y + 40, { steps: 10 });
      await page.mouse.up();
      assert((await page.locator(tid('node-note')).count()) === 0 || !(await inView('note', canvas)), 'the originals are out of view');
      // The mouse off the canvas (on the toolbar): the copy lands mid-view.
      await page.mouse.move(canvas.x + canvas.width / 2, Math.max(5, canvas.y - 30));
      await page.keyboard.press('Control+v');
      await page.locator(tid('node-note_2')).waitFor();
      const mid = await page.locator(tid('node-note_2')).boundingBox();
      assert(await inView('note_2', canvas), `the pasted node is in view: ${JSON.stringify(mid)} in ${JSON.stringify(canvas)}`);
      const dx = mid.x + mid.width / 2 - (canvas.x + canvas.width / 2);
      const dy = mid.y + mid.height / 2 - (canvas.y + canvas.height / 2);
      assert(Math.abs(dx) < 80 && Math.abs(dy) < 80, `mid-view (off by ${dx}, ${dy})`);
      const selected = await page.locator('.react-flow__node.selected').evaluateAll((els) => els.map((e) => e.querySelector('[data-testid^="node-"]')?.dataset.testid));
      assert(JSON.stringify(selected) === JSON.stringify(['node-note_2']), `only the pasted node is selected: ${selected}`);
      await shot('62-pasted-mid-view');
      // The mouse over the canvas: the copy lands under it.
      // Away from the first copy (a paste never covers a node: it would step aside).
      const at = { x: canvas.x + 170, y: canvas.y + 110 };
      await page.mouse.move(at.x, at.y);
      await page.keyboard.press('Control+v');
      await page.locator(tid('node-note_3')).waitFor();
      const under = await page.locator(tid('node-note_3')).boundingBox();
      const ux = under.x + under.width / 2 - at.x;
      const uy = under.y + under.height / 2 - at.y;
      assert(Math.abs(ux) < 80 && Math.abs(uy) < 80, `under the mouse (off by ${ux}, ${uy})`);
      assert((await page.locator(`.react-flow__node.selected ${tid('node-note_3')}`).count()) === 1, 'the new copy is selected');
      await shot('63-pasted-under-the-mouse');
      await audit('editor after paste');
    } finally {
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  async function inView(id, canvas) {
    const b = await page.locator(tid(`node-${id}`)).boundingBox();
    return !!b && b.x >= canvas.x && b.y >= canvas.y && b.x + b.width <= canvas.x + canvas.width && b.y + b.height <= canvas.y + canvas.height;
  }

  test('data: pin any node, then run to here: pinned nodes do not run, nothing after the node runs', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    const asked = [];
    const answer = (d) => {
      asked.push(d.message());
      void d.dismiss();
    };
    try {
      await importDefinition(`E2E run to here ${stamp}`, {
        nodes: [
          { id: 'start', type: 'manual_trigger', name: 'Orders arrive', config: {}, position: { x: 0, y: 0 } },
          { id: 'count', type: 'set', name: 'Count orders', config: { assignments: [{ name: 'count', value: '{{ trigger.orders | length }}' }] }, position: { x: 280, y: 0 } },
          { id: 'call', type: 'http_request', name: 'Call the API', config: { method: 'GET', url: 'http://127.0.0.1:9/orders' }, position: { x: 560, y: 0 } },
          { id: 'shape', type: 'set', name: 'Shape the answer', config: { assignments: [{ name: 'summary', value: '{{ vars.count }} orders, status {{ input.status }}' }] }, position: { x: 840, y: 0 } },
          { id: 'notify', type: 'http_request', name: 'Notify', config: { method: 'POST', url: 'http://127.0.0.1:9/notify' }, position: { x: 1120, y: 0 } },
        ],
        edges: [
          { id: 'e1', source: 'start', target: 'count', source_port: 'out' },
          { id: 'e2', source: 'count', target: 'call', source_port: 'out' },
          { id: 'e3', source: 'call', target: 'shape', source_port: 'out' },
          { id: 'e4', source: 'shape', target: 'notify', source_port: 'out' },
        ],
        variables: {},
      });
      const id = idOf();
      // From here on, a confirm() is recorded and declined (after the import: leaving the last
      // test's unsaved draft must still be accepted).
      page.removeAllListeners('dialog');
      page.on('dialog', answer);
      // The trigger's payload, pinned.
      await selectNode('start');
      await page.locator(tid('edit-input')).click();
      await page.locator(tid('test-input')).fill('{"orders": [{"id": 1}, {"id": 2}, {"id": 3}]}');
      await page.locator(tid('pin')).click();
      await page.locator(tid('pinned-badge')).waitFor();
      // The HTTP call's answer, pinned: it never has to run in a test.
      await selectNode('call');
      await page.locator(tid('edit-pin')).click();
      await page.locator(tid('pin-text')).fill('{"status": 201, "body": {"id": 7}}');
      await page.locator(tid('pin-edited')).click();
      await page.locator(tid('output-pinned-badge')).waitFor();
      await page.locator(tid('pin-mark-call')).waitFor();
      await shot('64-pinned-http-output-1280');

      await selectNode('shape');
      await page.locator(tid('run-to-here')).click();
      await page.locator(tid('walk-summary')).waitFor();
      assert(asked.length === 0, `nothing asked: the only side effect on the way is pinned, the one after is not run (${asked})`);
      assert((await page.locator(tid('walk-summary')).getAttribute('data-status')) === 'success', await page.locator(tid('walk-summary')).textContent());
      assert((await page.locator(tid('walk-summary')).textContent()).includes('Ran up to Shape the answer: 2 nodes ran, 2 pinned'), await page.locator(tid('walk-summary')).textContent());
      const statuses = {};
      for (const n of ['start', 'count', 'call', 'shape', 'notify']) statuses[n] = await page.locator(tid(`node-${n}`)).getAttribute('data-status');
      assert(JSON.stringify(statuses) === JSON.stringify({ start: 'success', count: 'success', call: 'success', shape: 'success', notify: '' }), `canvas coloured by the walk: ${JSON.stringify(statuses)}`);
      const out = await page.locator(tid('walk-output')).textContent();
      assert(out.includes('3 orders, status 201'), `the node's output used the pins: ${out}`);
      // The field's live preview now reads the walk's data too (its vars and the pinned input).
      await page
        .waitForFunction(() => /3 orders, status 201/.test(document.querySelector('[data-testid="preview-field-config.assignments[0].value"]')?.textContent ?? ''), null, { timeout: 5000 })
        .catch(() => undefined);
      const preview = await page.locator(tid('preview-field-config.assignments[0].value')).textContent();
      assert(preview.includes('3 orders, status 201'), `the preview agrees with the walk: ${preview}`);
      await shot('65-run-to-here-1280');
      await audit('run to here');
      await page.setViewportSize({ width: 1920, height: 1080 });
      await page.waitForTimeout(200);
      await shot('65-run-to-here-1920');
      await page.setViewportSize({ width: 1280, height: 800 });
      // Each node's data of the walk is in the panes.
      await selectNode('count');
      assert((await page.locator(tid('walk-step-status')).textContent()).includes('success'), 'count ran in the walk');
      assert((await page.locator(tid('walk-output')).textContent()).includes('3'), 'with its output');
      await selectNode('call');
      assert((await page.locator(tid('walk-step-status')).textContent()) === 'pinned', 'the call gave its pin');
      await selectNode('notify');
      assert((await page.locator(tid('data-not-run')).textContent()).includes('did not run in this test run'), 'the node after did not run');
      assert((await page.locator(tid('input-data')).textContent()).includes('3 orders, status 201'), 'its input is what the walk would give it');
      await shot('66-run-to-here-node-after-1280');
      const executions = await apiCall('GET', `/executions/?schema=${id}`);
      assert(executions.body.results.length === 0, 'a test run is not an execution');

      // Saved with the draft; a production run ignores every pin (the call runs for real and is refused).
      await page.locator(tid('save')).click();
      await page.locator(tid('notice')).filter({ hasText: 'Saved' }).waitFor();
      const saved = await apiCall('GET', `/schemas/${id}/`);
      const call = saved.body.definition.nodes.find((n) => n.id === 'call');
      assert(call.pinned_data?.status === 201, 'the pin is saved with the draft');
      const prod = await apiCall('POST', `/schemas/${id}/execute/`, { payload: { orders: [{ id: 9 }] } });
      await waitStatus(prod.body.id, ['completed', 'failed']);
      const steps = (await apiCall('GET', `/executions/${prod.body.id}/steps/`)).body;
      assert(JSON.stringify(steps[0].output) === JSON.stringify({ orders: [{ id: 9 }] }), 'production used the real payload');
      const callStep = steps.find((s) => s.node_id === 'call');
      assert(callStep && callStep.status === 'failed', `production ran the call for real (refused): ${JSON.stringify(callStep)}`);

      // Unpinned, the call is a side effect on the way: asked first; declined, nothing runs.
      await page.locator(tid('close-walk')).click();
      await selectNode('call');
      await page.locator(tid('unpin-output')).click();
      assert((await page.locator(tid('pin-mark-call')).count()) === 0, 'unpinned');
      await selectNode('shape');
      await page.locator(tid('run-to-here')).click();
      for (let i = 0; i < 30 && !asked.length; i++) await page.waitForTimeout(100);
      assert(asked.length === 1 && asked[0].includes('Call the API has side effects'), `asked before acting: ${asked}`);
      assert((await page.locator(tid('walk-summary')).count()) === 0, 'declined: nothing ran');
    } finally {
      page.removeAllListeners('dialog');
      page.on('dialog', (d) => void d.accept());
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  test('canvas: sticky notes are typed in, moved, resized, saved with the schema and never run', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    try {
      await importDefinition(`E2E notes ${stamp}`, {
        nodes: [
          { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
          { id: 'done', type: 'end', name: 'Done', config: {}, position: { x: 300, y: 0 } },
        ],
        edges: [{ id: 'e1', source: 'start', target: 'done', source_port: 'out' }],
        variables: {},
      });
      const id = idOf();
      await page.locator(tid('add-note')).click();
      const note = page.locator(tid('note-note'));
      await note.waitFor();
      await page.waitForTimeout(300); // the view pans to it when the free spot is at the edge
      const canvas = await page.locator(tid('canvas')).boundingBox();
      const nb = await note.boundingBox();
      assert(nb.x >= canvas.x && nb.y >= canvas.y && nb.x + nb.width <= canvas.x + canvas.width && nb.y + nb.height <= canvas.y + canvas.height, `the note lands in view: ${JSON.stringify(nb)}`);
      await page.locator(tid('note-text-note')).fill('Ask finance before changing the URL.\nOwner: Ada');
      // Move it by its edge.
      const before = await note.boundingBox();
      const grip = await page.locator(`${tid('note-note')} .note-grip`).boundingBox();
      await page.mouse.move(grip.x + grip.width / 2, grip.y + grip.height / 2);
      await page.mouse.down();
      await page.mouse.move(grip.x + grip.width / 2 + 40, grip.y + grip.height / 2 + 60, { steps: 8 });
      await page.mouse.up();
      const moved = await note.boundingBox();
      assert(moved.y - before.y > 40, `the note moved (${before.y} → ${moved.y})`);
      // Resize it from its bottom-right corner (the handles show while it is selected).
      await page.locator(`${tid('note-note')} .note-grip`).click();
      const handle = page.locator('.react-flow__node-note .react-flow__resize-control.handle.bottom.right');
      await handle.waitFor();
      const hb = await handle.boundingBox();
      await page.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2);
      await page.mouse.down();
      await page.mouse.move(hb.x + 80, hb.y + 50, { steps: 8 });
      await page.mouse.up();
      const resized = await note.boundingBox();
      assert(resized.width - moved.width > 40 && resized.height - moved.height > 20, `the note grew (${moved.width}×${moved.height} → ${resized.width}×${resized.height})`);
      await shot('67-sticky-note-1280');
      await audit('editor with a sticky note');
      await page.setViewportSize({ width: 1920, height: 1080 });
      await page.waitForTimeout(200);
      await shot('67-sticky-note-1920');
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.locator(tid('save')).click();
      await page.locator(tid('notice')).filter({ hasText: 'Saved' }).waitFor();
      const saved = (await apiCall('GET', `/schemas/${id}/`)).body;
      assert(saved.problems.length === 0, `a note is never a problem: ${JSON.stringify(saved.problems)}`);
      const [n] = saved.definition.notes;
      assert(n.text === 'Ask finance before changing the URL.\nOwner: Ada' && n.width > 280 && n.height > 150, `saved: ${JSON.stringify(n)}`);
      // Back after a reload, with its text.
      await page.reload();
      await page.locator(tid('note-text-note')).waitFor();
      assert((await page.locator(tid('note-text-note')).inputValue()).startsWith('Ask finance'), 'the note is back after a reload');
      // A run executes the nodes only, and shows the note read-only.
      const run = await apiCall('POST', `/schemas/${id}/execute/`, { payload: {} });
      const ex = await waitStatus(run.body.id, ['completed', 'failed']);
      assert(ex.status === 'completed', `the run completed: ${ex.status}`);
      const steps = (await apiCall('GET', `/executions/${run.body.id}/steps/`)).body;
      assert(JSON.stringify(steps.map((x) => x.node_id)) === JSON.stringify(['start', 'done']), `only nodes ran: ${steps.map((x) => x.node_id)}`);
      await page.goto(`${origin()}/executions/${run.body.id}`);
      await page.locator(tid('note-note')).waitFor();
      assert((await page.locator(`${tid('note-note')} textarea`).count()) === 0, 'read-only on the execution view');
      await shot('68-sticky-note-on-the-execution-view-1280');
      await audit('execution with a sticky note');
      // Deleted like a node.
      await page.goBack();
      await page.locator(tid('note-note')).waitFor();
      await page.locator(`${tid('note-note')} .note-grip`).click();
      await page.keyboard.press('Delete');
      await page.waitForFunction(() => !document.querySelector('[data-testid="note-note"]'));
      await page.locator(tid('undo')).click();
      await page.locator(tid('note-note')).waitFor();
    } finally {
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });
}
