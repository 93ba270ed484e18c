/**
 * Validator stage: compiled/ -> validated/. A series goes on only when its headers carry what
 * processing and SUV need, its tracer is known, a destination is configured, and the remote service
 * confirms the licence (POST /check_model). A lossy-compressed source is recorded in the facts, and
 * refused when the site says so (validator.accept_lossy). Header problems fail the task with every reason; a
 * licence refusal fails it with the service's words; an unreachable service is retried with backoff
 * until remote.give_up_after_seconds.
 */
import type { ApplianceParts } from '../runner/appliance-parts.js';
import { effectiveDestinations, effectiveRadiopharmaceuticals } from '../settings/effective-settings.js';
import { RemoteUnavailableError, type LicenceCheck, type RemoteClient } from '../remote/client.js';
import { describeLossySource, lossySource } from '../rules/lossy-source.js';
import { validateSeries } from '../rules/validation.js';
import { countsConversion, describeCountsConversion } from '../rules/activity-units.js';
import type { Stage, StageJob, StageOutcome } from '../runner/stage.js';
import { IncompleteHeaderError, seriesMetadata, type HeaderMetadata } from '../remote/series-metadata.js';
import { readTaskInstances } from './task-headers.js';

/** What each refusal code of /check_model means, for the failure reason an operator reads. */
const LICENCE_MEANING: Record<Extract<LicenceCheck, { ok: false }>['code'], string> = {
  405: 'no active licence',
  406: 'no licence for this radiopharmaceutical',
  407: 'no model for these reconstruction parameters',
};

export function validatorStage(parts: ApplianceParts, remote: RemoteClient,
  opts: { backoff?: { initialMs: number; maxMs: number } } = {}): Stage {
  const { config, store } = parts;
  return {
    name: 'validator',
    from: 'compiled',
    to: 'validated',
    concurrency: 2,
    giveUpAfterMs: config.remote.give_up_after_seconds * 1000,
    backoff: opts.backoff ?? { initialMs: 1000, maxMs: 300_000 },
    async process(job: StageJob): Promise<StageOutcome> {
      const headers = (await readTaskInstances(job.dir)).map((i) => i.header);
      const result = validateSeries(headers, {
        destinationsConfigured: effectiveDestinations(config, store.data).length,
        radiopharmaceuticals: effectiveRadiopharmaceuticals(store.data),
      });
      const lossy = lossySource(headers);
      const reasons = result.ok ? [] : [...result.reasons];
      if (lossy && !config.validator.accept_lossy) {
        reasons.push(`lossy-compressed pixel data in ${describeLossySource(lossy)}; this site takes no lossy input (validator.accept_lossy: false): ask the sender for a lossless or uncompressed transfer syntax`);
      }
      if (!result.ok || reasons.length) return { kind: 'fail', reason: reasons.join('; ') };

      let metadata;
      try {
        metadata = seriesMetadata(headers, result.tracer, { taskId: job.id, clientId: config.remote.client_id });
      } catch (err) {
        if (err instanceof IncompleteHeaderError) return { kind: 'fail', reason: err.message };
        throw err;
      }

      let licence: LicenceCheck;
      try {
        licence = await remote.checkModel(metadata);
      } catch (err) {
        if (err instanceof RemoteUnavailableError) return { kind: 'retry', reason: `licence check: ${err.message}` };
        // The service understood and refused the request itself (wrong token, bad request): an operator must act.
        return { kind: 'fail', reason: `licence check refused: ${(err as Error).message}` };
      }
      if (!licence.ok) {
        return { kind: 'fail', reason: `${LICENCE_MEANING[licence.code]} (${licence.code}): ${licence.message}` };
      }
      job.log.info(`valid ${result.tracer.name} series of ${headers.length} images; licence confirmed`);
      const conversion = countsConversion(headers);
      if (conversion) job.log.info(describeCountsConversion(conversion));
      if (lossy) job.log.info(`lossy-compressed source: ${describeLossySource(lossy)}; the results are marked lossy too`);
      return {
        kind: 'done',
        // The task's history (dashboard, tasks show) says when the values were converted.
        detail: conversion ? `valid; licence confirmed; ${describeCountsConversion(conversion)}` : 'valid; licence confirmed',
        facts: {
          radiopharmaceutical: result.tracer.id,
          radiopharmaceutical_name: result.tracer.name,
          nuclide: result.tracer.nuclide,
          reconstruction_method: metadata.reconstruction.method,
          licence_confirmed_at: new Date().toISOString(),
          ...(conversion ? { units_conversion: { ...conversion, description: describeCountsConversion(conversion) } } : {}),
          decay_correction: decayCorrectionFact(metadata),
          ...(lossy ? { source_lossy_compression: { slices: lossy.slices, methods: lossy.methods, mean_ratio: lossy.meanRatio, evidence: lossy.evidence } } : {}),
        },
      };
    },
  };
}

/**
 * The decay correction of the values, and the time SUV decays the dose to (metadata.json's
 * decay_reference_datetime): worth a look by whoever reads SUVs off the results.
 */
function decayCorrectionFact(metadata: HeaderMetadata): Record<string, unknown> {
  const mode = String(metadata.reconstruction.decay_correction ?? '').toUpperCase();
  const meaning: Record<string, string> = {
    START: 'decay-corrected to the acquisition start',
    ADMIN: 'decay-corrected to the injection (administration): SUV takes the dose undecayed',
    NONE: 'not decay-corrected: values are as measured, each at its own acquisition time; SUV needs the dose decayed to that time',
  };
  return { mode, reference_datetime: metadata.decay_reference_datetime ?? null, meaning: meaning[mode] ?? 'unknown' };
}
