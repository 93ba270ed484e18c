import type { Assembly } from './appliance.js';

/** The stages and services of `petspool start`, in flow order. */
export const assembleAppliance: Assembly = async () => {
  return { stages: [], services: [] };
};
