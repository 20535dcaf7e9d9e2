// The console in a real browser (Debian's chromium, driven by playwright-core) against a real
// `pchost serve --demo` with the bundled plugins. host/server/tests/console.rs starts the server
// and runs this script; it exits non-zero on the first failed check, naming it, and keeps a
// screenshot of every page it checks in PCHOST_SHOTS.
//
// The journey (issue: the operator and partner console): the operator signs in with its key;
// the seller uploads and binds a pricing plugin, then shadows it with a second version; a
// customer's quote (over the API) appears in the seller's audit page; the seller replays it;
// the reseller's admin lowers its refund threshold, asks for a refund that escalates, cannot
// approve it itself (four eyes) and its second admin approves it; a salesperson sees its own
// customer's task and not another salesperson's customer's (rule 16).

import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const base = process.env.PCHOST_URL;
const shots = process.env.PCHOST_SHOTS;
const chromiumPath = process.env.PCHOST_CHROMIUM;
const componentPath = process.env.PCHOST_PLUGIN_COMPONENT;
const shadowComponentPath = process.env.PCHOST_PLUGIN_SHADOW_COMPONENT;
const manifestTemplate = process.env.PCHOST_PLUGIN_MANIFEST;
for (const [name, value] of Object.entries({ base, shots, chromiumPath, componentPath, shadowComponentPath, manifestTemplate })) {
  if (!value) throw new Error(`missing environment: ${name}`);
}
mkdirSync(shots, { recursive: true });

const KEYS = {
  operator: 'pch_demo_operator',
  seller: 'pch_demo_seller_admin',
  resellerAdmin: 'pch_demo_reseller_admin',
  secondAdmin: 'pch_demo_reseller_admin_2',
  salesperson: 'pch_demo_reseller_salesperson',
  customer102: 'pch_demo_customer_102',
};

// --- helpers ------------------------------------------------------------------------------------

let step = 0;
async function shot(page, name) {
  if (name !== 'failed-check') await checkAccessible(page, name);
  step += 1;
  const file = join(shots, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`console: screenshot ${file}`);
}

// Every page it shoots: each form control has a label (or is hidden), each chart a title,
// the page a main landmark and one h1, and no element is taken out of the keyboard's reach.
async function checkAccessible(page, name) {
  const problems = await page.evaluate(() => {
    const found = [];
    for (const control of document.querySelectorAll('input, select, textarea, button')) {
      if (control.type === 'hidden') continue;
      const named = control.labels?.length > 0 || control.getAttribute('aria-label')
        || (control.tagName === 'BUTTON' && control.textContent.trim());
      if (!named) found.push(`unlabelled ${control.tagName.toLowerCase()} ${control.name || control.id}`);
    }
    for (const chart of document.querySelectorAll('svg')) {
      if (!chart.querySelector('title')) found.push('a chart without a title');
    }
    if (document.querySelectorAll('main').length !== 1) found.push('not one main landmark');
    if (document.querySelectorAll('h1').length !== 1) found.push('not one h1');
    for (const el of document.querySelectorAll('[tabindex]')) {
      if (Number(el.getAttribute('tabindex')) < 0) found.push(`tabindex < 0 on ${el.tagName}`);
    }
    return found;
  });
  if (problems.length > 0) fail(`${name} (${page.url()}): ${problems.join('; ')}`);
}

async function mainText(page) {
  return page.locator('main').innerText();
}

function fail(message) {
  throw new Error(message);
}

async function expectText(page, text, what) {
  const body = await mainText(page);
  if (!body.includes(text)) {
    await shot(page, 'failed-check');
    fail(`${what}: expected ${JSON.stringify(text)} on ${page.url()}, page says:\n${body}`);
  }
}

async function expectNoText(page, text, what) {
  const body = await mainText(page);
  if (body.includes(text)) {
    await shot(page, 'failed-check');
    fail(`${what}: did not expect ${JSON.stringify(text)} on ${page.url()}, page says:\n${body}`);
  }
}

async function submit(page, locator, urlPattern) {
  await Promise.all([page.waitForURL(urlPattern), locator.click()]);
}

async function signIn(browser, key) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  // Uploads compile the component before they answer.
  context.setDefaultTimeout(60000);
  const page = await context.newPage();
  await page.goto(`${base}/console`);
  await page.getByLabel('API key').fill(key);
  await submit(page, page.getByRole('button', { name: 'Sign in' }), /\/console\/plugins/);
  return { context, page };
}

async function api(method, path, key, body, idempotencyKey) {
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
  const response = await fetch(`${base}${path}`, { method, headers, body: body && JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, json, text };
}

async function apiOk(expected, method, path, key, body, idempotencyKey) {
  const answer = await api(method, path, key, body, idempotencyKey);
  if (answer.status !== expected) fail(`${method} ${path}: expected ${expected}, got ${answer.status}: ${answer.text}`);
  return answer.json;
}

function quoteOf102() {
  return apiOk(201, 'POST', '/v1/quotes', KEYS.customer102, {
    customer_id: 102, currency: 'CNY',
    lines: [{ product_id: 2001, period: 'month', period_count: 11, quantity: 60 }],
  });
}

// --- the journey --------------------------------------------------------------------------------

const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu'] });
try {
  // The operator: a wrong key is refused, its own key signs in, and it sees every owner's plugins.
  {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${base}/console`);
    if (!page.url().includes('/console/login')) fail(`an anonymous visit should land on the sign-in page, not ${page.url()}`);
    await page.getByLabel('API key').fill('pch_not_a_key');
    await submit(page, page.getByRole('button', { name: 'Sign in' }), /\/console\/login/);
    await expectText(page, 'That key is not valid', 'a wrong key');
    await shot(page, 'sign-in-refused');
    await context.close();
  }
  // The operator signs in from the keyboard alone: the skip link, the key, Enter.
  const operator = await (async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    context.setDefaultTimeout(60000);
    const page = await context.newPage();
    await page.goto(`${base}/console/login`);
    await page.keyboard.press('Tab');
    const skip = await page.evaluate(() => document.activeElement.textContent);
    if (skip !== 'Skip to the content') fail(`the first stop of the keyboard should be the skip link, not ${skip}`);
    await page.keyboard.press('Tab');
    await page.keyboard.type(KEYS.operator);
    await Promise.all([page.waitForURL(/\/console\/plugins/), page.keyboard.press('Enter')]);
    return { context, page };
  })();
  await expectText(operator.page, 'volume-discount@0.2.0', 'the operator sees the seller\'s plugin');
  await expectText(operator.page, 'refund-approval@0.2.0', 'the operator sees the reseller\'s plugin');
  await expectText(operator.page, 'Upload a version', 'the operator may upload');
  await shot(operator.page, 'operator-plugins');

  // The seller uploads a pricing plugin, sees only its own plugins, and binds the new one.
  const seller = await signIn(browser, KEYS.seller);
  const manifest = readFileSync(manifestTemplate, 'utf8');
  const manifestFile = join(shots, 'seller-tiers-1.0.0.toml');
  writeFileSync(manifestFile, manifest);
  await seller.page.getByLabel('Manifest (plugin.toml)').setInputFiles(manifestFile);
  await seller.page.getByLabel('Component (.wasm)').setInputFiles(componentPath);
  await submit(seller.page, seller.page.getByRole('button', { name: 'Upload' }), /done=uploaded/);
  await expectText(seller.page, 'The version is installed.', 'the upload');
  await expectText(seller.page, 'seller-tiers@1.0.0', 'the uploaded version is listed');
  await expectNoText(seller.page, 'refund-approval', 'a seller sees no other owner\'s plugins');
  await shot(seller.page, 'seller-uploaded');

  await submit(seller.page, seller.page.getByRole('link', { name: 'Bind seller-tiers@1.0.0' }), /\/console\/bindings\/new/);
  await seller.page.getByLabel('Position (lower runs first, -1000 to 1000)').fill('50');
  await seller.page.locator('#setting-tier-2-percent').fill('12');
  await shot(seller.page, 'seller-binding-form');
  await submit(seller.page, seller.page.getByRole('button', { name: 'Bind' }), /done=bound/);
  await expectText(seller.page, 'The binding is created', 'the binding');
  await expectText(seller.page, 'tier-2-percent = 12', 'the binding keeps its settings');
  const bindingUrl = seller.page.url().replace(/\?.*$/, '');
  await shot(seller.page, 'seller-binding');

  // A customer's quote over the API runs it; the seller finds it in its audit and replays it.
  const quote = await quoteOf102();
  if (!JSON.stringify(quote.chain).includes('seller-tiers@1.0.0')) fail(`the quote's chain lacks the new plugin: ${JSON.stringify(quote.chain)}`);
  await seller.page.goto(`${base}/console/invocations`);
  await seller.page.getByLabel('Plugin (name or name@version)').fill('seller-tiers');
  await seller.page.getByLabel('Purpose').selectOption('live');
  await submit(seller.page, seller.page.getByRole('button', { name: 'Filter' }), /plugin=seller-tiers/);
  await expectText(seller.page, 'seller-tiers@1.0.0', 'the customer\'s quote in the seller\'s audit');
  await shot(seller.page, 'seller-audit');
  await submit(seller.page, seller.page.locator('tbody a').first(), /\/console\/invocations\/\d+$/);
  await expectText(seller.page, 'Input', 'the invocation\'s detail');
  await expectText(seller.page, '"id": 2001', 'the recorded input (product 2001)');
  await shot(seller.page, 'seller-invocation');
  await submit(seller.page, seller.page.getByRole('button', { name: 'Replay' }), /\/replay$/);
  await expectText(seller.page, 'Identical.', 'the replay answers as recorded');
  await shot(seller.page, 'seller-replay');

  // A second build in shadow (its component leaves new purchases alone): it answers otherwise,
  // never reaching the customer, and the differences page shows both answers side by side.
  const manifestNext = join(shots, 'seller-tiers-1.1.0.toml');
  writeFileSync(manifestNext, manifest.replace('version = "1.0.0"', 'version = "1.1.0"'));
  // And a third, the same code as 1.0.0 with a fuel limit far too small: in shadow it runs out
  // of fuel on every quote, which the health page counts by kind.
  const manifestStarved = join(shots, 'seller-tiers-1.2.0.toml');
  writeFileSync(manifestStarved, manifest.replace('version = "1.0.0"', 'version = "1.2.0"').replace('grants = []', 'grants = []\n\n[limits]\nfuel = 1000'));
  await seller.page.goto(`${base}/console/plugins`);
  await seller.page.getByLabel('Manifest (plugin.toml)').setInputFiles(manifestNext);
  await seller.page.getByLabel('Component (.wasm)').setInputFiles(shadowComponentPath);
  await submit(seller.page, seller.page.getByRole('button', { name: 'Upload' }), /done=uploaded/);
  await seller.page.goto(bindingUrl);
  await seller.page.getByLabel('Shadow with').selectOption('1.1.0');
  await submit(seller.page, seller.page.getByRole('button', { name: 'Shadow on' }), /done=changed/);
  await expectText(seller.page, '1.1.0 · shadow differences', 'the shadow version is set');
  await shot(seller.page, 'seller-shadow-on');
  await quoteOf102();
  let diffsSeen = false;
  for (let i = 0; i < 50 && !diffsSeen; i += 1) {
    await seller.page.goto(`${bindingUrl}/shadow-diffs`);
    diffsSeen = (await mainText(seller.page)).includes('Difference #');
    if (!diffsSeen) await new Promise((r) => setTimeout(r, 100));
  }
  await expectText(seller.page, 'Where the answers differ', 'the shadow\'s difference');
  await expectText(seller.page, 'Shadow 1.1.0', 'both answers side by side');
  await shot(seller.page, 'seller-shadow-diffs');

  await seller.page.goto(`${base}/console/plugins`);
  await seller.page.getByLabel('Manifest (plugin.toml)').setInputFiles(manifestStarved);
  await seller.page.getByLabel('Component (.wasm)').setInputFiles(componentPath);
  await submit(seller.page, seller.page.getByRole('button', { name: 'Upload' }), /done=uploaded/);
  await expectText(seller.page, 'fuel 1000', 'the limits a manifest asks for');
  await seller.page.goto(bindingUrl);
  await seller.page.getByLabel('Shadow with').selectOption('1.2.0');
  await submit(seller.page, seller.page.getByRole('button', { name: 'Shadow on' }), /done=changed/);
  const starved = await quoteOf102();
  if (starved.total !== quote.total) fail(`a failing shadow changed the quote: ${starved.total} against ${quote.total}`);
  await seller.page.goto(`${base}/console/invocations?purpose=shadow&outcome=failed`);
  await expectText(seller.page, 'out-of-fuel', 'the shadow\'s failure in the audit');

  await seller.page.goto(`${base}/console/bindings`);
  await expectText(seller.page, 'seller-tiers@1.0.0', 'the seller\'s bindings');
  await expectNoText(seller.page, 'refund-approval', 'a seller sees no other partner\'s bindings');
  await shot(seller.page, 'seller-bindings');

  // The reseller's admin lowers its refund threshold from the console, then asks for a refund
  // (over the API) that its rule escalates to a customer manager.
  const admin = await signIn(browser, KEYS.resellerAdmin);
  await admin.page.goto(`${base}/console/bindings`);
  await submit(admin.page, admin.page.getByRole('row', { name: /refund-approval@0\.2\.0/ }).getByRole('link'), /\/console\/bindings\/\d+$/);
  await admin.page.getByLabel('threshold').fill('1000');
  await submit(admin.page, admin.page.getByRole('button', { name: 'Save settings' }), /done=changed/);
  await expectText(admin.page, 'threshold = 1000', 'the new threshold');
  const held = await apiOk(202, 'POST', '/v1/orders/9003/refunds', KEYS.resellerAdmin, { amount: '1200.00' }, 'console-refund-102');
  const task = held.task.id;
  await admin.page.goto(`${base}/console/tasks`);
  await expectText(admin.page, `Task #${task}: refund for customer 102`, 'the admin sees its escalated refund');
  await shot(admin.page, 'reseller-admin-tasks');
  await submit(admin.page, admin.page.getByRole('button', { name: `Approve task ${task}` }), /\/console\/tasks\/\d+\/approve/);
  await expectText(admin.page, 'self-approval', 'four eyes: the asker cannot approve');
  await shot(admin.page, 'reseller-admin-self-approval-refused');

  // Its second admin approves it: the refund is carried out.
  const second = await signIn(browser, KEYS.secondAdmin);
  await second.page.goto(`${base}/console/tasks`);
  await submit(second.page, second.page.getByRole('button', { name: `Approve task ${task}` }), /done=approved/);
  await expectText(second.page, 'The task is approved', 'the approval');
  const decided = await apiOk(200, 'GET', `/v1/approval-tasks/${task}`, KEYS.secondAdmin);
  if (decided.status !== 'approved') fail(`task ${task} should be approved: ${JSON.stringify(decided)}`);
  await shot(second.page, 'second-admin-approved');

  // Rule 16: another salesperson manages customer 101 and a refund of 101's escalates too.
  const other = await apiOk(201, 'POST', '/v1/staff', KEYS.resellerAdmin, { role: 'salesperson' });
  await apiOk(200, 'POST', '/v1/customers/101/manager', KEYS.resellerAdmin, { manager_id: other.staff.id });
  const held101 = await apiOk(202, 'POST', '/v1/orders/9001/refunds', KEYS.resellerAdmin, { amount: '1200.00' }, 'console-refund-101');
  const task101 = held101.task.id;
  const salesperson = await signIn(browser, KEYS.salesperson);
  await salesperson.page.goto(`${base}/console/tasks?status=all`);
  await expectText(salesperson.page, `Task #${task}: refund for customer 102`, 'a salesperson sees its own customer\'s task');
  await expectNoText(salesperson.page, `Task #${task101}`, 'a salesperson does not see another salesperson\'s customer\'s task');
  await expectNoText(salesperson.page, 'customer 101', 'nothing of the other salesperson\'s customer');
  await shot(salesperson.page, 'salesperson-tasks');
  const otherSession = await signIn(browser, other.api_key);
  await otherSession.page.goto(`${base}/console/tasks?status=all`);
  await expectText(otherSession.page, `Task #${task101}: refund for customer 101`, 'the other salesperson sees its customer\'s task');
  await expectNoText(otherSession.page, 'customer 102', 'and not the first salesperson\'s');

  // A forged form is refused: another site's origin, or no token.
  const forged = await salesperson.context.request.post(`${base}/console/logout`, {
    form: { csrf: 'not-the-token' }, maxRedirects: 0,
  });
  if (forged.status() !== 403 || !(await forged.text()).includes('csrf-rejected')) fail(`a form without its token: ${forged.status()}`);
  const crossSite = await salesperson.context.request.post(`${base}/console/logout`, {
    form: { csrf: 'x' }, headers: { origin: 'https://evil.example' }, maxRedirects: 0,
  });
  if (crossSite.status() !== 403) fail(`a cross-site form: ${crossSite.status()}`);
  // Neither signed the salesperson out.
  await salesperson.page.goto(`${base}/console/tasks`);
  if (!salesperson.page.url().includes('/console/tasks')) fail(`forged forms ended the session: ${salesperson.page.url()}`);

  // Health: the operator sees every plugin's last hour; the seller its own only.
  await operator.page.goto(`${base}/console/health`);
  await expectText(operator.page, 'seller-tiers@1.0.0', 'the seller\'s plugin in the operator\'s health page');
  await expectText(operator.page, 'refund-approval@0.2.0', 'the reseller\'s plugin in the operator\'s health page');
  await expectText(operator.page, 'Failures by kind (docs/errors.md)', 'the failures chart');
  await expectText(operator.page, 'out-of-fuel', 'the shadow\'s failures counted by kind');
  await shot(operator.page, 'operator-health');
  await seller.page.goto(`${base}/console/health`);
  await expectText(seller.page, 'seller-tiers@1.0.0', 'the seller\'s own plugin');
  await expectNoText(seller.page, 'refund-approval', 'a seller\'s health page shows no other owner\'s plugins');
  // Asked to, the page reloads itself (a meta refresh: the content security policy forbids
  // scripts), and stops when asked.
  await seller.page.getByRole('link', { name: 'every 10 s', exact: true }).click();
  await seller.page.waitForURL(/\/console\/health\?reload=10$/);
  const loadedAt = await seller.page.evaluate(() => performance.timeOrigin);
  await seller.page.waitForEvent('load', { timeout: 20000 });
  const reloadedAt = await seller.page.evaluate(() => performance.timeOrigin);
  if (!(reloadedAt - loadedAt >= 9000)) fail(`the health page reloaded after ${reloadedAt - loadedAt} ms, not 10 s`);
  await expectText(seller.page, 'seller-tiers@1.0.0', 'the reloaded health page');
  await seller.page.getByRole('link', { name: 'never', exact: true }).click();
  await seller.page.waitForURL(/\/console\/health$/);

  // Signing out ends the session: the pages ask for a key again.
  await submit(operator.page, operator.page.getByRole('button', { name: 'Sign out' }), /reason=signed-out/);
  await operator.page.goto(`${base}/console/plugins`);
  if (!operator.page.url().includes('/console/login')) fail(`after signing out, ${operator.page.url()} should ask for a key`);
  console.log('console: every check passed');
} finally {
  await browser.close();
}
