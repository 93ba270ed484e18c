import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { printJson, type GlobalArgs } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { peerAddress, withPeerOptions, type PeerArgs } from '../dicom-peer-args.js';
import { formatPeer } from '../parse-peer.js';
import { sendFiles } from '../../dicom/scu.js';

interface Args extends PeerArgs { dir: string; to: string; json?: boolean }

/**
 * Every file under `dir`, recursively, in name order. Not filtered by content: a file that is not
 * DICOM is reported as a failure by the sender, so nothing in the folder goes unmentioned.
 * Hidden files and DICOMDIR (a media index, not an image) are left out.
 */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name.toUpperCase() === 'DICOMDIR') continue;
      const full = path.join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.push(full);
    }
  };
  await walk(dir);
  return out;
}

export const sendCommand: CommandModule<GlobalArgs, Args> = {
  command: 'send <dir>',
  describe: 'C-STORE every file under DIR (recursively) to --to AET@HOST:PORT over one association (DICOM TLS with --tls-ca); exit 1 if any failed',
  builder: (y) => withPeerOptions(y)
    .positional('dir', { type: 'string', demandOption: true, describe: 'folder (or a single file) to send' })
    .option('to', { type: 'string', demandOption: true, describe: 'destination AET@HOST:PORT' })
    .option('json', { type: 'boolean', describe: 'print JSON' }),
  handler: async (args) => {
    const { peer, spec } = peerAddress(args.to, args);
    const source = path.resolve(args.dir);
    const kind = await stat(source).catch(() => undefined);
    if (!kind) throw new CliError(`${source} does not exist`, EXIT.CONFIG);
    const files = kind.isDirectory() ? await filesUnder(source) : [source];
    if (files.length === 0) throw new CliError(`no files found in ${source}`, EXIT.FAILED);
    const target = formatPeer(spec);
    const started = performance.now();
    let result;
    try {
      result = await sendFiles({ ...peer, files });
    } catch (err) {
      throw new CliError(`nothing sent to ${target}: ${(err as Error).message}`, EXIT.FAILED);
    }
    const seconds = (performance.now() - started) / 1000;
    const failed = result.failed.map((f) => ({ file: path.relative(source, f.file) || path.basename(f.file), status: f.status, message: f.message }));
    if (args.json) {
      printJson({ target, calling_ae_title: peer.callingAeTitle, files: files.length, sent: result.sent, failed, seconds: Number(seconds.toFixed(3)) });
    } else {
      const lines = [`sent ${result.sent} of ${files.length} files to ${target} in ${seconds.toFixed(2)} s`
        + (failed.length ? `; ${failed.length} failed:` : '')];
      for (const f of failed) lines.push(`  ${f.file}: ${f.status === null ? '' : `status 0x${f.status.toString(16).toUpperCase().padStart(4, '0')}: `}${f.message}`);
      process.stdout.write(lines.join('\n') + '\n');
    }
    if (result.failed.length > 0) process.exitCode = EXIT.FAILED;
  },
};
