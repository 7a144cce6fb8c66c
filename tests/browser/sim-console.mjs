// The simulator's console as a person sees it: skills, users, gadgets, notifications, evaluations, and events with their verdicts.
// Environment: SIM_URL, SKILL_ID, SCREENSHOT (where to save a picture of the page).
import assert from 'node:assert/strict';
import { launch } from './browser.mjs';

const browser = await launch();
try {
  const page = await browser.newPage();
  const response = await page.goto(`${process.env.SIM_URL}/sim/`);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), 'rask sim');
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'rask sim');

  const skills = page.locator('h2:text("Skills") + table');
  assert.match(await skills.textContent(), new RegExp(process.env.SKILL_ID.replaceAll('.', '\\.')));

  const users = page.locator('h2:text("Users") + table');
  assert.match(await users.textContent(), /alice\s*EU.*linked, granted/s);

  const gadgets = page.locator('h2:text("Gadgets") + table');
  assert.match(await gadgets.textContent(), /alice\s*Robot amzn1\.ask\.endpoint\.R1\s*Custom\.Robot\s*1\s*Custom\.Robot\.Spin \{"speed":3\}/);

  const notifications = page.locator('h2:text("Notifications") + table');
  assert.match(await notifications.textContent(), /alice.*1\s*all.*AMAZON\.WeatherAlert\.Activated \(development, storm-1\)/s);

  const evaluations = page.locator('h2:text("Evaluations") + table');
  assert.match(await evaluations.textContent(), /bob\s*stopped: user "bob" has not linked an account/);

  const events = page.locator('h2:text("Latest events") + table tr');
  assert.ok(await events.count() >= 3, 'the header row and at least two events');
  const valid = page.locator('td .good', { hasText: 'valid' });
  const invalid = page.locator('td .bad', { hasText: 'INVALID_ACCESS_TOKEN_EXCEPTION' });
  assert.ok(await valid.count() >= 1, 'a valid event is shown as valid');
  assert.equal(await invalid.count(), 1, 'the refused event is shown with its reason');

  // The event log link works.
  await page.getByRole('link', { name: '/sim/events' }).click();
  const log = JSON.parse(await page.locator('body').textContent());
  assert.ok(log.events.length >= 2);

  await page.goto(`${process.env.SIM_URL}/sim/`);
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log('console ok');
} finally {
  await browser.close();
}
