/**
 * The web dashboard: static files from src/dashboard/ (plain ES modules, no build step), a login
 * page that puts the API token into the session cookie, and the overview figures the dashboard
 * needs besides the task, QC and settings routes. The static files hold no data, so they are served
 * without the token; every figure comes from a token-protected route.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError, type Route } from '../router.js';
import { SESSION_COOKIE } from '../server.js';
import { PACKAGE_ROOT, type LoadedConfig } from '../../config/load.js';
import type { Spool } from '../../spool/spool.js';
import type { Store } from '../../db/store.js';
import { INSTANCES_DIR } from '../../spool/layout.js';
import { spoolStatus, type SpoolStatus } from '../../operations/spool-status.js';

export const DASHBOARD_DIR = path.join(PACKAGE_ROOT, 'src', 'dashboard');
const SESSION_SECONDS = 12 * 3600;
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};
const ASSET = /^[a-z0-9-]+\.(html|css|js|svg)$/;

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
    { method: 'GET', path: '/', auth: false, handler: () => redirect('/dashboard/') },
    { method: 'GET', path: '/dashboard/', auth: false, handler: () => asset('index.html') },  // before /dashboard, whose pattern matches a trailing slash too
    { method: 'GET', path: '/dashboard', auth: false, handler: () => redirect('/dashboard/') },
    { method: 'GET', path: '/dashboard/:file', auth: false, handler: (req) => asset(req.params.file!) },
    { method: 'GET', path: '/login', auth: false, handler: () => asset('login.html') },
    {
      method: 'POST', path: '/login', auth: false, raw: true,
      handler: async (req) => {
        const token = new URLSearchParams(await readSmallBody(req.raw!)).get('token') ?? '';
        if (!sameSecret(token, config.api.token)) return redirect('/login?failed=1');
        const cookie = `${SESSION_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_SECONDS}`;
        return redirect('/dashboard/', { 'set-cookie': cookie });
      },
    },
    {
      method: 'POST', path: '/logout', auth: false,
      handler: () => redirect('/login', { 'set-cookie': `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` }),
    },
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
  return { body, contentType: CONTENT_TYPES[path.extname(name)]! };
}

function redirect(location: string, headers: Record<string, string> = {}) {
  return { status: 303, body: '', contentType: 'text/plain; charset=utf-8', headers: { location, ...headers } };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readSmallBody(req: IncomingMessage, max = 4096): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new HttpError(413, 'login form too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
