import type { Assembly } from './appliance.js';
import { startIntake } from './intake.js';

/** The stages and services of `petspool start`, in flow order. */
export const assembleAppliance: Assembly = async (parts) => {
  const intake = await startIntake(parts);
  return { stages: [...intake.stages], services: [...intake.services] };
};
