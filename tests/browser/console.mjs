// The owner's console as its owner uses it: sign in, read the overview, press the doorbell
// from the devices page (asked first), see the event and the users, filter the events, sign
// out; and at a phone's width nothing runs off the side.
// Environment: BASE_URL, OWNER, PASSWORD, SCREENSHOTS (a folder for pictures of the pages).
import assert from 'node:assert/strict';
import { launch } from './browser.mjs';

const base = process.env.BASE_URL;
const shots = process.env.SCREENSHOTS;
const browser = await launch();
try {
  const page = await browser.newPage();

  // Not signed in: every page leads to the sign-in.
  await page.goto(`${base}/devices`);
  assert.equal(new URL(page.url()).pathname, '/signin');
  assert.equal(await page.title(), 'Sign in · rask');

  // A wrong password is said, and the name kept.
  await page.getByLabel('Owner name').fill(process.env.OWNER);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await page.getByRole('alert').textContent(), /do not match an owner/);
  assert.equal(await page.getByLabel('Owner name').inputValue(), process.env.OWNER);

  await page.getByLabel('Password').fill(process.env.PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.equal(new URL(page.url()).pathname, '/');
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Overview');
  const health = page.locator('h2:text("Health") + table');
  assert.match(await health.textContent(), /Database\s*reachable/);
  assert.match(await health.textContent(), /Login with Amazon, the skill's credentials\s*accepted/);
  assert.match(await health.textContent(), /Event Gateway, NA\s*last delivery attempt delivered at .*: 202 from the NA gateway/);
  assert.match(await page.locator('h2:text("Users by grant state") + table').textContent(), /active\s*1/);
  assert.equal(await page.locator('svg[role=img]').count(), 1, 'the chart is drawn');
  await page.screenshot({ path: `${shots}/console-overview.png`, fullPage: true });

  // The doorbell, from the devices page: asked first, then pressed.
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Devices' }).click();
  const row = page.locator('tr', { hasText: 'front-door' });
  assert.match(await row.textContent(), /Front door\s*front-door\s*doorbell/);
  await row.getByRole('link', { name: 'Press' }).click();
  assert.match(await page.locator('main p').first().textContent(), /Press Front door now\?/);
  await page.getByRole('button', { name: 'Press' }).click();
  assert.match(await page.getByRole('status').textContent(), /Front door pressed: 1 event queued/);

  // The event reaches the simulator's Event Gateway: the events page says delivered.
  let delivered = false;
  for (let i = 0; i < 50 && !delivered; i++) {
    await page.goto(`${base}/events?device=front-door&outcome=delivered`);
    delivered = (await page.locator('td.good', { hasText: 'delivered' }).count()) > 0;
    if (!delivered) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(delivered, 'the press is shown delivered');
  assert.equal(await page.getByLabel('Device').inputValue(), 'front-door', 'the filter is kept');
  assert.match(await page.locator('table').textContent(), /demo\s*front-door\s*DoorbellPress\s*1\s*delivered\s*202 from the NA gateway/);

  // The filter form: an outcome nothing has.
  await page.getByLabel('Outcome').fill('alert');
  await page.getByRole('button', { name: 'Show' }).click();
  assert.match(await page.locator('main').textContent(), /No events match/);

  // A test ChangeReport of the kitchen window, asked first.
  await page.goto(`${base}/devices`);
  const windowRow = page.locator('tr', { hasText: 'kitchen-window' });
  assert.match(await windowRow.textContent(), /contact "DETECTED"/);
  await windowRow.getByRole('link', { name: 'Test ChangeReport' }).click();
  await page.getByRole('button', { name: 'Send' }).click();
  assert.match(await page.getByRole('status').textContent(), /A ChangeReport of Kitchen window is queued for 1 user/);

  // The skill side: the LaunchRequest the test sent, answered.
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Skill' }).click();
  assert.match(await page.locator('h2:text("Recent requests") + div table').textContent(), /LaunchRequest\s*answered/);

  // The configuration, and rask check from the page.
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Configuration' }).click();
  assert.match(await page.locator('main').textContent(), /the embedded default/);
  await page.getByRole('button', { name: 'Run rask check' }).click();
  assert.match(await page.locator('h2:text("rask check") + table').textContent(), /ok\s*config/);

  // Works with Alexa: nothing yet, then an evaluation run from the page, every row shown.
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Works with Alexa' }).click();
  assert.match(await page.locator('main').textContent(), /No evaluation yet/);
  await page.getByRole('button', { name: 'Evaluate now' }).click();
  await page.waitForURL(`${base}/evaluation`);
  assert.match(await page.locator('main').textContent(), /Last evaluation, .* UTC/);
  assert.match(await page.locator('main p.good').textContent(), /\d+ passed, 0 failed/);
  const windowChange = page.getByRole('row').filter({ hasText: 'Send a ChangeReport within 3 seconds' }).filter({ hasText: 'kitchen-window' });
  assert.match(await windowChange.textContent(), /^ok/);
  await page.screenshot({ path: `${shots}/console-evaluation.png`, fullPage: true });

  // Users: the grant in words, the linking log.
  await page.goto(`${base}/users`);
  const demo = page.locator('section', { has: page.getByRole('heading', { name: 'demo' }) });
  assert.match(await demo.textContent(), /Account link\s*linked \(1 live link\)/);
  assert.match(await demo.textContent(), /Alexa events\s*active: events reach Alexa/);
  assert.match(await demo.textContent(), /Region\s*NA/);
  assert.match(await demo.textContent(), /token ok/);

  await page.goto(`${base}/linking`);
  assert.match(await page.locator('main').textContent(), /demo, ok/);

  // A phone's width: the page fits, tables scroll inside their own box.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of ['/', '/users', '/devices', '/events', '/skill', '/configuration', '/evaluation', '/linking']) {
    await page.goto(`${base}${path}`);
    const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
    if (!fits) await page.screenshot({ path: `${shots}/console-too-wide.png`, fullPage: true });
    assert.ok(fits, `${path} fits a phone's width`);
  }
  await page.screenshot({ path: `${shots}/console-phone.png`, fullPage: true });

  // Signing out ends the session.
  await page.getByRole('button', { name: 'Sign out' }).click();
  assert.equal(new URL(page.url()).pathname, '/signin');
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/signin');
  console.log('console ok');
} finally {
  await browser.close();
}
