/**
 * The web dashboard: static files from src/dashboard/ (plain ES modules, no build step), the login
 * page (routes/session.ts does the login), and the overview figures the dashboard needs besides the
 * task, QC and settings routes. The static files hold no data, so they are served to anyone; every
 * figure comes from a route for operators.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { HttpError, type Route } from '../router.js';
import { PACKAGE_ROOT, type LoadedConfig } from '../../config/load.js';
import type { Spool } from '../../spool/spool.js';
import type { Store } from '../../db/store.js';
import { INSTANCES_DIR } from '../../spool/layout.js';
import { spoolStatus, type SpoolStatus } from '../../operations/spool-status.js';

export const DASHBOARD_DIR = path.join(PACKAGE_ROOT, 'src', 'dashboard');
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};
const ASSET = /^[a-z0-9-]+\.(html|css|js|svg)$/;
const CONTENT_SECURITY_POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; form-action 'self'";

/** GET /dashboard/api/overview */
export interface DashboardOverview extends SpoolStatus {
  /** alerts.stage_age_seconds: a stage whose oldest task waits longer is shown as stuck. */
  alert_after_seconds: number;
  throughput: {
    /** Tasks that reached done since local midnight. */
    done_today: number;
    /** Instances in the tasks created since local midnight. */
    instances_today: number;
    /** Instances received since the database was created (counter). */
    instances_total: number;
  };
  generated_at: string;
}

export function dashboardRoutes(deps: { config: LoadedConfig; spool: Spool; store: Store }): Route[] {
  const { config, spool, store } = deps;
  return [
    { method: 'GET', path: '/', allow: 'anyone', handler: () => redirect('/dashboard/') },
    { method: 'GET', path: '/dashboard/', allow: 'anyone', handler: () => asset('index.html') },  // before /dashboard, whose pattern matches a trailing slash too
    { method: 'GET', path: '/dashboard', allow: 'anyone', handler: () => redirect('/dashboard/') },
    { method: 'GET', path: '/dashboard/:file', allow: 'anyone', handler: (req) => asset(req.params.file!) },
    { method: 'GET', path: '/login', allow: 'anyone', handler: () => asset('login.html') },
    {
      method: 'GET', path: '/dashboard/api/overview',
      handler: async () => ({ body: await overview(config, spool, store) }),
    },
  ];
}

async function overview(config: LoadedConfig, spool: Spool, store: Store, now = new Date()): Promise<DashboardOverview> {
  const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const since = midnight.toISOString();
  let doneToday = 0;
  for (const { record } of await spool.listTasks(['sent'])) {
    if (record.history.some((h) => h.state === 'done' && h.at >= since)) doneToday++;
  }
  // Task ids start with their creation time (UTC), so today's tasks are found without reading the others.
  const firstIdToday = taskIdPrefix(midnight);
  let instancesToday = 0;
  for (const task of await spool.listTasks()) {
    if (task.record.id < firstIdToday) continue;
    instancesToday += task.record.images > 0 ? task.record.images
      : (await readdir(path.join(task.dir, INSTANCES_DIR)).catch(() => [])).length;
  }
  return {
    ...(await spoolStatus(config, now.getTime())),
    alert_after_seconds: config.alerts.stage_age_seconds,
    throughput: { done_today: doneToday, instances_today: instancesToday, instances_total: store.data.counters.instances_received ?? 0 },
    generated_at: now.toISOString(),
  };
}

function taskIdPrefix(at: Date): string {
  const iso = at.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

async function asset(name: string) {
  if (!ASSET.test(name)) throw new HttpError(404, `no dashboard file ${name}`);
  const body = await readFile(path.join(DASHBOARD_DIR, name)).catch(() => { throw new HttpError(404, `no dashboard file ${name}`); });
  // The pages load only their own scripts and styles: an injected <script> or a framing site gets nothing.
  const headers = name.endsWith('.html') ? { 'content-security-policy': CONTENT_SECURITY_POLICY } : undefined;
  return { body, contentType: CONTENT_TYPES[path.extname(name)]!, headers };
}

function redirect(location: string, headers: Record<string, string> = {}) {
  return { status: 303, body: '', contentType: 'text/plain; charset=utf-8', headers: { location, ...headers } };
}
