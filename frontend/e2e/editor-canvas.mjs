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

  test('canvas: ELK auto-layout untangles branches, a merge and a for_each, at a readable zoom, minimap clear', async () => {
    await importDefinition(`E2E branchy ${stamp}`, branchy());
    await page.locator(tid('node-done')).waitFor();
    await page.locator(tid('auto-layout')).click();
    await page.waitForTimeout(600);
    await page.locator(tid('undo')).click();
    const piled = await nodeBoxes();
    assert(Math.abs(piled.start.x - piled.done.x) < 1, 'Undo puts the nodes back where they were');
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
}
