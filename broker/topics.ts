import { HubError } from '../kernel/errors.js';
import type { ProfileSet } from '../device-profiles/load.js';
import { commandTopicProblem } from '../device-profiles/versions.js';

/**
 * Topic rules that do not depend on who is connected: which topics are device
 * publish topics at all (for the service account), and sanity checks on names.
 */

// The alphabet of kernel/ids.ts SafeId: no separators or wildcards can hide in a device id.
const DEVICE_ID = '[A-Za-z0-9][A-Za-z0-9._-]{0,63}';
const WILDCARD_OR_NUL = /[#+\0]/;

type Level = { readonly literal: string } | { readonly pattern: RegExp; readonly wholeLevel: boolean };

/** One profile topic template such as `devices/{deviceId}/events`, split into levels. */
type Template = readonly Level[];

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function compileTemplate(template: string): Template {
  return template.split('/').map((level): Level => {
    if (!level.includes('{deviceId}')) return { literal: level };
    const source = level.split('{deviceId}').map(escapeRegExp).join(DEVICE_ID);
    return { pattern: new RegExp(`^${source}$`), wholeLevel: level === '{deviceId}' };
  });
}

/** Does every topic matched by `filter` fit the template? ('#' never does: templates have fixed depth.) */
function covers(template: Template, filter: readonly string[]): boolean {
  if (template.length !== filter.length) return false;
  return template.every((level, i) => {
    const f = filter[i]!;
    if (f === '#') return false;
    if ('literal' in level) return f === level.literal;
    // '+' [MQTT-4.7.1-3] stands for any device id only where the whole level is the id.
    return f === '+' ? level.wholeLevel : level.pattern.test(f);
  });
}

export interface DeviceTopics {
  /** A concrete topic some device of some profile may publish on. */
  isPublishTopic(topic: string): boolean;
  /** A subscription filter that can only ever match device publish topics. */
  isPublishFilter(filter: string): boolean;
}

/**
 * Rebuilt whenever the profile set's `decoders` map is another one (a version was
 * published while the broker runs, device-profiles/versions.ts). At the start a bad
 * command topic stops the broker; a later version with one (never published: the API
 * checks it, commandTopicProblem()) is left out.
 */
export function deviceTopics(profiles: ProfileSet): DeviceTopics {
  let seen = profiles.decoders;
  let fits = compileTopics(seen, true);
  const current = (): ((levels: string[]) => boolean) => {
    if (profiles.decoders !== seen) {
      seen = profiles.decoders;
      fits = compileTopics(seen, false);
    }
    return fits;
  };
  return {
    isPublishTopic: (topic) => !WILDCARD_OR_NUL.test(topic) && current()(topic.split('/')),
    isPublishFilter: (filter) => !filter.includes('\0') && current()(filter.split('/')),
  };
}

function compileTopics(decoders: ProfileSet['decoders'], strict: boolean): (levels: string[]) => boolean {
  const sources = new Set<string>();
  for (const { profile } of decoders.values()) {
    const problem = commandTopicProblem(profile.commandTopic);
    if (problem && strict) throw new HubError('CONFIG_INVALID', `profile ${profile.id}: commandTopic ${problem}`);
    if (problem) continue;
    profile.topics.forEach((t) => sources.add(t));
  }
  const templates = [...sources].map(compileTemplate);
  return (levels) => templates.some((t) => covers(t, levels));
}
