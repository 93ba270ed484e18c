import { z } from 'zod';
import { apiSchema } from './api-schema.js';

/** Messages say what a valid value looks like, so an operator can fix the file without the docs. */
const port = z.number({ error: 'must be an integer 1-65535' }).int('must be an integer 1-65535')
  .min(1, 'must be an integer 1-65535').max(65535, 'must be an integer 1-65535');
const nonNegative = (what: string) => z.number({ error: `must be a number >= 0 (${what})` })
  .min(0, `must be a number >= 0 (${what})`);
const positiveInt = (what: string) => z.number({ error: `must be an integer >= 1 (${what})` })
  .int(`must be an integer >= 1 (${what})`).min(1, `must be an integer >= 1 (${what})`);
const text = (what: string) => z.string({ error: `must be a text (${what})` }).min(1, `must not be empty (${what})`);
/** DICOM AE titles: 1-16 characters, no backslash or control characters. */
const aeTitle = z.string({ error: 'must be an AE title (1-16 characters)' })
  // eslint-disable-next-line no-control-regex -- control characters are what an AE title must not contain
  .regex(/^[^\\\x00-\x1f]{1,16}$/, 'must be an AE title (1-16 characters, no backslash)');

const yesNo = z.boolean({ error: 'must be true or false' });

/**
 * DICOM TLS towards a destination: the peer's certificate is checked against ca_file (never
 * skipped); cert_file/key_file are our client certificate, for peers that require one.
 */
export const destinationTlsSchema = z.object({
  ca_file: text('PEM file of the CA that signed the destination\'s certificate'),
  cert_file: text('PEM file of our client certificate').optional(),
  key_file: text('PEM file of the key of our client certificate').optional(),
}).strict().superRefine((v, ctx) => {
  if (!v.cert_file !== !v.key_file) {
    ctx.addIssue({ code: 'custom', path: [v.cert_file ? 'key_file' : 'cert_file'], message: 'cert_file and key_file go together: give both or neither' });
  }
});

export const destinationSchema = z.object({
  name: text('destination name'),
  ae_title: aeTitle,
  host: text('host name or address'),
  port,
  /** Also send the results back to the AE that sent the original series. */
  mirror: yesNo.default(false),
  /** Present: C-STORE over DICOM TLS. */
  tls: destinationTlsSchema.optional(),
}).strict();

/** The Store SCP's DICOM TLS listener (registered port 2762), next to or instead of the plain one. */
const dicomTlsSchema = z.object({
  port,
  cert_file: text('PEM file of the appliance\'s certificate'),
  key_file: text('PEM file of the key of that certificate'),
  ca_file: text('PEM file of the CA that signs the senders\' certificates').optional(),
  require_client_certificate: yesNo.default(true),
}).strict().superRefine((v, ctx) => {
  if (v.require_client_certificate && !v.ca_file) {
    ctx.addIssue({ code: 'custom', path: ['ca_file'], message: 'needed when require_client_certificate is true: the CA that signs the senders\' certificates' });
  }
});

export const filterSchema = z.object({
  name: z.string({ error: 'must be a name' }).regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 letters, digits, _ or -'),
  fwhm_mm: nonNegative('FWHM in mm; 0 = unfiltered'),
  blend: z.number({ error: 'must be a number 0-1' }).min(0, 'must be a number 0-1').max(1, 'must be a number 0-1').optional(),
  series_description: z.string({ error: 'must be a text' }).optional(),
  scanner_models: z.array(z.string({ error: 'must be a text' })).optional(),
  radiopharmaceuticals: z.array(z.string({ error: 'must be a text' })).optional(),
}).strict();

export const configSchema = z.object({
  ae_title: aeTitle,
  dicom: z.object({
    host: text('listen address'),
    port,
    allowed_calling_ae_titles: z.array(aeTitle, { error: 'must be a list of AE titles' }),
    max_associations: positiveInt('concurrent associations'),
    min_free_mb: nonNegative('MB of free disk below which C-STORE is refused'),
    /** false = nothing listens on dicom.port: DICOM TLS (dicom.tls) only. Absent = true. */
    plain: yesNo.optional(),
    tls: dicomTlsSchema.optional(),
  }).strict().superRefine((v, ctx) => {
    if (v.plain === false && !v.tls) ctx.addIssue({ code: 'custom', path: ['plain'], message: 'false needs dicom.tls, or nothing would listen for DICOM' });
    if (v.plain !== false && v.tls?.port === v.port) ctx.addIssue({ code: 'custom', path: ['tls', 'port'], message: 'must differ from dicom.port (the plain port)' });
  }),
  spool_dir: text('spool folder'),
  database: text('database file'),
  share: z.object({
    outbox: text('upload folder on the share'),
    inbox: text('results folder on the share'),
    poll_seconds: z.number({ error: 'must be a number > 0' }).positive('must be a number > 0'),
  }).strict(),
  api: apiSchema,
  remote: z.object({
    url: z.union([z.literal('embedded'), z.url({ error: 'must be "embedded" or an http(s) URL' })],
      { error: 'must be "embedded" or an http(s) URL' }),
    client_id: z.string({ error: 'must be a client id' }).regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, ., _ or -'),
    token: text('token for the remote service'),
    give_up_after_seconds: positiveInt('seconds'),
    processing_timeout_seconds: positiveInt('seconds'),
    /** PEM file of a private CA that signed the service's https certificate; absent = the system's trust store. */
    ca_file: text('PEM file of the CA of the service\'s https certificate').optional(),
  }).strict().superRefine((v, ctx) => {
    if (v.ca_file && !v.url.startsWith('https://')) ctx.addIssue({ code: 'custom', path: ['ca_file'], message: 'only used with an https:// remote.url' });
  }),
  destinations: z.array(destinationSchema, { error: 'must be a list of destinations' }),
  compilator: z.object({
    quiet_seconds: nonNegative('seconds'),
    min_images: positiveInt('images'),
    max_gap_ratio: z.number({ error: 'must be a number 0-1' }).min(0, 'must be a number 0-1').max(1, 'must be a number 0-1'),
    abort_incomplete_after_seconds: positiveInt('seconds'),
  }).strict(),
  filters: z.array(filterSchema, { error: 'must be a list of filters' }),
  output: z.object({
    series_number_offset: z.number({ error: 'must be an integer 0-99999' }).int('must be an integer 0-99999')
      .min(0, 'must be an integer 0-99999').max(99999, 'must be an integer 0-99999'),
  }).strict(),
  /**
   * Optional: limits on a zip archive dropped into the hot folder or uploaded (zip bombs). An
   * archive past one is refused whole, with the limit named in its reason.
   */
  zip_intake: z.object({
    max_entries: positiveInt('entries in one archive').default(50_000),
    max_total_mb: positiveInt('MB all entries of one archive expand to').default(20_480),
    max_entry_mb: positiveInt('MB one entry expands to').default(1024),
  }).strict().default({ max_entries: 50_000, max_total_mb: 20_480, max_entry_mb: 1024 }),
  /** Optional: what the validator lets through besides the header rules. */
  validator: z.object({
    /**
     * Take series whose pixels are or were lossy-compressed (JPEG baseline, JPEG-LS near-lossless,
     * irreversible JPEG 2000, LossyImageCompression 01). The results are then marked lossy too.
     */
    accept_lossy: z.boolean({ error: 'must be true or false' }).default(true),
  }).strict().default({ accept_lossy: true }),
  qc: z.object({ required: z.boolean({ error: 'must be true or false' }) }).strict(),
  alerts: z.object({ stage_age_seconds: positiveInt('seconds') }).strict(),
  /**
   * Optional: backoff of the retries that wait for something outside to heal (remote service,
   * share, destinations). Absent: each stage's own default (about 1-5 s doubling to 5 min).
   */
  retry: z.object({
    initial_seconds: z.number({ error: 'must be a number > 0' }).positive('must be a number > 0'),
    max_seconds: z.number({ error: 'must be a number > 0' }).positive('must be a number > 0'),
  }).strict().optional(),
}).strict();

export type Config = z.infer<typeof configSchema>;
export type DestinationConfig = z.infer<typeof destinationSchema>;
export type DestinationTlsConfig = z.infer<typeof destinationTlsSchema>;
export type FilterConfig = z.infer<typeof filterSchema>;
