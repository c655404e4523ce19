// The dev console in a real browser: headless Debian chromium driven by playwright-core,
// against `api-server --dev` started by run.sh (CONSOLE_BASE_URL). Node's own test runner:
//
//   tests/browser/run.sh
//
// One scenario, step by step (a step is skipped once an earlier one failed): create a user and
// an organization in the emulator, sign in (the token goes into the __session cookie), call the
// API with the cookie alone, edit metadata and watch the webhook bring it to the server, revoke
// the session and see the server refuse it. The screenshot is artifacts/console.png.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
const screenshot = join(artifacts, 'console.png');
const base = process.env.CONSOLE_BASE_URL;
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TIMEOUT_MS = 15_000;

const run = Math.random().toString(36).slice(2, 8);
const email = `console-${run}@example.com`;
const orgName = `Console ${run}`;
const noteTitle = `Note ${run} from the browser`;

let context;
let page;
let profileDir;
let failed = false;
/** Errors the page logged (a CSP refusal among them), not counting failed HTTP statuses. */
const problems = [];
/** The headers of every request the page made to /v1/…. */
const apiRequests = [];
const ids = {};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it answers `{ ok: true }`; fails with the last value seen. */
async function waitFor(what, probe, timeout = TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const { ok, value } = await probe();
    if (ok) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${JSON.stringify(value)}`);
    }
    await sleep(50);
  }
}

const byId = (testId) => page.getByTestId(testId, { exact: true });
const text = async (testId) => ((await byId(testId).textContent()) ?? '').trim();
const attribute = (testId, name) => byId(testId).getAttribute(name);
/** The picked option of a select: `{ value, label }`, read at once. */
const selected = (testId) =>
  page.$eval(`[data-testid="${testId}"]`, (select) => ({
    value: select.value,
    label: select.selectedOptions[0]?.textContent ?? '',
  }));

function waitText(testId, predicate, what) {
  return waitFor(`${testId} ${what}`, async () => {
    const value = await text(testId);
    return { ok: predicate(value), value };
  });
}

function waitAttribute(testId, name, expected) {
  return waitFor(`${testId}[${name}=${expected}]`, async () => {
    const value = await attribute(testId, name);
    return { ok: value === expected, value };
  });
}

/** Clicks a button and waits for the answer to the request it makes to `path`. */
async function clickAndWait(testId, method, path) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === path),
    byId(testId).click(),
  ]);
  return response;
}

function step(name, body) {
  test(name, async (t) => {
    if (failed) {
      t.skip('an earlier step failed');
      return;
    }
    try {
      await body();
    } catch (err) {
      failed = true;
      throw err;
    }
  });
}

before(async () => {
  assert.ok(base, 'CONSOLE_BASE_URL is not set: run tests/browser/run.sh');
  mkdirSync(artifacts, { recursive: true });
  profileDir = mkdtempSync(join(tmpdir(), 'console-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on('console', (message) => {
    // Chromium logs every 4xx/5xx answer as an error; those are expected here (401s).
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith('/v1/')) {
      apiRequests.push(request.allHeaders().then((headers) => ({ path: url.pathname, headers })));
    }
  });
});

after(async () => {
  if (page) {
    await page.screenshot({ path: screenshot, fullPage: true }).catch((err) => {
      console.error(`cannot take the screenshot: ${err.message}`);
    });
    console.log(`screenshot: ${screenshot}`);
  }
  await context?.close().catch(() => {});
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

step('the console loads with the dev users (Ada, Grace)', async () => {
  const response = await page.goto(`${base}/dev/console`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'] ?? '', /script-src 'sha256-/);
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await attribute('console-message', 'data-kind'), 'info', await text('console-message'));
  const users = await page.$$eval('[data-testid="user-select"] option', (options) => options.map((o) => o.textContent));
  assert.ok(users.some((u) => u.includes('ada@example.com')), users.join('\n'));
  assert.ok(users.some((u) => u.includes('grace@example.com')), users.join('\n'));
  assert.equal(await text('session-status'), 'signed out');
});

step('creates a user in the emulator', async () => {
  await byId('new-user-email').fill(email);
  await byId('new-user-first-name').fill('Browser');
  await byId('new-user-last-name').fill(`Tester ${run}`);
  const response = await clickAndWait('create-user', 'POST', '/dev/api/users');
  assert.equal(response.status(), 201);
  ids.user = await waitFor('the new user to be picked', async () => {
    const picked = await selected('user-select');
    return { ok: picked.label.includes(email), value: picked.value };
  });
  assert.match(ids.user, /^user_/);
  await waitText('console-message', (t) => t.includes(ids.user), 'names the new user');
});

step('creates an organization with the user as admin', async () => {
  await byId('new-org-name').fill(orgName);
  await byId('new-org-role').selectOption('org:admin');
  const response = await clickAndWait('create-org', 'POST', '/dev/api/organizations');
  assert.equal(response.status(), 201);
  ids.org = await waitFor('the new organization to be picked for sign-in', async () => {
    const picked = await selected('org-select');
    return { ok: picked.label.includes(orgName) && picked.label.includes('org:admin'), value: picked.value };
  });
  assert.match(ids.org, /^org_/);
});

step('signs in: the token goes into the __session cookie (HttpOnly)', async () => {
  const response = await clickAndWait('sign-in', 'POST', '/dev/api/sign-in');
  assert.equal(response.status(), 200);
  await waitText('session-user-id', (t) => t === ids.user, `= ${ids.user}`);
  ids.session = await text('session-id');
  assert.match(ids.session, /^sess_/);
  assert.equal(await text('session-org-id'), ids.org);
  assert.equal(await text('session-org-role'), 'org:admin');
  assert.equal(await text('session-email'), email);
  assert.equal(await text('session-status'), 'active');
  assert.equal(await text('session-token'), 'valid');

  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === '__session');
  assert.ok(session, `no __session cookie: ${JSON.stringify(cookies.map((c) => c.name))}`);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');
  assert.equal(session.path, '/');
  assert.ok(!(await page.evaluate(() => document.cookie)).includes('__session'), 'the page script cannot read the token');
});

step('calls /v1/me with the cookie: 200, the user and the organization', async () => {
  const response = await clickAndWait('call-me', 'GET', '/v1/me');
  assert.equal(response.status(), 200);
  await waitAttribute('status-me', 'data-status', '200');
  const body = JSON.parse(await text('result-me'));
  assert.equal(body.user_id, ids.user);
  assert.equal(body.session_id, ids.session);
  assert.equal(body.org_id, ids.org);
  assert.equal(body.org_role, 'org:admin');
});

step('creates a note and lists it', async () => {
  await byId('note-title').fill(noteTitle);
  const created = await clickAndWait('create-note', 'POST', '/v1/notes');
  assert.equal(created.status(), 201);
  await waitAttribute('status-create-note', 'data-status', '201');
  const note = JSON.parse(await text('result-create-note'));
  assert.equal(note.title, noteTitle);

  const listed = await clickAndWait('list-notes', 'GET', '/v1/notes');
  assert.equal(listed.status(), 200);
  await waitAttribute('status-list-notes', 'data-status', '200');
  const list = JSON.parse(await text('result-list-notes'));
  assert.ok(list.items.some((item) => item.id === note.id && item.title === noteTitle), JSON.stringify(list));
});

step('edits metadata: "waiting for webhook…" while delivery is held, then the new value arrives', async () => {
  await byId('pause-webhooks').check();
  await waitText('console-message', (t) => t.includes('held'), 'says delivery is held');
  await byId('metadata-input').fill('{"plan": "pro", "seats": 5}');
  const response = await clickAndWait('edit-metadata', 'PATCH', `/dev/api/users/${ids.user}/metadata`);
  assert.equal(response.status(), 200);
  await waitAttribute('metadata-status', 'data-state', 'waiting');
  assert.match(await text('metadata-status'), /waiting for webhook…/);

  // Held back: the server still has the old metadata, the message waits in the emulator.
  await sleep(1000);
  assert.equal(await attribute('metadata-status', 'data-state'), 'waiting');
  assert.doesNotMatch(await text('profile-metadata'), /pro/);
  const pending = page.locator('[data-testid="delivery-row"][data-event="user.updated"]').first();
  await waitFor('the user.updated message to be listed as held', async () => {
    const state = await pending.getAttribute('data-state');
    return { ok: state === 'pending', value: state };
  });

  await byId('pause-webhooks').uncheck();
  await waitAttribute('metadata-status', 'data-state', 'arrived');
  assert.match(await text('metadata-status'), /arrived by webhook \(user\.updated\)/);
  const stored = JSON.parse(await text('profile-metadata'));
  assert.deepEqual(stored, { plan: 'pro', seats: 5 });
  await waitFor('the user.updated message to be listed as delivered', async () => {
    const state = await pending.getAttribute('data-state');
    return { ok: state === 'delivered', value: state };
  });
});

step('revokes the session: /v1/me then answers 401 session-revoked', async () => {
  const response = await clickAndWait('revoke-session', 'POST', '/dev/api/session/revoke');
  assert.equal(response.status(), 200);
  await waitText('session-status', (t) => t === 'revoked', '= revoked');
  assert.equal(await text('session-token'), 'session-revoked');
  assert.match(await text('session-note'), /session\.revoked delivered \(HTTP 200\)/);

  const me = await clickAndWait('call-me', 'GET', '/v1/me');
  assert.equal(me.status(), 401);
  await waitAttribute('status-me', 'data-status', '401');
  const body = JSON.parse(await text('result-me'));
  assert.equal(body.reason, 'session-revoked');
  assert.ok(await byId('revoke-session').isDisabled(), 'a revoked session cannot be revoked again');
});

step('every /v1 request went with the __session cookie and no Authorization header', async () => {
  const requests = await Promise.all(apiRequests);
  assert.ok(requests.length >= 5, `only ${requests.length} requests to /v1`);
  for (const { path, headers } of requests) {
    assert.equal(headers.authorization, undefined, `${path} sent an Authorization header`);
    assert.match(headers.cookie ?? '', /(^|; )__session=/, `${path} went without the cookie`);
  }
});

step('the page logged no errors (its Content-Security-Policy included)', async () => {
  assert.deepEqual(problems, []);
});
