/**
 * A Store SCP alone in a process of its own, for tests that kill it: `node scp-process.js
 * RECEIVED_DIR` prints the port it listens on, then runs until it is killed.
 */
import { silentLogger } from '../../src/log/logger.js';
import { startStoreScp } from '../../src/dicom/scp.js';

const scp = await startStoreScp({
  host: '127.0.0.1', port: 0, aeTitle: 'PETSPOOL', allowedCallingAeTitles: [], maxAssociations: 4,
  minFreeMb: 1, receivedDir: process.argv[2]!, logger: silentLogger, onStored: () => undefined,
});
process.stdout.write(`${scp.port}\n`);
