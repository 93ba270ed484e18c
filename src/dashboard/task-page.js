/** One task: where it is, what happened to it, the MIPs side by side, and what an operator can do. */
import { api } from './api.js';
import { h } from './dom.js';
import { since, stateLabel, when } from './format.js';

/** Image elements by URL, kept across refreshes so the pictures do not flicker every few seconds. */
const images = new Map();

export async function renderTask(id, refresh) {
  const path = `/tasks/${encodeURIComponent(id)}`;
  const [detail, previews, results] = await Promise.all([api(path), api(`${path}/previews`), api(`${path}/results`)]);
  const r = detail.record;
  const state = r.state;
  return [
    h('p', {}, h('a', { href: '#/' }, '← All tasks')),
    h('h1', {}, 'Task ', h('span.mono', {}, r.id), ' ', h(`span.badge.${state}`, { id: 'task-state' }, stateLabel(state))),
    state === 'awaiting_qc' ? qcPanel(id, refresh) : null,
    r.reason ? h('p.problem', { role: 'alert' }, `Reason: ${r.reason}`) : null,
    h('dl.facts', {},
      fact('Series', r.series_description || '–'),
      fact('Series UID', h('span.mono', {}, r.series_instance_uid)),
      fact('Study UID', h('span.mono', {}, r.study_instance_uid)),
      fact('Images', r.images || '–'),
      fact('From', r.sender),
      fact('Folder', h('span.mono', {}, `${detail.folder}/${r.id}`)),
      r.outputs.length ? fact('Delivered series', r.outputs.map((u) => h('div.mono', {}, u))) : null),
    operatorActions(id, state, refresh),
    h('h2', {}, 'Maximum intensity projections'),
    mips(previews),
    results.length ? h('h2', {}, 'Output series') : null,
    results.length ? h('ul', {}, results.map((s) => h('li', {}, h('b', {}, s.series), ` – ${s.files.length} images`,
      s.series_instance_uid ? h('span.muted.mono', {}, ` ${s.series_instance_uid}`) : null))) : null,
    h('h2', {}, 'History'),
    h('table', { id: 'history' },
      h('thead', {}, h('tr', {}, ['When', 'State', 'Detail', 'By'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, r.history.map((e) => h('tr', {},
        h('td', {}, `${when(e.at)} (${since(e.at)} ago)`),
        h('td', {}, h(`span.badge.${e.state}`, {}, stateLabel(e.state))),
        h('td', {}, e.detail ?? ''),
        h('td', {}, e.by ?? ''))))),
  ];
}

function fact(label, value) {
  return [h('dt', {}, label), h('dd', {}, value)];
}

function mips(previews) {
  const shown = [];
  if (previews.original) shown.push({ caption: 'Original', url: previews.original });
  for (const f of previews.filtered) shown.push({ caption: `Filtered: ${f.name}`, url: f.url });
  if (shown.length === 0) return h('p.muted', {}, 'No previews yet: they are made when the series is packed and when the results are unpacked.');
  return h('div.mips', {}, shown.map(({ caption, url }) => {
    let img = images.get(url);
    if (!img) {
      img = h('img', { src: url, alt: `${caption} MIP (coronal, maximum intensity projection)` });
      images.set(url, img);
    }
    return h('figure', {}, img, h('figcaption', {}, caption));
  }));
}

function qcPanel(id, refresh) {
  const reason = h('input', { id: 'reject-reason', type: 'text', size: 40, placeholder: 'why the result is not fit to send' });
  const message = h('span.problem', { role: 'status' });
  const decide = async (action) => {
    message.textContent = '';
    try {
      if (action === 'reject' && !reason.value.trim()) {
        message.textContent = 'Write a reason for the rejection first.';
        reason.focus();
        return;
      }
      await api(`/qc/${encodeURIComponent(id)}/${action}`, { method: 'POST', body: action === 'reject' ? { reason: reason.value } : {} });
      await refresh();
    } catch (err) {
      message.textContent = err.message;
    }
  };
  return h('section.qc', { 'aria-label': 'Quality control' },
    h('p', {}, 'This result waits for your quality-control decision. Compare the MIPs below, then:'),
    h('div.actions', {},
      h('button.approve', { type: 'button', onclick: () => decide('approve') }, 'Approve and send'),
      h('label', { for: 'reject-reason' }, 'Reason'), reason,
      h('button.reject', { type: 'button', onclick: () => decide('reject') }, 'Reject'),
      message));
}

function operatorActions(id, state, refresh) {
  const message = h('span.problem', { role: 'status' });
  const act = async (action, body) => {
    try {
      await api(`/tasks/${encodeURIComponent(id)}/${action}`, { method: 'POST', body });
      await refresh();
    } catch (err) {
      message.textContent = err.message;
    }
  };
  const buttons = [];
  if (state === 'failed') buttons.push(h('button', { type: 'button', onclick: () => act('retry', {}) }, 'Retry'));
  if (!['done', 'aborted'].includes(state)) {
    buttons.push(h('button.danger', {
      type: 'button',
      onclick: () => { if (confirm(`Abort task ${id}? It will not be processed or sent.`)) void act('abort', { reason: 'aborted from the dashboard' }); },
    }, 'Abort'));
  }
  return buttons.length ? h('div.actions', { style: 'margin-top: 1rem' }, buttons, message) : null;
}
