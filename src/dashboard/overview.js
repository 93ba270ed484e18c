/** Overview: alerts first, then the figures of the day, the stages with their backlog, and every task. */
import { api } from './api.js';
import { h } from './dom.js';
import { age, since, stateLabel, when } from './format.js';

const FINISHED = new Set(['sent', 'failed', 'aborted']);

export async function renderOverview() {
  const [overview, tasks] = await Promise.all([api('/dashboard/api/overview'), api('/tasks')]);
  const newestFirst = [...tasks].sort((a, b) => b.id.localeCompare(a.id));
  const heldForQc = tasks.filter((t) => t.state === 'awaiting_qc').length;
  const failed = tasks.filter((t) => t.state === 'failed').length;
  return [
    h('h1', {}, 'Overview'),
    overview.alerts.length
      ? h('ul.alerts', { role: 'alert' }, overview.alerts.map((a) => h('li', {}, a)))
      : null,
    h('div.figures', {},
      figure(overview.throughput.done_today, 'tasks done today'),
      figure(overview.throughput.instances_today, 'images received today'),
      figure(heldForQc, 'waiting for your QC decision', heldForQc > 0),
      figure(failed, 'failed (retry or abort)', failed > 0)),
    h('h2', {}, 'Stages'),
    h('div.stages', { role: 'list' }, overview.folders.map((f) => stageCard(f, overview.alert_after_seconds))),
    h('h2', {}, `Tasks (${tasks.length})`),
    tasks.length === 0 ? h('p.muted', {}, 'No tasks yet. Send a series to the appliance or drop a folder into the hot folder.')
      : taskTable(newestFirst),
  ];
}

function figure(value, label, attention = false) {
  return h(`div.figure${attention ? '.stage.attention' : ''}`, {}, h('b', {}, value), label);
}

function stageCard(f, alertAfter) {
  const waits = !FINISHED.has(f.folder) && f.folder !== 'awaiting_qc';
  const stuck = waits && f.oldest_age_seconds !== null && f.oldest_age_seconds > alertAfter;
  const attention = (f.folder === 'awaiting_qc' || f.folder === 'failed') && f.count > 0;
  const cls = stuck ? '.stuck' : attention ? '.attention' : f.count > 0 && !FINISHED.has(f.folder) ? '.busy' : '';
  return h(`div.stage${cls}`, { role: 'listitem', 'data-stage': f.folder },
    h('div.name', {}, stateLabel(f.folder)),
    h('div.count', {}, f.count),
    h('div.age', {}, f.count === 0 ? '\u00a0' : `${FINISHED.has(f.folder) ? 'oldest' : 'waiting'} ${age(f.oldest_age_seconds)}${stuck ? ' – stuck' : ''}`));
}

function taskTable(tasks) {
  return h('table', { id: 'tasks' },
    h('thead', {}, h('tr', {}, ['Task', 'State', 'Series', 'Images', 'From', 'Received', 'Last change', 'Reason'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, tasks.map((t) => h(`tr.${t.state}`, { 'data-task': t.id },
      h('td', {}, h('a.mono', { href: `#/task/${encodeURIComponent(t.id)}` }, t.id)),
      h('td', {}, h(`span.badge.${t.state}`, {}, stateLabel(t.state))),
      h('td', {}, t.series_description || h('span.muted', {}, 'no description')),
      h('td', {}, t.images || '–'),
      h('td', {}, t.sender),
      h('td', {}, when(t.created_at)),
      h('td', {}, `${when(t.updated_at)} (${since(t.updated_at)} ago)`),
      h('td.reason', {}, t.reason ?? '')))));
}
