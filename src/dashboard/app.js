/**
 * The dashboard shell: a hash router (#/, #/task/<id>, #/settings) and a refresh every few seconds
 * (paused while the operator is typing into a form, so an edit is never thrown away).
 */
import { renderOverview } from './overview.js';
import { renderTask } from './task-page.js';
import { renderSettings } from './settings.js';
import { h } from './dom.js';
import { currentSession, logOut } from './api.js';

const REFRESH_MS = 4000;
const main = document.getElementById('main');
const updated = document.getElementById('updated');

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const task = /^\/task\/(.+)$/.exec(hash);
  if (task) return { name: 'task', render: (refresh) => renderTask(decodeURIComponent(task[1]), refresh) };
  if (hash === '/settings') return { name: 'settings', render: renderSettings };
  return { name: 'overview', render: renderOverview };
}

let drawing = false;
async function draw() {
  if (drawing) return;
  drawing = true;
  const current = route();
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === current.name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  try {
    const content = await current.render(draw);
    main.replaceChildren(...content.flat().filter(Boolean));
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    main.replaceChildren(h('h1', {}, 'Cannot show this page'), h('p.problem', { role: 'alert' }, err.message));
  } finally {
    drawing = false;
  }
}

function typing() {
  const el = document.activeElement;
  return el && ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) && main.contains(el);
}

window.addEventListener('hashchange', () => {
  void draw();
  main.focus();
});
document.getElementById('logout').addEventListener('click', () => void logOut());
currentSession().then((s) => { document.getElementById('who').textContent = s.name; }, () => undefined);
setInterval(() => { if (!typing()) void draw(); }, REFRESH_MS);
void draw();
