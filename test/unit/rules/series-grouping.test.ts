import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignInstance, taskKey } from '../../../src/rules/series-grouping.js';

test('taskKey separates series and senders', () => {
  const keys = new Set([
    taskKey('1.2.3', 'MODALITY'), taskKey('1.2.3', 'PACS'), taskKey('1.2.4', 'MODALITY'), taskKey('1.2.3', 'MODALITY'),
  ]);
  assert.equal(keys.size, 3);
  // Sender names may contain the separator; UIDs cannot, so the first "@" still ends the UID.
  assert.notEqual(taskKey('1.2.3', '4@X'), taskKey('1.2.3.4', '@X'));
  assert.equal(taskKey('1.2.3', 'A@B').split('@')[0], '1.2.3');
});

const cases: { name: string; open: string[] | undefined; arriving: string; expected: 'append' | 'new-task' }[] = [
  { name: 'no open task yet', open: undefined, arriving: '1.1', expected: 'new-task' },
  { name: 'new instance of the open task', open: ['1.1', '1.2'], arriving: '1.3', expected: 'append' },
  { name: 'instance already in the open task: the series is sent again', open: ['1.1', '1.2'], arriving: '1.1', expected: 'new-task' },
  { name: 'open task that is still empty', open: [], arriving: '1.1', expected: 'append' },
];

for (const c of cases) {
  test(`assignInstance: ${c.name}`, () => {
    const open = c.open === undefined ? undefined : { sopInstanceUids: new Set(c.open) };
    assert.equal(assignInstance(open, c.arriving), c.expected);
  });
}

test('a series sent twice becomes two tasks of the original size, never one with doubled slices', () => {
  const uids = ['1.1', '1.2', '1.3'];
  const tasks: Set<string>[] = [];
  for (const uid of [...uids, ...uids]) {
    const open = tasks.at(-1);
    if (assignInstance(open ? { sopInstanceUids: open } : undefined, uid) === 'new-task') tasks.push(new Set());
    tasks.at(-1)!.add(uid);
  }
  assert.deepEqual(tasks.map((t) => [...t]), [uids, uids]);
});
