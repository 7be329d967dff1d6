/**
 * e2e tests of the editor's canvas and history (issue 21 items 4–6): ELK auto-layout of branches,
 * merges and for_each, the version history panel, node names where users read. Registered from
 * authoring.mjs with the suite's page and helpers.
 */
export function register(h) {
  const { test, page, tid, shot, assert, apiCall, importDefinition, selectNode, audit, stamp } = h;

  async function canvasZoom() {
    const t = await page.locator('.react-flow__viewport').evaluate((el) => el.style.transform);
    const m = /scale\(([\d.]+)\)/.exec(t);
    assert(m, `the canvas has a zoom (${t})`);
    return Number(m[1]);
  }

  /** Boxes of every canvas node, by id (screen pixels). */
  async function nodeBoxes() {
    return page.evaluate(() =>
      Object.fromEntries(
        [...document.querySelectorAll('[data-testid^="node-"].flow-node')].map((el) => {
          const r = el.getBoundingClientRect();
          return [el.dataset.testid.slice(5), { x: r.x, y: r.y, width: r.width, height: r.height }];
        }),
      ),
    );
  }

  /** A trigger, a switch with three branches (one through a for_each), two joining at a merge. All piled at (0, 0). */
  const branchy = () => {
    const at = { x: 0, y: 0 };
    return {
      nodes: [
        { id: 'start', type: 'manual_trigger', name: 'Orders arrive', config: {}, position: at },
        {
          id: 'route',
          type: 'switch',
          name: 'Route by size',
          config: { value: '{{ trigger.size }}', cases: [{ port: 'small', value: 'small' }, { port: 'big', value: 'big' }] },
          position: at,
        },
        { id: 'small_log', type: 'log', name: 'Small order', config: { message: 'small' }, position: at },
        { id: 'each', type: 'for_each', name: 'Each order', config: { items: '{{ trigger.items }}', schema_id: '00000000-0000-0000-0000-000000000000' }, position: at },
        { id: 'big_log', type: 'log', name: 'Big order', config: { message: 'big' }, position: at },
        { id: 'other', type: 'log', name: 'Neither', config: { message: 'neither' }, position: at },
        { id: 'join', type: 'merge', name: 'Join branches', config: {}, position: at },
        { id: 'done', type: 'end', name: 'Done', config: {}, position: at },
      ],
      edges: [
        { id: 'e1', source: 'start', target: 'route', source_port: 'out' },
        { id: 'e2', source: 'route', target: 'small_log', source_port: 'small' },
        { id: 'e3', source: 'route', target: 'each', source_port: 'big' },
        { id: 'e4', source: 'each', target: 'big_log', source_port: 'out' },
        { id: 'e5', source: 'route', target: 'other', source_port: 'default' },
        { id: 'e6', source: 'small_log', target: 'join', source_port: 'out' },
        { id: 'e7', source: 'big_log', target: 'join', source_port: 'out' },
        { id: 'e8', source: 'join', target: 'done', source_port: 'out' },
      ],
      variables: {},
    };
  };

  test('canvas: "Fit view" fits a small graph at 100 %, not blown up to 2×', async () => {
    await importDefinition(`E2E fit ${stamp}`, {
      nodes: [
        { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
        { id: 'note_it', type: 'log', name: 'Note it', config: { message: 'hi' }, position: { x: 300, y: 0 } },
      ],
      edges: [{ id: 'e1', source: 'start', target: 'note_it', source_port: 'out' }],
      variables: {},
    });
    await page.locator(tid('node-note_it')).waitFor();
    await page.locator('.react-flow__controls-zoomout').click();
    await page.locator('.react-flow__controls-zoomout').click();
    await page.locator('.react-flow__controls-fitview').click();
    await page.waitForTimeout(400);
    // React Flow's own fit zoomed two nodes up to 2×.
    assert(Math.abs((await canvasZoom()) - 1) < 0.01, `two nodes are fitted at 100 % (${await canvasZoom()})`);
    const canvas = await page.locator(tid('canvas')).boundingBox();
    for (const box of Object.values(await nodeBoxes()))
      assert(box.x >= canvas.x && box.x + box.width <= canvas.x + canvas.width, 'both nodes are in view');
  });

  test('canvas: ELK auto-layout untangles branches, a merge and a for_each, at a readable zoom, minimap clear', async () => {
    await importDefinition(`E2E branchy ${stamp}`, branchy());
    await page.locator(tid('node-done')).waitFor();
    // Where each node sits on the canvas (flow coordinates, whatever the zoom).
    const flowPositions = () =>
      page.evaluate(() =>
        Object.fromEntries([...document.querySelectorAll('.react-flow__node')].map((el) => [el.getAttribute('data-id'), el.style.transform])),
      );
    const opened = await flowPositions();
    // Every node of the import sits at (0, 0): the editor opens them spread out, one spot each.
    assert(new Set(Object.values(opened)).size === Object.keys(opened).length, `a piled definition opens spread out: ${JSON.stringify(opened)}`);
    await page.locator(tid('auto-layout')).click();
    await page.waitForTimeout(600);
    assert(JSON.stringify(await flowPositions()) !== JSON.stringify(opened), 'Auto-layout moves the nodes');
    await page.locator(tid('undo')).click();
    await page.waitForTimeout(200);
    assert(JSON.stringify(await flowPositions()) === JSON.stringify(opened), 'Undo puts the nodes back where they were');
    for (const width of [1024, 1280, 1920]) {
      await page.setViewportSize({ width, height: 800 });
      try {
        await page.locator(tid('node-done')).waitFor();
        await page.locator(tid('auto-layout')).click();
        await page.waitForTimeout(600);
        const zoom = await canvasZoom();
        assert(zoom >= 0.7, `${width}: readable zoom after Auto-layout (${zoom.toFixed(2)})`);
        const b = await nodeBoxes();
        const ids = Object.keys(b);
        for (let i = 0; i < ids.length; i++)
          for (let j = i + 1; j < ids.length; j++) {
            const p = b[ids[i]];
            const q = b[ids[j]];
            const hit = p.x < q.x + q.width && q.x < p.x + p.width && p.y < q.y + q.height && q.y < p.y + p.height;
            assert(!hit, `${width}: ${ids[i]} and ${ids[j]} do not overlap`);
          }
        for (const e of branchy().edges) assert(b[e.target].x > b[e.source].x + b[e.source].width, `${width}: ${e.source} → ${e.target} runs left to right`);
        // The switch's ports in order, top to bottom: small, big, default.
        assert(b.small_log.y < b.each.y && b.each.y < b.other.y, `${width}: branches leave in port order`);
        // The merge sits after the longer (for_each) branch.
        assert(b.join.x > b.big_log.x, `${width}: the merge waits for the longer branch`);
        const canvas = await page.locator(tid('canvas')).boundingBox();
        const map = page.locator('.react-flow__minimap');
        if (await map.isVisible()) {
          const m = await map.boundingBox();
          assert((m.width * m.height) / (canvas.width * canvas.height) <= 0.06, `${width}: the minimap keeps to a small corner`);
        }
        await shot(`40-elk-layout-branches-${width}`);
      } finally {
        await page.setViewportSize({ width: 1440, height: 900 });
      }
    }
  });

  test('versions: history says who saved each version and what changed; restore makes a new version', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    try {
      await importDefinition(`E2E versions ${stamp}`, {
        nodes: [
          { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
          { id: 'note', type: 'log', name: 'Note it', config: { message: 'first words' }, position: { x: 300, y: 0 } },
          { id: 'done', type: 'end', name: 'Done', config: {}, position: { x: 600, y: 0 } },
        ],
        edges: [
          { id: 'e1', source: 'start', target: 'note', source_port: 'out' },
          { id: 'e2', source: 'note', target: 'done', source_port: 'out' },
        ],
        variables: {},
      });
      const id = page.url().split('/').pop();
      await selectNode('note');
      await page.locator(tid('field-config.message')).fill('second words');
      await page.locator(tid('save')).click();
      await page.locator(tid('notice')).filter({ hasText: 'version 2' }).waitFor();

      await page.locator(tid('history')).click();
      await page.locator(tid('version-history')).waitFor();
      await page.locator(tid('version-2')).filter({ hasText: 'current' }).waitFor();
      assert((await page.locator(tid('version-1')).textContent()).includes('demo@schema.local'), 'each version says who saved it');
      // v1 is picked first, compared with the current version: the message changed.
      const change = page.locator(tid('diff-node-note'));
      await change.waitFor();
      const text = await change.textContent();
      assert(text.includes('Note it') && text.includes('config.message') && text.includes('first words') && text.includes('second words'), `the diff names the node and the field: ${text}`);
      await shot('41-version-history-1280');
      await audit('version history');

      await page.locator(tid('restore-version')).click();
      await page.locator(tid('notice')).filter({ hasText: 'Restored version 1 as version 3' }).waitFor();
      assert((await page.locator(tid('dirty')).count()) === 0, 'the restored version is saved, nothing left unsaved');
      await selectNode('note');
      assert((await page.locator(tid('field-config.message')).textContent()).includes('first words'), 'the editor shows the restored definition');
      const versions = (await apiCall('GET', `/schemas/${id}/versions/`)).body;
      assert(JSON.stringify(versions.map((v) => v.version)) === '[3,2,1]', `history is kept: ${versions.map((v) => v.version)}`);
      assert(versions[0].definition.nodes[1].config.message === 'first words', 'version 3 holds version 1\'s definition');
      await shot('42-version-restored-1280');
    } finally {
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  test('names: errors, steps and unfinished-draft problems name nodes as users called them, not by id', async () => {
    await importDefinition(`E2E names ${stamp}`, {
      nodes: [
        { id: 'start', type: 'manual_trigger', name: 'Orders arrive', config: {}, position: { x: 0, y: 0 } },
        { id: 'stop_1', type: 'fail', name: 'Stop here', config: { message: 'no stock' }, position: { x: 300, y: 0 } },
      ],
      edges: [{ id: 'e1', source: 'start', target: 'stop_1', source_port: 'out' }],
      variables: {},
    });
    const id = page.url().split('/').pop();
    const started = await apiCall('POST', `/schemas/${id}/execute/`, { payload: {} });
    assert(started.status === 202, `run started (${started.status})`);
    await page.goto(page.url().replace(/\/schemas\/.*/, `/executions/${started.body.id}`));
    await page.locator(tid('execution-error')).waitFor({ timeout: 30000 });
    const error = await page.locator(tid('execution-error')).textContent();
    assert(error.includes('no stock') && !error.includes('stop_1'), `the execution error is the node's message, no id: ${error}`);
    await page.locator(tid('step-name-stop_1')).filter({ hasText: 'Stop here' }).waitFor(); // the step list names it
    await shot('43-execution-error-named');

    // The editor: a node not connected yet is named in what is left to do.
    await page.goto(page.url().replace(/\/executions\/.*/, `/schemas/${id}`));
    await page.locator(tid('editor')).waitFor();
    await page.locator(tid('palette-log')).focus();
    await page.keyboard.press('Enter'); // nothing selected: a lone node
    await page.locator(tid('node-name')).fill('Lonely note');
    await page.locator(tid('save')).click();
    await page.locator(tid('notice')).filter({ hasText: 'Saved as a draft' }).waitFor();
    const problems = await page.locator(tid('node-errors-log')).textContent();
    assert(problems.includes('“Lonely note”') && !problems.includes("'log'"), `the problem names the node: ${problems}`);
    await shot('44-draft-problem-named');
  });

  test('canvas: "+" on an output port adds a joined node; several nodes move together and paste into another schema', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    try {
      await importDefinition(`E2E plus ${stamp}`, {
        nodes: [
          { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
          { id: 'check', type: 'condition', name: 'Big order?', config: { expression: '{{ trigger.n > 3 }}' }, position: { x: 300, y: 0 } },
        ],
        edges: [{ id: 'e1', source: 'start', target: 'check', source_port: 'out' }],
        variables: {},
      });
      await selectNode('check');
      await page.locator(tid('add-after-check-false')).click();
      await page.locator(tid('add-after-dialog')).waitFor();
      const focused = await page.evaluate(() => document.activeElement?.getAttribute('aria-label'));
      assert(focused === 'Search nodes', `the palette opens on its search (focused: ${focused})`);
      assert((await page.locator(`${tid('add-after-dialog')} ${tid('palette-manual_trigger')}`).count()) === 0, 'no trigger is offered after a node');
      await shot('45-add-after-port-palette');
      await page.keyboard.type('log');
      await page.locator(`${tid('add-after-dialog')} ${tid('palette-log')}`).click();
      await page.waitForFunction(() => document.querySelector('[data-testid="node-id"]')?.value === 'log');
      // Connections and ports are read out by the names users gave, not by node id.
      await page.locator('[aria-label="Connection from Big order? (false) to Log"]').waitFor();
      const portTitle = await page.locator(tid('handle-check-false')).getAttribute('title');
      assert(portTitle === 'Big order?: output “false”', `the port's tooltip names the node: ${portTitle}`);
      assert((await page.locator(tid('handle-log-in')).getAttribute('title')) === 'Log: input', 'the input too');
      assert((await page.locator(`${tid('canvas')} [aria-label*="check"], ${tid('canvas')} [title*="check"]`).count()) === 0, 'no label or tooltip on the canvas says the id');
      // The new node is drawn, then measured and placed: read its box once it has settled.
      let b = await nodeBoxesOf(['check', 'log', 'start']);
      for (let i = 0; i < 30 && !(b.log.x > b.check.x + b.check.width); i++) {
        await page.waitForTimeout(100);
        b = await nodeBoxesOf(['check', 'log', 'start']);
      }
      assert(b.log.x > b.check.x + b.check.width, `the new node sits right of the port it joins: ${JSON.stringify(b)}`);
      await shot('46-add-after-port-joined');

      // Select both with Ctrl+click; a drag moves both.
      await page.locator(`${tid('node-check')} .flow-node-head`).click();
      await page.locator(`${tid('node-log')} .flow-node-head`).click({ modifiers: ['Control'] });
      assert((await page.locator('.react-flow__node.selected').count()) === 2, 'two nodes selected');
      await page.waitForTimeout(300); // the view has finished panning to the new node
      const pre = await nodeBoxesOf(['check', 'log', 'start']);
      const head = await page.locator(`${tid('node-check')} .flow-node-name`).boundingBox();
      await page.mouse.move(head.x + 10, head.y + 5);
      await page.mouse.down();
      await page.mouse.move(head.x + 20, head.y + 30, { steps: 4 });
      await page.mouse.move(head.x + 50, head.y + 85, { steps: 8 });
      await page.mouse.up();
      await page.waitForTimeout(200);
      const post = await nodeBoxesOf(['check', 'log', 'start']);
      const dy = (id) => post[id].y - pre[id].y;
      assert(dy('check') > 40 && Math.abs(dy('check') - dy('log')) < 2, `both selected nodes moved together (${dy('check')}, ${dy('log')})`);
      assert(Math.abs(dy('start')) < 1, 'the unselected node stayed');
      await page.keyboard.press('Control+c');

      // Another schema: paste them, joined as they were.
      await importDefinition(`E2E paste ${stamp}`, {
        nodes: [{ id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } }],
        edges: [],
        variables: {},
      });
      await page.locator(`${tid('node-start')} .flow-node-head`).click();
      await page.keyboard.press('Control+v');
      await page.locator(tid('node-check')).waitFor();
      await page.locator(tid('node-log')).waitFor();
      await page.locator('[aria-label="Connection from Big order? (false) to Log"]').waitFor();
      assert((await page.locator('.react-flow__node.selected').count()) === 2, 'the pasted nodes are selected');
      assert((await page.locator(`${tid('node-check')} .flow-node-name`).textContent()) === 'Big order?', 'with their names and settings');
      // Pasting again in the same schema gives free ids.
      await page.keyboard.press('Control+v');
      await page.locator(tid('node-check_2')).waitFor();
      await page.locator(`${tid('node-check_2')} .flow-node-type`).filter({ hasText: 'check_2' }).waitFor(); // the id, for expressions
      assert((await page.locator('[aria-label="Connection from Big order? (false) to Log"]').count()) === 2, 'the copies are joined as the originals');
      await shot('47-pasted-into-another-schema');
      await page.locator(tid('undo')).click();
      assert((await page.locator(tid('node-check_2')).count()) === 0, 'a paste is one undo step');
    } finally {
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  test('run data: "Run this node" on a pinned node shows its pin, "Run anyway" runs it for real, "Run to here" gives the pin', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    const testRuns = [];
    const onRequest = (r) => {
      if (r.url().includes('/test-node/')) testRuns.push(r.url());
    };
    page.on('request', onRequest);
    try {
      await importDefinition(`E2E pinned run ${stamp}`, {
        nodes: [
          { id: 'start', type: 'manual_trigger', name: 'Orders arrive', config: {}, position: { x: 0, y: 0 }, pinned_data: { orders: 3 } },
          { id: 'say', type: 'log', name: 'Say the count', config: { message: 'orders: {{ trigger.orders }}' }, position: { x: 300, y: 0 }, pinned_data: { message: 'pinned words' } },
          { id: 'done', type: 'end', name: 'Done', config: {}, position: { x: 600, y: 0 } },
        ],
        edges: [
          { id: 'e1', source: 'start', target: 'say', source_port: 'out' },
          { id: 'e2', source: 'say', target: 'done', source_port: 'out' },
        ],
        variables: {},
      });
      await selectNode('say');
      await page.locator(tid('output-pinned-badge')).waitFor();
      await page.locator(tid('run-node')).click();
      const note = page.locator(tid('pinned-run-note'));
      await note.waitFor();
      assert((await note.textContent()).includes('Pinned data — unpin to run this node for real'), await note.textContent());
      assert((await page.locator(tid('pinned-output')).textContent()).includes('pinned words'), 'the output shown is the pin');
      await page.waitForTimeout(300);
      assert(testRuns.length === 0 && (await page.locator(tid('test-result')).count()) === 0, `a pinned node does not run (${testRuns.length} test runs)`);
      await shot('50-run-this-node-pinned-1280');
      await audit('run this node on a pinned node');

      await page.locator(tid('run-anyway')).click();
      await page.locator(tid('test-result')).waitFor();
      assert(testRuns.length === 1, `"Run anyway" is one test run on the server (${testRuns.length})`);
      assert((await page.locator(tid('test-result')).getAttribute('data-status')) === 'success', 'it ran');
      const ran = await page.locator(tid('test-output')).textContent();
      assert(ran.includes('orders: 3') && !ran.includes('pinned words'), `its real output, from the trigger's pin: ${ran}`);
      assert((await page.locator(tid('pinned-run-note')).count()) === 0, 'the note is gone with the real result');
      await shot('51-run-anyway-ignores-pin-1280');
      await page.locator(tid('close-test-result')).click();

      // "Run to here" walks past pinned nodes with their pins (the server's rule, kept).
      await selectNode('done');
      await page.locator(tid('run-to-here')).click();
      const summary = page.locator(tid('walk-summary'));
      await summary.waitFor();
      assert((await summary.textContent()).includes('1 node ran, 2 pinned'), await summary.textContent());
      assert((await page.locator(tid('input-data')).textContent()).includes('pinned words'), 'the node after gets the pin as its input');
      await selectNode('say');
      assert((await page.locator(tid('walk-step-status')).textContent()) === 'pinned', 'the pinned node gave its pin');
      assert(testRuns.length === 1, 'run to here is no "Run this node"');
    } finally {
      page.off('request', onRequest);
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  /** Flow coordinates (whatever the zoom) of canvas items, by id: nodes and sticky notes alike. */
  async function flowXY(ids) {
    return page.evaluate(
      (ids) =>
        Object.fromEntries(
          ids.map((id) => {
            const m = /translate\(([-\d.]+)px, ?([-\d.]+)px\)/.exec(document.querySelector(`.react-flow__node[data-id="${id}"]`)?.style.transform ?? '');
            return [id, m ? { x: Number(m[1]), y: Number(m[2]) } : null];
          }),
        ),
      ids,
    );
  }

  /** Each of `selectors` lies wholly inside the canvas, once the view has panned (200 ms) to a paste. */
  async function assertInView(selectors) {
    await page.waitForTimeout(400);
    const view = await page.locator(tid('canvas')).boundingBox();
    for (const sel of selectors) {
      const b = await page.locator(sel).boundingBox();
      assert(b.x >= view.x && b.y >= view.y && b.x + b.width <= view.x + view.width && b.y + b.height <= view.y + view.height, `${sel} is in view: ${JSON.stringify({ b, view })}`);
    }
  }

  test('canvas: sticky notes travel with copied nodes into another schema; version history shows notes changes', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    try {
      await importDefinition(`E2E copy notes ${stamp}`, {
        nodes: [
          { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
          { id: 'check', type: 'condition', name: 'Big order?', config: { expression: '{{ trigger.n > 3 }}' }, position: { x: 300, y: 0 } },
          { id: 'say', type: 'log', name: 'Say big', config: { message: 'big' }, position: { x: 600, y: 0 } },
        ],
        edges: [
          { id: 'e1', source: 'start', target: 'check', source_port: 'out' },
          { id: 'e2', source: 'check', target: 'say', source_port: 'true' },
        ],
        notes: [
          { id: 'why', text: 'Big orders are logged for finance.', position: { x: 320, y: -190 }, width: 300, height: 120 },
          { id: 'other', text: 'Not copied.', position: { x: -20, y: 180 }, width: 200, height: 90 },
        ],
        variables: {},
      });
      await page.locator(tid('note-why')).waitFor();
      const original = await flowXY(['check', 'say', 'why']);
      // Select two nodes and the note above them (Ctrl+click adds to the selection), copy.
      await page.locator(`${tid('node-check')} .flow-node-head`).click();
      await page.locator(`${tid('node-say')} .flow-node-head`).click({ modifiers: ['Control'] });
      await page.locator(`${tid('note-why')} .note-grip`).click({ modifiers: ['Control'] });
      assert((await page.locator('.react-flow__node.selected').count()) === 3, 'two nodes and a note selected');
      await page.keyboard.press('Control+c');

      await importDefinition(`E2E paste notes ${stamp}`, {
        nodes: [{ id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } }],
        edges: [],
        variables: {},
      });
      await page.locator(`${tid('node-start')} .flow-node-head`).click();
      await page.keyboard.press('Control+v');
      await page.locator(tid('note-why')).waitFor();
      await page.locator(tid('node-say')).waitFor();
      assert((await page.locator(tid('note-other')).count()) === 0, 'only the selected note came along');
      assert((await page.locator(tid('note-text-why')).inputValue()) === 'Big orders are logged for finance.', 'with its text');
      assert((await page.locator('.react-flow__node.selected').count()) === 3, 'the pasted nodes and note are selected');
      const pasted = await flowXY(['check', 'say', 'why']);
      const d = { x: pasted.check.x - original.check.x, y: pasted.check.y - original.check.y };
      for (const id of ['say', 'why'])
        assert(
          Math.abs(pasted[id].x - original[id].x - d.x) < 1 && Math.abs(pasted[id].y - original[id].y - d.y) < 1,
          `${id} landed offset together with the rest: ${JSON.stringify({ original, pasted })}`,
        );
      await assertInView([tid('note-why'), tid('node-check'), tid('node-say')]);
      await shot('48-note-pasted-with-nodes-1280');
      // Pasted again in the same schema: the copy's note gets a free id, and the copies (stepped
      // aside from the first ones) are in view: the canvas pans to them if need be.
      await page.keyboard.press('Control+v');
      await page.locator(tid('note-why_2')).waitFor();
      await assertInView([tid('note-why_2'), tid('node-check_2'), tid('node-say_2')]);
      await shot('48-note-pasted-again-in-view-1280');
      await page.locator(tid('undo')).click();
      await page.waitForFunction(() => !document.querySelector('[data-testid="note-why_2"]'));
      await page.locator(tid('save')).click();
      await page.locator(tid('notice')).filter({ hasText: 'version 2' }).waitFor();
      const id = page.url().split('/').pop();
      const saved = (await apiCall('GET', `/schemas/${id}/`)).body.definition;
      assert(JSON.stringify(saved.notes?.map((n) => n.text)) === '["Big orders are logged for finance."]', `the note is saved with the schema: ${JSON.stringify(saved.notes)}`);

      // Reword the note and add one: the version history says so.
      await page.locator(tid('note-text-why')).fill('Big orders are logged for finance and sales.');
      await page.locator(tid('add-note')).click();
      await page.locator(tid('note-text-note')).fill('Ask Ada about refunds.');
      await page.locator(tid('save')).click();
      await page.locator(tid('notice')).filter({ hasText: 'version 3' }).waitFor();
      await page.locator(tid('history')).click();
      await page.locator(tid('version-history')).waitFor();
      const changed = await page.locator(tid('diff-note-why')).textContent();
      assert(
        changed.includes('changed') && changed.includes('logged for finance.') && changed.includes('finance and sales.'),
        `the reworded note, before and after: ${changed}`,
      );
      const added = await page.locator(tid('diff-note-note')).textContent();
      assert(added.includes('Ask Ada about refunds.') && added.includes('added'), `the new note: ${added}`);
      await shot('49-version-history-notes-1280');
      await audit('version history with notes');
    } finally {
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  async function nodeBoxesOf(ids) {
    const out = {};
    for (const id of ids) out[id] = await page.locator(tid(`node-${id}`)).boundingBox();
    return out;
  }

  /** Frames and input handling from a Chromium performance trace (JSON of browser.stopTracing). */
  function traceFigures(buffer) {
    const events = JSON.parse(buffer.toString()).traceEvents ?? [];
    const frameName = events.some((e) => e.name === 'DrawFrame') ? 'DrawFrame' : 'Commit';
    const frames = events.filter((e) => e.name === frameName).map((e) => e.ts + (e.dur ?? 0)).sort((a, b) => a - b);
    const dispatch = (type) => events.filter((e) => e.name === 'EventDispatch' && e.args?.data?.type === type).sort((a, b) => a.ts - b.ts);
    // Tasks of the renderers' main threads (the page's JavaScript, style, layout, paint).
    const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
    const tasks = events.filter((e) => (e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask') && e.dur && mains.has(`${e.pid}:${e.tid}`)).map((e) => e.dur);
    return { frameName, frames, dispatch, tasks };
  }
  const pct = (xs, p) => (xs.length ? xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] : NaN);

  /** E2E_PROFILE=1: where the time went (self time by function, a CPU profile of the page). */
  async function printProfile(cdp, what) {
    const { profile } = await cdp.send('Profiler.stop');
    const self = new Map();
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    profile.samples.forEach((id, i) => {
      const f = byId.get(id).callFrame;
      const k = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber}`;
      self.set(k, (self.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
    });
    console.log(`    profile of ${what}:\n${[...self].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([k, v]) => `      ${v.toFixed(1)} ms ${k}`).join('\n')}`);
  }

  if (process.env.E2E_PERF)
    test('perf: typing latency and canvas pan frames on a 200-node schema (Chromium trace; reported, not asserted)', async () => {
      const nodes = [{ id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } }];
      const edges = [];
      for (let i = 1; i < 200; i++) {
        nodes.push({ id: `n${i}`, type: 'log', name: `Step ${i}`, config: { message: `step {{ trigger.id }} ${i}` }, position: { x: (i % 20) * 280, y: Math.floor(i / 20) * 130 } });
        edges.push({ id: `e${i}`, source: i === 1 ? 'start' : `n${i - 1}`, target: `n${i}`, source_port: 'out' });
      }
      await page.setViewportSize({ width: 1280, height: 800 });
      const browser = page.context().browser();
      const categories = ['devtools.timeline', 'disabled-by-default-devtools.timeline.frame', 'input', 'toplevel'];
      try {
        await importDefinition(`E2E perf 200 ${stamp}`, { nodes, edges, variables: {} });
        await page.locator(tid('node-n1')).waitFor();
        await selectNode('n1');
        const field = page.locator(tid('field-config.message'));
        await field.click();
        await page.keyboard.press('End');

        // E2E_PERF_THROTTLE=4: Chromium runs the page's main thread 4× slower (a slow laptop, or
        // a loaded machine, reproducibly); 1 by default.
        const throttle = Number(process.env.E2E_PERF_THROTTLE || 1);
        const session = await page.context().newCDPSession(page);
        await session.send('Emulation.setCPUThrottlingRate', { rate: throttle });
        const cdp = process.env.E2E_PROFILE ? session : null;
        if (cdp) await cdp.send('Profiler.enable').then(() => cdp.send('Profiler.start'));
        await browser.startTracing(page, { categories });
        await page.keyboard.type(' {{ nodes.start.output.id }} and more', { delay: 40 });
        await page.waitForTimeout(400); // the commit after the pause is in the trace too
        const typing = traceFigures(await browser.stopTracing());
        const longest = typing.tasks.length ? Math.max(...typing.tasks) / 1000 : NaN;
        if (cdp) await printProfile(cdp, 'typing');
        const keys = typing.dispatch('keydown');
        const lat = keys.map((k) => ((typing.frames.find((f) => f > k.ts) ?? k.ts) - k.ts) / 1000);
        const handler = [...keys, ...typing.dispatch('keypress'), ...typing.dispatch('input')].map((e) => (e.dur ?? 0) / 1000);

        // Pan: one mousemove per animation frame, dispatched in the page (Playwright's own moves
        // arrive every ~40 ms, which caps the frame rate at the input rate, not the editor's).
        // A frame that takes longer than 16.7 ms shows as a longer gap between animation frames.
        const before = await page.locator('.react-flow__viewport').evaluate((el) => el.style.transform);
        if (cdp) await cdp.send('Profiler.start');
        await browser.startTracing(page, { categories });
        const stamps = await page.evaluate(
          () =>
            new Promise((resolve) => {
              const pane = document.querySelector('.react-flow__pane');
              const r = pane.getBoundingClientRect();
              let x = r.left + r.width / 2;
              let y = r.top + r.height / 2;
              const at = (type, target) =>
                target.dispatchEvent(new MouseEvent(type, { bubbles: true, cancelable: true, view: window, clientX: x, clientY: y, button: 0, buttons: 1 }));
              at('mousedown', pane);
              const times = [];
              const step = (t) => {
                times.push(t);
                if (times.length > 120) {
                  at('mouseup', window);
                  resolve(times);
                  return;
                }
                x -= 6;
                y -= 2;
                at('mousemove', window);
                requestAnimationFrame(step);
              };
              requestAnimationFrame(step);
            }),
        );
        const panTrace = await browser.stopTracing();
        if (cdp) await printProfile(cdp, 'pan');
        if (process.env.E2E_TRACE_DIR) (await import('node:fs')).writeFileSync(`${process.env.E2E_TRACE_DIR}/pan-trace.json`, panTrace);
        const pan = traceFigures(panTrace);
        const after = await page.locator('.react-flow__viewport').evaluate((el) => el.style.transform);
        assert(before !== after, `the pan moved the canvas (${before} → ${after})`);
        const gaps = stamps.slice(1).map((t, i) => t - stamps[i]);
        const fps = (stamps.length - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000);
        const panTasks = pan.tasks.map((d) => d / 1000);
        await session.send('Emulation.setCPUThrottlingRate', { rate: 1 });
        await session.detach();
        const load = await import('node:os').then((os) => os.loadavg()[0].toFixed(1));
        const build = await page.evaluate(() => document.querySelector('script[src*="/assets/"]')?.getAttribute('src'));
        console.log(`    perf: measuring the build ${build}`);
        console.log(
          `    perf (200 nodes, 1280x800, CPU throttled ${throttle}×, load average ${load}; shared machine, noisy): typing keydown→next ${typing.frameName}: ` +
            `median ${pct(lat, 0.5).toFixed(1)} ms, p95 ${pct(lat, 0.95).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms over ${lat.length} keys; ` +
            `key/input handlers median ${pct(handler, 0.5).toFixed(1)} ms, max ${Math.max(...handler).toFixed(1)} ms; longest main-thread task while typing ${longest.toFixed(1)} ms; ` +
            `pan (a mousemove per animation frame): ${fps.toFixed(1)} fps over ${gaps.length} frames, frame gap median ${pct(gaps, 0.5).toFixed(1)} ms, ` +
            `p95 ${pct(gaps, 0.95).toFixed(1)} ms, max ${Math.max(...gaps).toFixed(1)} ms; main-thread tasks ${panTasks.length}, median ${pct(panTasks, 0.5).toFixed(1)} ms, ` +
            `p95 ${pct(panTasks, 0.95).toFixed(1)} ms, max ${(panTasks.length ? Math.max(...panTasks) : NaN).toFixed(1)} ms; ${pan.frames.length} ${pan.frameName} in the trace`,
        );
      } finally {
        await page.setViewportSize({ width: 1440, height: 900 });
      }
    });
}
