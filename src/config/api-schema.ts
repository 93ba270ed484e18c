/**
 * The `api:` section: where the API and dashboard listen, HTTPS, and one credential per role
 * (docs/security.md). Tokens and names are checked here so a bad file is refused at start with
 * the dotted path, before anything listens.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

const port = z.number({ error: 'must be an integer 1-65535' }).int('must be an integer 1-65535')
  .min(1, 'must be an integer 1-65535').max(65535, 'must be an integer 1-65535');
const text = (what: string) => z.string({ error: `must be a text (${what})` }).min(1, `must not be empty (${what})`);
const positive = (what: string) => z.number({ error: `must be a number > 0 (${what})` }).positive(`must be a number > 0 (${what})`);

export const MIN_TOKEN_LENGTH = 16;
/** Shipped placeholder tokens start with this; they are refused on a network-facing API. */
export const PLACEHOLDER_PREFIX = 'change-me';

const token = (what: string) => z.string({ error: `must be a text (${what})` })
  .min(MIN_TOKEN_LENGTH, `must be at least ${MIN_TOKEN_LENGTH} characters (${what}); make one with: openssl rand -hex 24`);
/** Operator and submitter names. */
export const ACCOUNT_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
const accountName = z.string({ error: 'must be a name' }).regex(ACCOUNT_NAME, 'must be 1-64 letters, digits, ., _, @ or -');

/** A self-describing scrypt hash, as `petspool hash-password` prints it. */
export const SCRYPT_HASH = /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/;

const operatorSchema = z.object({
  name: accountName,
  /** For the dashboard login: `petspool hash-password` makes it. */
  password_scrypt: z.string({ error: 'must be a text' })
    .regex(SCRYPT_HASH, 'must be a hash made by `petspool hash-password` (scrypt$N$r$p$salt$hash)').optional(),
  /** For the CLI and scripts: Authorization: Bearer <token>. */
  token: token('operator token').optional(),
}).strict().refine((o) => o.password_scrypt !== undefined || o.token !== undefined,
  { error: 'give the operator a password_scrypt (dashboard), a token (CLI), or both' });

const submitterSchema = z.object({ name: accountName, token: token('submitter token') }).strict();

const REPLACED_TOKEN = 'api.token is no longer used: one token opened everything. Replace it with api.callback_token (the remote '
  + 'service\'s callback), api.metrics_token (Prometheus), api.submitters (upload API) and api.operators (dashboard and CLI); '
  + 'see docs/security.md';

export const apiSchema = z.object({
  host: text('listen address'),
  port,
  /** Refused with a message naming its replacements (an old config must not silently keep working half-secured). */
  token: z.never({ error: REPLACED_TOKEN }).optional(),
  /** Base URL the remote service calls back on (POST {public_url}/process_ready); default the API's own address. */
  public_url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  /** HTTPS: PEM certificate (chain) and private key. Without it the API listens on loopback only. */
  tls: z.object({ cert_file: text('PEM certificate file'), key_file: text('PEM private key file') }).strict().optional(),
  /** The remote processing service's token: reaches POST /process_ready only. */
  callback_token: token('the remote service\'s callback token'),
  /** Prometheus' token: reaches GET /metrics only. */
  metrics_token: token('Prometheus\' token').optional(),
  /** Upload API clients: they see only the uploads and tasks they submitted. */
  submitters: z.array(submitterSchema, { error: 'must be a list of {name, token}' }).default([]),
  /** Named people: dashboard, task/QC/settings actions, the CLI. */
  operators: z.array(operatorSchema, { error: 'must be a list of {name, password_scrypt and/or token}' })
    .min(1, 'name at least one operator (dashboard and CLI); see docs/security.md'),
  /** Dashboard sessions end after this long without a request, and after max_hours whatever happens. */
  sessions: z.object({
    idle_minutes: positive('minutes without a request').default(30),
    max_hours: positive('hours after the login').default(12),
  }).strict().default({ idle_minutes: 30, max_hours: 12 }),
}).strict().superRefine((api, ctx) => {
  if (!api.tls && !isLoopback(api.host)) {
    ctx.addIssue({
      code: 'custom', path: ['host'],
      message: `${api.host} is reachable from the network: plain HTTP is allowed only on loopback (127.0.0.1, ::1, localhost). `
        + 'Set api.tls.cert_file and api.tls.key_file for HTTPS, or listen on 127.0.0.1',
    });
  }
  const tokens: { path: (string | number)[]; value: string }[] = [
    { path: ['callback_token'], value: api.callback_token },
    ...(api.metrics_token ? [{ path: ['metrics_token'], value: api.metrics_token }] : []),
    ...api.submitters.map((s, i) => ({ path: ['submitters', i, 'token'], value: s.token })),
    ...api.operators.flatMap((o, i) => (o.token ? [{ path: ['operators', i, 'token'], value: o.token }] : [])),
  ];
  const seen = new Map<string, string>();
  for (const t of tokens) {
    const where = t.path.join('.');
    const first = seen.get(t.value);
    if (first) ctx.addIssue({ code: 'custom', path: t.path, message: `the same token as api.${first}: every credential needs its own token` });
    else seen.set(t.value, where);
    if (!isLoopback(api.host) && t.value.startsWith(PLACEHOLDER_PREFIX)) {
      ctx.addIssue({ code: 'custom', path: t.path, message: 'still the shipped placeholder: the API is reachable from the network; make a token with openssl rand -hex 24' });
    }
  }
  duplicateNames(api.operators, 'operators', ctx);
  duplicateNames(api.submitters, 'submitters', ctx);
});

function duplicateNames(accounts: { name: string }[], list: string, ctx: z.RefinementCtx): void {
  const names = new Set<string>();
  accounts.forEach((a, i) => {
    if (names.has(a.name)) ctx.addIssue({ code: 'custom', path: [list, i, 'name'], message: `${a.name} is named twice in api.${list}` });
    names.add(a.name);
  });
}

/** Addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export type ApiConfig = z.infer<typeof apiSchema>;
export type OperatorConfig = z.infer<typeof operatorSchema>;
