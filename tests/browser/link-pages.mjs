// Account linking as a person does it in the Alexa app's web view: a wrong password first,
// then the right one, then Allow. Alexa's redirect URI is intercepted to read the code.
// Environment: AUTHORIZE_URL, REDIRECT_URI, PASSWORD, SCREENSHOTS (a directory).
import assert from 'node:assert/strict';
import { launch } from './browser.mjs';

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  let landed = null;
  await page.route(`${process.env.REDIRECT_URI}**`, (route) => {
    landed = route.request().url();
    route.fulfill({ status: 200, contentType: 'text/html', body: '<title>Alexa</title>linked' });
  });

  await page.goto(process.env.AUTHORIZE_URL);
  assert.equal(await page.title(), 'Sign in to rask');
  await page.getByLabel('User name').fill('alice');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.equal(await page.getByRole('alert').textContent(), 'Wrong user name or password.');
  assert.equal(await page.getByLabel('User name').inputValue(), 'alice', 'the name is kept');
  await page.screenshot({ path: `${process.env.SCREENSHOTS}/link-login-failed.png`, fullPage: true });

  await page.getByLabel('Password').fill(process.env.PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: /Allow Alexa/ }).waitFor();
  assert.match(await page.locator('main').textContent(), /Signed in as alice/);
  assert.match(await page.locator('ul').textContent(), /smart_home/);
  await page.screenshot({ path: `${process.env.SCREENSHOTS}/link-consent.png`, fullPage: true });

  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(`${process.env.REDIRECT_URI}**`);
  assert.ok(landed, 'the browser was sent back to Alexa');
  const url = new URL(landed);
  assert.equal(url.searchParams.get('state'), 'st4te');
  console.log(`code ${url.searchParams.get('code')}`);
} finally {
  await browser.close();
}
