import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/cli.js';

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'install-systemd.sh');

async function install(destdir: string, init: 'systemd' | 'cron', args: string[] = []): Promise<string> {
  const { stdout } = await promisify(execFile)(SCRIPT, args, { env: { ...process.env, DESTDIR: destdir, PETSPOOL_INIT: init } });
  return stdout;
}

test('install-systemd.sh writes the petspool unit and the nightly cleanup timer under DESTDIR, idempotently', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'petspool-systemd-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const first = await install(root, 'systemd', ['--user', 'nobody', '--cleanup-age', '14d']);
  assert.match(first, /wrote: +\/etc\/systemd\/system\/petspool\.service/);
  assert.match(first, /systemctl daemon-reload && systemctl enable --now petspool petspool-cleanup\.timer/);

  const unitDir = path.join(root, 'etc', 'systemd', 'system');
  const service = await readFile(path.join(unitDir, 'petspool.service'), 'utf8');
  assert.match(service, new RegExp(`^ExecStart=${REPO_ROOT}/bin/petspool start$`, 'm'));
  assert.match(service, /^Restart=on-failure$/m);
  assert.match(service, /^KillSignal=SIGTERM$/m);
  assert.match(service, /^TimeoutStopSec=\d+$/m);
  assert.match(service, /^User=nobody$/m);
  assert.match(service, new RegExp(`^Environment=PETSPOOL_CONFIG=${REPO_ROOT}/config.yaml$`, 'm'));
  assert.match(service, /^WantedBy=multi-user\.target$/m);
  assert.doesNotMatch(service, /@[A-Z_]+@/, 'every placeholder filled');

  const cleanup = await readFile(path.join(unitDir, 'petspool-cleanup.service'), 'utf8');
  assert.match(cleanup, /^Type=oneshot$/m);
  assert.match(cleanup, new RegExp(`^ExecStart=${REPO_ROOT}/bin/petspool cleanup --older-than 14d$`, 'm'));
  const timer = await readFile(path.join(unitDir, 'petspool-cleanup.timer'), 'utf8');
  assert.match(timer, /^OnCalendar=\*-\*-\* 03:15:00$/m);
  assert.match(timer, /^Persistent=true$/m);
  assert.match(timer, /^WantedBy=timers\.target$/m);

  const before = (await stat(path.join(unitDir, 'petspool.service'))).mtimeMs;
  const second = await install(root, 'systemd', ['--user', 'nobody', '--cleanup-age', '14d']);
  assert.equal(second.match(/unchanged:/g)?.length, 3);
  assert.equal((await stat(path.join(unitDir, 'petspool.service'))).mtimeMs, before, 'an unchanged unit is not rewritten');
});

test('install-systemd.sh without systemd writes an /etc/cron.d entry for the nightly cleanup and says so', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'petspool-cron-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const out = await install(root, 'cron', ['--user', 'nobody']);
  assert.match(out, /systemd is not running here .*cron entry/);
  const cron = await readFile(path.join(root, 'etc', 'cron.d', 'petspool'), 'utf8');
  assert.match(cron, new RegExp(`^15 3 \\* \\* \\* nobody ${REPO_ROOT}/bin/petspool cleanup --older-than 7d >> .* 2>&1$`, 'm'));
  await assert.rejects(stat(path.join(root, 'etc', 'systemd')), 'no unit files in cron mode');
  await assert.rejects(install(root, 'cron', ['--cleanup-age', 'forever']), /--cleanup-age must look like 7d/);
});
