import { X509Certificate } from 'node:crypto';
import { mkdir, open, rm, stat, statfs } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { loadConfig, ConfigError, type LoadedConfig } from '../config/load.js';
import { isSpoolLocked } from '../spool/lock.js';
import { findOnPath } from '../util/find-on-path.js';
import { syncFilesystem } from '../util/sync-filesystem.js';
import { loadTlsFiles, type TlsFiles } from '../tls/pem-files.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** What to do about it, when not ok. */
  fix?: string;
}

/** Everything `petspool doctor` checks, each with a fix an operator can follow. */
export async function runDoctor(configPath?: string): Promise<Check[]> {
  let config: LoadedConfig;
  try {
    config = loadConfig(configPath);
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems.join('; ') : (err as Error).message;
    return [{ name: 'config', ok: false, detail: problems, fix: 'correct the listed keys in the config file' }];
  }
  const checks: Check[] = [{ name: 'config', ok: true, detail: `${config.configPath} is valid` }];
  const running = await isSpoolLocked(config.spool_dir);
  checks.push(await writableFolder('spool folder', config.spool_dir, 'create it or fix its owner: mkdir -p DIR && chown USER DIR'));
  checks.push(await writableFolder('share outbox', config.share.outbox,
    'mount the VPN share (see /etc/fstab) and check that this user may write to it'));
  checks.push(await writableFolder('share inbox', config.share.inbox,
    'mount the VPN share (see /etc/fstab) and check that this user may write to it'));
  checks.push(await freeSpace(config));
  // petspool writes its own upload zips; only the embedded reference service zips its results with 7z.
  checks.push(config.remote.url === 'embedded'
    ? program('7z', '7z', 'apt-get install p7zip-full (the embedded reference service writes its results with it)')
    : { name: '7z', ok: true, detail: 'not needed: the remote service is not the embedded one' });
  checks.push(program('DCMTK', 'storescu', 'apt-get install dcmtk'));
  checks.push(fileSystemFlush(config.spool_dir));
  checks.push(...tlsChecks(config));
  if (running) {
    checks.push({ name: 'ports', ok: true, detail: 'the appliance is running on this spool and holds its ports' });
  } else {
    if (config.dicom.plain !== false) checks.push(await portFree('DICOM port', config.dicom.host, config.dicom.port));
    if (config.dicom.tls) checks.push(await portFree('DICOM TLS port', config.dicom.host, config.dicom.tls.port));
    checks.push(await portFree('API port', config.api.host, config.api.port));
  }
  return checks;
}

/** Every configured set of TLS files: readable PEM, key matching certificate, certificate not expired. */
function tlsChecks(config: LoadedConfig): Check[] {
  const sets: TlsFiles[] = [];
  const { tls } = config.dicom;
  if (tls) sets.push({ where: 'dicom.tls', certFile: tls.cert_file, keyFile: tls.key_file, caFile: tls.ca_file });
  for (const d of config.destinations) {
    if (d.tls) sets.push({ where: `destinations[${d.name}].tls`, caFile: d.tls.ca_file, certFile: d.tls.cert_file, keyFile: d.tls.key_file });
  }
  if (config.remote.ca_file) sets.push({ where: 'remote', caFile: config.remote.ca_file });
  return sets.map(tlsFilesCheck);
}

function tlsFilesCheck(files: TlsFiles): Check {
  const name = `TLS files of ${files.where}`;
  let cert: string | undefined;
  try {
    cert = loadTlsFiles(files).cert as string | undefined;
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message, fix: 'correct the path or the file\'s permissions; the key must be the certificate\'s own' };
  }
  if (!cert) return { name, ok: true, detail: `${files.caFile} is readable` };
  const certificate = new X509Certificate(cert);
  const validTo = new Date(certificate.validTo);
  if (validTo.getTime() < Date.now()) {
    return { name, ok: false, detail: `${files.certFile} expired on ${validTo.toISOString()}`, fix: 'renew the certificate and replace the file' };
  }
  return { name, ok: true, detail: `${files.certFile} (${certificate.subject.replace(/\n/g, ', ')}) valid until ${validTo.toISOString()}` };
}

async function writableFolder(name: string, dir: string, fix: string): Promise<Check> {
  try {
    await mkdir(dir, { recursive: true });
    const probe = path.join(dir, `.tmp-doctor-${process.pid}`);
    const fh = await open(probe, 'w');
    await fh.write('petspool doctor');
    await fh.sync();
    await fh.close();
    await rm(probe);
    const mounted = await isMountPoint(dir);
    return { name, ok: true, detail: `${dir} is writable${mounted ? ' (a mount point)' : ''}` };
  } catch (err) {
    return { name, ok: false, detail: `${dir}: ${(err as Error).message}`, fix };
  }
}

/** A folder on another device than its parent is a mount point (how a mounted share shows). */
async function isMountPoint(dir: string): Promise<boolean> {
  const [a, b] = await Promise.all([stat(dir), stat(path.dirname(path.resolve(dir)))]);
  return a.dev !== b.dev;
}

async function freeSpace(config: LoadedConfig): Promise<Check> {
  const s = await statfs(config.spool_dir);
  const freeMb = Math.floor((s.bavail * s.bsize) / 1024 / 1024);
  const ok = freeMb >= config.dicom.min_free_mb;
  return {
    name: 'free disk', ok,
    detail: `${freeMb} MB free in ${config.spool_dir}; C-STORE is refused below ${config.dicom.min_free_mb} MB`,
    fix: ok ? undefined : 'free space (petspool cleanup --older-than 7d) or lower dicom.min_free_mb',
  };
}

/** The Store SCP's intake journal makes received instances durable with `sync -f` (sync-filesystem.ts). */
function fileSystemFlush(spoolDir: string): Check {
  const name = 'file-system flush';
  try {
    syncFilesystem(spoolDir);
    return { name, ok: true, detail: `sync -f flushes the spool's file system (the Store SCP's intake journal needs it)` };
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message, fix: 'install coreutils 8.24 or later (sync -f), and check the disk holding the spool' };
  }
}

function program(name: string, executable: string, fix: string): Check {
  const found = findOnPath(executable);
  return found ? { name, ok: true, detail: `${found}` } : { name, ok: false, detail: `${executable} not found on PATH`, fix };
}

function portFree(name: string, host: string, port: number): Promise<Check> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve({
      name, ok: false, detail: `${host}:${port} is not free (${err.code})`,
      fix: `stop what listens there (ss -ltnp | grep :${port}) or change the port in the config`,
    }));
    server.listen(port, host, () => server.close(() => resolve({ name, ok: true, detail: `${host}:${port} is free` })));
  });
}
