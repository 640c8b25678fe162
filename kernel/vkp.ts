import { createRequire } from 'node:module';

/**
 * Code systems of Norway's welfare-technology hub (VKP-R4 v0.9.0), kept as data in
 * standards/vkp-codes.json, copied unchanged from the published CodeSystems.
 */
interface CodeSystemFile {
  codeSystems: { url: string; concepts: { code: string; display: string }[] }[];
}

const codes = createRequire(import.meta.url)('./standards/vkp-codes.json') as CodeSystemFile;

function systemOf(suffix: string): { url: string; display: ReadonlyMap<string, string> } {
  const cs = codes.codeSystems.find((s) => s.url.includes(suffix));
  if (!cs) throw new Error(`VKP code system ${suffix} missing from standards/vkp-codes.json`);
  return { url: cs.url, display: new Map(cs.concepts.map((c) => [c.code, c.display])) };
}

export const VKP_ALERT = systemOf('vkp-alert-code');
export const VKP_DISPENSE = systemOf('vkp-medicationdispense-events');
export const VKP_SEVERITY = systemOf('vkp-severity-level');
