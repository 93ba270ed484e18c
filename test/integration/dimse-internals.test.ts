import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { assertDimseInternals, detachDimseReader, processPduInDimse } from '../../src/dicom/dimse-internals.js';
import { CommandField, encodeCommandPdu, encodeResponse, parseCommand } from '../../src/dicom/dimse-command.js';
import { PduReader } from '../../src/dicom/pdu-reader.js';
import { VERIFICATION_SOP_CLASS } from '../../src/dicom/sop-classes.js';
import { runDcmtk } from '../fixtures/dcmtk.js';

const require = createRequire(import.meta.url);
const dimse = require('dcmjs-dimse') as typeof import('dcmjs-dimse');
const { PresentationContextResult } = dimse.constants;
const repoRoot = new URL('../../../', import.meta.url);

test('dcmjs-dimse is pinned to the exact version installed, in package.json and package-lock.json', () => {
  const installed = (JSON.parse(fs.readFileSync(new URL('node_modules/dcmjs-dimse/package.json', repoRoot), 'utf8')) as { version: string }).version;
  const pkg = JSON.parse(fs.readFileSync(new URL('package.json', repoRoot), 'utf8')) as { dependencies: Record<string, string> };
  const lock = JSON.parse(fs.readFileSync(new URL('package-lock.json', repoRoot), 'utf8')) as { packages: Record<string, { version?: string; dependencies?: Record<string, string> }> };
  assert.equal(pkg.dependencies['dcmjs-dimse'], installed, 'src/dicom/dimse-internals.ts relies on internals of this exact version: pin it (no ^ or ~)');
  assert.equal(lock.packages['']!.dependencies!['dcmjs-dimse'], installed);
  assert.equal(lock.packages['node_modules/dcmjs-dimse']!.version, installed);
  assert.equal(dimse.version, installed);
});

test('assertDimseInternals names what is missing when an Scp lacks _processPdu', () => {
  assert.doesNotThrow(() => assertDimseInternals(dimse.Scp, dimse.version));
  class Changed {}
  assert.throws(() => assertDimseInternals(Changed, '9.9.9'), /dcmjs-dimse 9\.9\.9 has no _processPdu\(pdu\)/);
});

/**
 * On a real association from echoscu: dcmjs-dimse's Scp reads its socket through exactly one
 * 'data' listener (which detachDimseReader removes: nothing reaches dcmjs-dimse afterwards but
 * what processPduInDimse hands it), and _processPdu turns whole PDUs into associationRequested and
 * associationReleaseRequested. The C-ECHO in between is answered here, as scp.ts does.
 */
test('on a real association, dcmjs-dimse negotiates from whole PDUs handed to _processPdu after its reader is detached', async () => {
  const seen: { dataListeners?: number; callingAeTitle?: string; released: boolean; pdvsToDimse: number; echoes: number } = { released: false, pdvsToDimse: 0, echoes: 0 };

  class Probe extends dimse.Scp {
    private readonly reader = new PduReader();
    constructor(socket: net.Socket) {
      super(socket);
      seen.dataListeners = socket.listenerCount('data');
      detachDimseReader(socket);
      socket.on('data', (data: Buffer) => {
        for (const pdu of this.reader.push(data)) {
          if (pdu[0] !== 0x04) {
            processPduInDimse(this, pdu);
            continue;
          }
          // P-DATA: one command PDV (a C-ECHO request), answered directly.
          const command = parseCommand(pdu.subarray(12));
          if (command.commandField === CommandField.CEchoRequest) {
            seen.echoes++;
            socket.write(encodeCommandPdu(pdu[10]!, encodeResponse(command, CommandField.CEchoResponse, 0)));
          }
        }
      });
    }

    associationRequested(association: import('dcmjs-dimse').association.Association): void {
      seen.callingAeTitle = association.getCallingAeTitle().trim();
      for (const { id } of association.getPresentationContexts()) {
        const pc = association.getPresentationContext(id);
        if (pc.getAbstractSyntaxUid() === VERIFICATION_SOP_CLASS) pc.setResult(PresentationContextResult.Accept, '1.2.840.10008.1.2');
        else pc.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
      }
      this.sendAssociationAccept();
    }

    associationReleaseRequested(): void {
      seen.released = true;
      this.sendAssociationReleaseResponse();
    }

    cEchoRequest(): void {
      // Would mean dcmjs-dimse still reads P-DATA from the socket itself.
      seen.pdvsToDimse++;
    }
  }

  const server = net.createServer((socket) => new Probe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const run = await runDcmtk('echoscu', ['-aet', 'PROBE', '-aec', 'PETSPOOL', '127.0.0.1', String(port)]);
    assert.equal(run.code, 0, `echoscu: ${run.stderr}`);
    assert.equal(seen.dataListeners, 1, 'dcmjs-dimse Scp no longer reads its socket through one data listener');
    assert.equal(seen.callingAeTitle, 'PROBE', '_processPdu did not turn the A-ASSOCIATE-RQ into associationRequested');
    assert.equal(seen.echoes, 1);
    assert.equal(seen.pdvsToDimse, 0, 'P-DATA reached dcmjs-dimse although its reader was detached');
    assert.equal(seen.released, true, '_processPdu did not turn the A-RELEASE-RQ into associationReleaseRequested');
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
