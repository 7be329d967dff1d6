/**
 * e2e tests of credentials and variables (issue 17): a credential is created, shown masked and
 * never sent back by any API answer, tested through the outbound rules, picked in an HTTP
 * request's form, listed with the schema that uses it, and exported by name; a variable is
 * created, changed (its version and who changed it shown), completed as `env.` in an expression
 * field, previewed and read by a run. Registered into the suite of run.mjs.
 */
import { readFileSync } from 'node:fs';

export function register(h) {
  const { test, page, tid, shot, assert, importDefinition, selectNode, runNow, waitExecutionStatus, audit, stamp } = h;
  const origin = () => new URL(page.url()).origin;
  const secret = `e2e-secret-${stamp}-Zq9xWv`;
  const credential = `e2e api ${stamp.slice(11, 19)}`;
  const bodies = [];
  const keep = async (response) => {
    if (!response.url().includes('/api/')) return;
    bodies.push(await response.text().catch(() => ''));
  };

  test('credentials: masked, never sent back, tested, picked in an HTTP request, shown where used, exported by name', async () => {
    page.on('response', keep);
    try {
      await page.goto(`${origin()}/credentials`);
      await page.locator(tid('credential-table')).waitFor();
      await page.locator(tid('new-credential')).click();
      await page.locator(tid('credential-name')).fill(credential);
      await page.locator(tid('credential-type')).selectOption('bearer_token');
      await page.locator(tid('credential-field-token')).fill(secret);
      await page.locator(tid('save-credential')).click();
      const row = page.locator(tid(`credential-row-${credential}`));
      await row.waitFor();
      assert((await page.locator(tid(`credential-hint-${credential}`)).textContent()) === `••••${secret.slice(-4)}`, 'the secret shows as •••• and its last 4 characters');
      assert(!(await page.content()).includes(secret), 'the page does not hold the secret');
      await shot('40-credentials-masked');
      await audit('credentials page');

      // Editing: the secret field is empty (nothing was sent back to fill it) and says it is stored.
      await page.getByRole('button', { name: `Edit ${credential}` }).click();
      await page.locator(tid('credential-dialog')).waitFor();
      const token = page.locator(tid('credential-field-token'));
      assert((await token.inputValue()) === '' && (await token.getAttribute('type')) === 'password', 'the stored secret is not filled in');
      assert((await page.locator(tid('credential-dialog')).textContent()).includes('never shown again'), 'the form says the secret is write-only');
      await shot('41-credential-edit-write-only');
      await audit('credential dialog');
      await page.keyboard.press('Escape');

      // Test: through the same outbound rules as a node (this server is private: refused in plain words).
      await page.locator(tid(`test-credential-${credential}`)).click();
      await page.locator(tid('credential-test-url')).fill(`${origin()}/api/health/live`);
      await page.locator(tid('run-credential-test')).click();
      const result = page.locator(tid('credential-test-result'));
      await result.waitFor();
      const said = await result.textContent();
      assert(/private|not allowed|refused/i.test(said) && !said.includes(secret), `the outbound rules answer in plain words: ${said}`);
      await shot('42-credential-test');
      await page.keyboard.press('Escape');

      // Pick it in an HTTP request's form; the schema then shows under "Used by".
      const schemaName = `e2e uses ${credential}`;
      await importDefinition(schemaName, {
        nodes: [
          { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
          { id: 'call', type: 'http_request', name: 'Call the API', config: { method: 'GET', url: 'https://api.example.com/v1/charges' }, position: { x: 300, y: 0 } },
        ],
        edges: [{ id: 'e1', source: 'start', target: 'call', source_port: 'out' }],
      });
      await selectNode('call');
      const picker = page.locator(tid('field-config.auth.credential'));
      await picker.selectOption(credential);
      await picker.scrollIntoViewIfNeeded();
      await shot('43-credential-picker');
      await page.locator(tid('save')).click();
      await page.locator(tid('notice')).filter({ hasText: 'Saved' }).waitFor();
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator(tid('export')).click()]);
      const exported = readFileSync(await download.path(), 'utf8');
      const call = JSON.parse(exported).definition.nodes.find((n) => n.id === 'call');
      assert(call.config.auth.credential === credential && !exported.includes(secret), `the export names the credential and holds no secret: ${JSON.stringify(call.config.auth)}`);

      // Import the exported file back: it names a credential the user has, so nothing is missing;
      // with the name changed (another user's file), the editor says which one to create.
      const back = JSON.parse(exported);
      await importDefinition(`${schemaName} again`, back.definition);
      const told = (await page.locator(tid('notice')).count()) ? await page.locator(tid('notice')).textContent() : '';
      assert(!/credentials you do not have/.test(told), `the round trip finds the credential by name: ${told}`);
      back.definition.nodes.find((n) => n.id === 'call').config.auth.credential = 'someone elses api';
      await importDefinition(`${schemaName} elsewhere`, back.definition);
      const notice = await page.locator(tid('notice')).textContent();
      assert(notice.includes('credentials you do not have: “someone elses api”'), `the import reports the missing credential: ${notice}`);
      await shot('44-import-missing-credential');

      await page.goto(`${origin()}/credentials`);
      await row.waitFor();
      await row.getByRole('link', { name: schemaName, exact: true }).waitFor();
      await shot('45-credential-where-used');
      assert(bodies.length > 5 && bodies.every((b) => !b.includes(secret)), `no API answer carried the secret (${bodies.length} answers read)`);
    } finally {
      page.off('response', keep);
    }
  });

  test('variables: created, changed, completed as env. in an expression, previewed and read by a run', async () => {
    await page.goto(`${origin()}/variables`);
    await page.locator(tid('variable-table')).waitFor();
    await page.locator(tid('new-variable')).click();
    await page.locator(tid('variable-name')).fill('E2E_GREETING');
    await page.locator(tid('variable-value')).fill('hello');
    await page.locator(tid('variable-description')).fill('made by the e2e suite');
    await page.locator(tid('save-variable')).click();
    await page.locator(tid('variable-row-E2E_GREETING')).waitFor();
    await page.locator(tid('edit-variable-E2E_GREETING')).click();
    await page.locator(tid('variable-value')).fill('hello from env');
    await page.locator(tid('save-variable')).click();
    await page.locator(tid('variable-value-E2E_GREETING')).filter({ hasText: 'hello from env' }).waitFor();
    const updated = await page.locator(tid('variable-updated-E2E_GREETING')).textContent();
    assert(/by \S+@\S+ · version 2/.test(updated), `who changed it and its version are shown: ${updated}`);
    await shot('46-variables');
    await audit('variables page');

    await importDefinition(`e2e env ${stamp.slice(11, 19)}`, {
      nodes: [
        { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
        { id: 'done', type: 'end', name: 'Done', config: { output: '' }, position: { x: 300, y: 0 } },
      ],
      edges: [{ id: 'e1', source: 'start', target: 'done', source_port: 'out' }],
    });
    await selectNode('done');
    const field = page.locator(tid('field-config.output'));
    await field.fill('');
    await field.click();
    await page.keyboard.type('{{ env.');
    const options = page.locator('.cm-tooltip-autocomplete li');
    await options.filter({ hasText: 'E2E_GREETING' }).first().waitFor({ timeout: 5000 }).catch(() => undefined);
    const offered = await options.allTextContents();
    assert(offered.some((o) => o.startsWith('E2E_GREETING')), `env. completes the user's variables (got ${offered.join(', ')})`);
    await shot('47-env-completion');
    await page.keyboard.press('Escape');
    await field.fill('{{ env.E2E_GREETING }}');
    await page.waitForFunction(() => {
      const p = document.querySelector('[data-testid="preview-field-config.output"]');
      return p?.dataset.state === 'value' && p.textContent.includes('hello from env');
    });
    await shot('48-env-preview');
    await page.locator(tid('save')).click();
    await page.locator(tid('notice')).filter({ hasText: 'Saved' }).waitFor();
    await runNow({});
    await waitExecutionStatus('completed');
    assert((await page.locator(tid('execution-result')).textContent()).includes('hello from env'), 'the run read env');
    await shot('49-env-run-result');
  });
}
