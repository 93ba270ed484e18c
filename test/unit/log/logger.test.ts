import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../../src/log/logger.js';

test('JSON lines in a daily file; task lines carry the task id', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-log-'));
  const log = createLogger({ logDir: dir, quiet: true });
  log.child({ task: '20260101-000000-abcdef', stage: 'packer' }).info('packed 81 slices');
  log.debug('patient Doe^Jane');
  await new Promise<void>((resolve) => { log.on('finish', resolve); log.end(); });
  await new Promise((r) => setTimeout(r, 100));
  const files = await readdir(dir);
  const file = files.find((f) => /^petspool-\d{4}-\d{2}-\d{2}\.jsonl$/.test(f));
  assert.ok(file, `log file among ${files.join(',')}`);
  const lines = (await readFile(path.join(dir, file), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const packed = lines.find((l) => l.message === 'packed 81 slices');
  assert.equal(packed.task, '20260101-000000-abcdef');
  assert.equal(packed.stage, 'packer');
  assert.equal(packed.level, 'info');
  assert.ok(packed.timestamp);
  assert.equal(lines.find((l) => /Doe/.test(l.message)).level, 'debug');
});
