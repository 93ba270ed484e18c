/**
 * The optional quality-control hold. The gate stage (unpacked → sending) parks a task in
 * awaiting_qc/ when QC is required (operator setting, else config.yaml); an operator then looks at
 * the previews and approves or rejects it (operations/qc-operations.ts).
 */
import type { LoadedConfig } from '../config/load.js';
import type { Store } from '../db/store.js';
import type { Stage } from '../runner/stage.js';
import { effectiveQcRequired } from '../settings/effective-settings.js';

export function qcGateStage(opts: { config: Pick<LoadedConfig, 'qc'>; store: Store }): Stage {
  return {
    name: 'qc-gate',
    from: 'unpacked',
    to: 'sending',
    process: async () => {
      const qc = effectiveQcRequired(opts.config, opts.store.data);
      if (qc.required) return { kind: 'done', to: 'awaiting_qc', detail: `held for quality control (qc.required, ${qc.source})` };
      return { kind: 'done', detail: 'quality control not required' };
    },
  };
}
