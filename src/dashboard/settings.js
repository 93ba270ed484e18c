/** Filters and destinations: what config.yaml says plus the operator's edits (stored by the appliance). */
import { api } from './api.js';
import { h } from './dom.js';

export async function renderSettings(refresh) {
  const [filters, destinations] = await Promise.all([api('/settings/filters'), api('/settings/destinations')]);
  return [
    h('h1', {}, 'Filters and destinations'),
    h('p.muted', {}, 'Changes apply to the next task; they are stored by the appliance and win over config.yaml.'),
    h('h2', {}, 'Gaussian post-filters (one output series each)'),
    table(['Name', 'FWHM (mm)', 'Blend', 'Series description', 'Source', ''], filters.map((f) => [
      h('b', {}, f.name), f.fwhm_mm === 0 ? '0 (unfiltered)' : f.fwhm_mm, f.blend ?? '–', f.series_description ?? '–', f.source,
      removeButton(`/settings/filters/${encodeURIComponent(f.name)}/remove`, `filter ${f.name}`, refresh),
    ]), 'filters'),
    editForm('Add or replace a filter', [
      field('name', 'Name', { required: true, pattern: '[A-Za-z0-9_-]{1,32}', size: 12 }),
      field('fwhm_mm', 'FWHM (mm)', { required: true, type: 'number', min: 0, step: '0.1', size: 6 }),
      field('series_description', 'Series description', { size: 24 }),
    ], (v) => ({ name: v.name, fwhm_mm: Number(v.fwhm_mm), ...(v.series_description ? { series_description: v.series_description } : {}) }),
    '/settings/filters', refresh),
    h('h2', {}, 'DICOM destinations'),
    table(['Name', 'AE title', 'Host', 'Port', 'Mirror to sender', 'Source', ''], destinations.map((d) => [
      h('b', {}, d.name), h('span.mono', {}, d.ae_title), d.host, d.port, d.mirror ? 'yes' : 'no', d.source,
      removeButton(`/settings/destinations/${encodeURIComponent(d.name)}/remove`, `destination ${d.name}`, refresh),
    ]), 'destinations'),
    editForm('Add or replace a destination', [
      field('name', 'Name', { required: true, size: 12 }),
      field('ae_title', 'AE title', { required: true, maxlength: 16, size: 16 }),
      field('host', 'Host', { required: true, size: 18 }),
      field('port', 'Port', { required: true, type: 'number', min: 1, max: 65535, size: 6 }),
    ], (v) => ({ name: v.name, ae_title: v.ae_title, host: v.host, port: Number(v.port), mirror: false }),
    '/settings/destinations', refresh),
  ];
}

function table(headers, rows, id) {
  return h('table', { id },
    h('thead', {}, h('tr', {}, headers.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.length ? rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c))))
      : h('tr', {}, h('td', { colspan: headers.length }, h('span.muted', {}, 'none')))));
}

function removeButton(path, what, refresh) {
  return h('button.danger', {
    type: 'button', 'aria-label': `Remove ${what}`,
    onclick: async () => {
      if (!confirm(`Remove ${what}?`)) return;
      await api(path, { method: 'POST', body: {} }).then(refresh, (err) => alert(err.message));
    },
  }, 'Remove');
}

function field(name, label, attrs) {
  return h('label', {}, label, h('input', { name, ...attrs }));
}

function editForm(title, fields, toBody, path, refresh) {
  const message = h('span', { role: 'status' });
  const form = h('form.inline', {
    'aria-label': title,
    onsubmit: async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(new FormData(form).entries());
      try {
        await api(path, { method: 'POST', body: toBody(values) });
        form.reset();
        await refresh();
      } catch (err) {
        message.className = 'problem';
        message.textContent = err.message;
      }
    },
  }, fields, h('button', { type: 'submit' }, 'Save'), message);
  return form;
}
