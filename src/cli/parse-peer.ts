/** A DICOM peer as operators write it on the command line: AET@HOST:PORT (IPv6 hosts in brackets). */
export interface PeerSpec {
  aeTitle: string;
  host: string;
  port: number;
}

const PEER_PATTERN = /^([^@]+)@(\[[^\]]+\]|[^:@]+):(\d+)$/;

/** Parses `PACS@10.0.0.5:104` or `PACS@[fe80::1]:104`; throws with the expected form when it is not that. */
export function parsePeer(text: string): PeerSpec {
  const m = PEER_PATTERN.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not AET@HOST:PORT (e.g. PACS@10.0.0.5:104)`);
  const [, aeTitle, rawHost, rawPort] = m as unknown as [string, string, string, string];
  // AE titles are up to 16 characters of the default repertoire, without backslash or control characters.
  // eslint-disable-next-line no-control-regex -- control characters are what this check refuses
  if (aeTitle.length > 16 || /[\\\x00-\x1f]/.test(aeTitle) || aeTitle.trim() === '') {
    throw new Error(`"${aeTitle}" is not a valid AE title (1-16 characters, no backslash)`);
  }
  const port = Number(rawPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${rawPort} is not 1-65535`);
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  return { aeTitle: aeTitle.trim(), host, port };
}

export function formatPeer(p: PeerSpec): string {
  return `${p.aeTitle}@${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.port}`;
}
