import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { assembleVolume } from '../../src/imaging/assemble-volume.js';
import { gaussianFilter } from '../../src/imaging/gaussian.js';
import { mipPng } from '../../src/imaging/mip.js';
import { newTaskId, newTaskRecord, withState } from '../../src/spool/task-record.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { TEST_OPERATOR, startTestAppliance } from '../helpers/appliance.js';
import { AuditLog, readAuditLog } from '../../src/audit/audit-log.js';
import { createHash, createPublicKey } from 'node:crypto';
import { makeTestPki } from '../fixtures/test-pki.js';
import { makeTask } from '../helpers/results-task.js';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

test('dashboard in headless Chromium: log in, see the QC task, open it with both MIPs, approve it', async (t) => {
  const app = await startTestAppliance();
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-dashboard-'));
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  t.after(async () => {
    await browser.close();
    await app.stop();
    await rm(work, { recursive: true, force: true });
    await rm(app.dir, { recursive: true, force: true });
  });
  const { spool } = app.appliance.parts;

  // A task held for QC, with the previews the packer and unpacker write: original and fwhm4.
  const files = await synthesizePetSeries(path.join(work, 'series'), { slices: 110, size: 80 });
  const volume = await assembleVolume(files);
  const filtered = { ...volume, data: await gaussianFilter(volume, 8, { threads: 1 }) };
  const id = newTaskId();
  const base = newTaskRecord({ id, sender: 'ae:SCANNER1', series_instance_uid: volume.headers[0]!.seriesInstanceUid,
    study_instance_uid: volume.headers[0]!.studyInstanceUid, images: files.length, series_description: 'WB FDG AC' });
  const record = ['compiled', 'validated', 'packed', 'processing', 'downloaded', 'unpacked']
    .reduce((r, s) => withState(r, s as 'compiled'), withState(base, 'collecting', 'first instance from ae:SCANNER1'));
  await spool.createTask('awaiting_qc', record, async (dir) => {
    await mkdir(path.join(dir, 'previews'));
    await writeFile(path.join(dir, 'previews', 'original.png'), mipPng(volume));
    await writeFile(path.join(dir, 'previews', 'fwhm4.png'), mipPng(filtered));
  }, 'held for quality control');

  const base_url = `http://127.0.0.1:${app.config.api.port}`;
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });

  // Without a session the dashboard sends the operator to the login page; a wrong password stays there and says so.
  await page.goto(`${base_url}/`);
  await page.waitForURL(/\/login\?why=/);
  await page.fill('#name', TEST_OPERATOR.name);
  await page.fill('#password', 'not the password');
  await page.click('button[type=submit]');
  await page.waitForSelector('#failed:not([hidden])');
  assert.equal(await page.innerText('#failed'), 'wrong operator name or password');
  await page.fill('#password', TEST_OPERATOR.password);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/dashboard\/$/);
  assert.equal(await page.innerText('#who'), TEST_OPERATOR.name);

  // Overview: the stage cards and the task in the table, marked as awaiting QC.
  const row = page.locator(`tr[data-task="${id}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /Awaiting QC/);
  assert.match(await row.innerText(), /WB FDG AC/);
  assert.equal((await page.locator('[data-stage="awaiting_qc"] .count').innerText()).trim(), '1');
  await mkdir(path.join(REPO_ROOT, 'test-output'), { recursive: true });
  await page.screenshot({ path: path.join(REPO_ROOT, 'test-output', 'dashboard-overview.png'), fullPage: true });

  // Task page: history and both MIPs, loaded as real PNGs.
  await row.locator('a').click();
  await page.waitForSelector('.mips img');
  const images = page.locator('.mips img');
  assert.equal(await images.count(), 2);
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.mips img')].every((i) => i.complete && i.naturalWidth > 0));
  assert.deepEqual(await page.locator('.mips figcaption').allInnerTexts(), ['Original', 'Filtered: fwhm4']);
  assert.match(await page.locator('#history').innerText(), /held for quality control/);
  await page.screenshot({ path: path.join(REPO_ROOT, 'test-output', 'dashboard.png'), fullPage: true });

  // Approve: the task leaves awaiting_qc, and the page says so.
  await page.click('button.approve');
  await app.waitFor('the task to leave awaiting_qc', async () => ((await spool.hasTask('awaiting_qc', id)) ? undefined : true), 10_000);
  await page.waitForFunction(() => !/Awaiting QC/.test(document.querySelector('#task-state')?.textContent ?? 'Awaiting QC'));
  const located = await spool.locateTask(id);
  assert.notEqual(located.folder, 'awaiting_qc');
  const approval = located.record.history.find((h) => h.state === 'sending');
  assert.deepEqual([approval?.detail, approval?.by], [`approved by ${TEST_OPERATOR.name}`, TEST_OPERATOR.name]);
  const audit = await readAuditLog(AuditLog.inSpool(app.config.spool_dir).file);
  assert.deepEqual(audit.map((e) => [e.who, e.action, e.task]), [
    [TEST_OPERATOR.name, 'login_failed', undefined], [TEST_OPERATOR.name, 'login', undefined], [TEST_OPERATOR.name, 'qc.approve', id],
  ]);
  await page.screenshot({ path: path.join(REPO_ROOT, 'test-output', 'dashboard-approved.png'), fullPage: true });

  // Settings page lists the configured filter and destination.
  await page.goto(`${base_url}/dashboard/#/settings`);
  await page.waitForSelector('#filters');
  assert.match(await page.locator('#filters').innerText(), /fwhm4/);
  assert.match(await page.locator('#destinations').innerText(), /PACS/);
});

/** Chromium's --ignore-certificate-errors-spki-list value: base64 SHA-256 of the certificate's public key. */
function spkiHash(certPem: string): string {
  return createHash('sha256').update(createPublicKey(certPem).export({ type: 'spki', format: 'der' })).digest('base64');
}

test('dashboard over HTTPS in headless Chromium: Secure session cookie, log in, approve a held task; the audit names the operator', async (t) => {
  const pki = await makeTestPki();
  const app = await startTestAppliance({ api: { tls: { cert_file: pki.server.certFile, key_file: pki.server.keyFile } } });
  // Certificate errors are not ignored: Chromium trusts exactly this server key (the test CA is not in its store).
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spkiHash(pki.server.cert)}`] });
  t.after(async () => {
    await browser.close();
    await app.stop();
    await rm(app.dir, { recursive: true, force: true });
    await rm(pki.dir, { recursive: true, force: true });
  });
  const held = await makeTask(app.appliance.parts.spool, { result: 'none', folder: 'awaiting_qc' });
  const context = await browser.newContext({ ignoreHTTPSErrors: false });
  const page = await context.newPage();
  const base = `https://127.0.0.1:${app.config.api.port}`;

  // A browser that trusts neither the test CA nor the key refuses the page: HTTPS errors really are checked.
  const untrusting = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    await assert.rejects((await untrusting.newPage()).goto(`${base}/login`), /ERR_CERT_AUTHORITY_INVALID/);
  } finally {
    await untrusting.close();
  }

  await page.goto(`${base}/dashboard/`);
  await page.waitForURL(/\/login\?why=/);
  assert.match(await page.innerText('#why'), /Not logged in/);
  await page.fill('#name', TEST_OPERATOR.name);
  await page.fill('#password', TEST_OPERATOR.password);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/dashboard\/$/);
  const [cookie] = await context.cookies(base);
  assert.deepEqual([cookie?.name, cookie?.secure, cookie?.httpOnly, cookie?.sameSite], ['petspool_session', true, true, 'Strict']);

  await page.goto(`${base}/dashboard/#/task/${held.id}`);
  await page.click('button.approve');
  await app.waitFor('the approval', async () => ((await app.appliance.parts.spool.hasTask('awaiting_qc', held.id)) ? undefined : true), 10_000);
  await page.waitForFunction(() => /by/i.test(document.querySelector('#history thead')?.textContent ?? ''));
  await page.waitForFunction((name) => [...document.querySelectorAll('#history tbody tr')].some((tr) => tr.lastElementChild?.textContent === name),
    TEST_OPERATOR.name);
  const audit = await readAuditLog(AuditLog.inSpool(app.config.spool_dir).file);
  const approval = audit.find((e) => e.action === 'qc.approve');
  assert.deepEqual([approval?.who, approval?.role, approval?.task, approval?.client], [TEST_OPERATOR.name, 'operator', held.id, '127.0.0.1']);

  // Logging out ends the session: the next page load is sent back to the login.
  await page.click('#logout');
  await page.waitForURL(/\/login$/);
  await page.goto(`${base}/dashboard/`);
  await page.waitForURL(/\/login\?why=/);
  assert.deepEqual((await readAuditLog(AuditLog.inSpool(app.config.spool_dir).file)).map((e) => e.action), ['login', 'qc.approve', 'logout']);
});
