import { z } from 'zod';

/**
 * Identifiers that travel in MQTT topics and URLs. Kept to a safe alphabet so that a
 * device id can never carry topic separators or wildcards ([MQTT-4.7.1]).
 */
export const SafeId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" or "-", at most 64, starting with a letter or digit');
export type SafeId = z.infer<typeof SafeId>;

export const DeviceId = SafeId.brand<'DeviceId'>();
export type DeviceId = z.infer<typeof DeviceId>;
