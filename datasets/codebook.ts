import { shapesOf, type Profile } from '../device-profiles/schema.js';
import type { Catalogue } from '../kernel/measurements.js';
import { VKP_ALERT, VKP_DISPENSE, VKP_SEVERITY } from '../kernel/vkp.js';
import type { Cell, Column, DatasetAudience } from './columns.js';
import { csvRecord } from './formats.js';
import { ALARM_SOURCE_ID } from '../kernel/alarms.js';
import { ALARM_ATTRIBUTES, ALARM_EVENTS } from './hub-events.js';

/**
 * What every column, measurement, unit and event code of a trial's datasets means,
 * generated from the device profiles and the catalogue (names, labels in English and
 * Norwegian, LOINC/SNOMED codes), so that a researcher can load a dataset without
 * asking anyone. Deterministic: the same trial and profiles give the same codebook.
 */
export interface Codebook {
  readonly trialId: string;
  readonly audiences: readonly DatasetAudience[];
  readonly columns: readonly { name: string; type: string; description: string; audiences: readonly DatasetAudience[] }[];
  readonly profiles: readonly { id: string; version: string; vendor: string; model: string; family: string }[];
  readonly measurements: readonly {
    name: string;
    label: string;
    labelNb: string;
    unit: string;
    loinc: string | null;
    snomed: string | null;
    profiles: string[];
  }[];
  readonly events: readonly {
    name: string;
    meaning: string;
    meaningNb: string;
    snomed: string | null;
    alertCode: string | null;
    alertDisplay: string | null;
    dispenseCode: string | null;
    dispenseDisplay: string | null;
    severity: number;
    profiles: string[];
  }[];
  readonly severities: readonly { code: number; display: string }[];
  /** Every key an event's attributes can hold, and which events and profiles use it. */
  readonly attributes: readonly { key: string; meaning: string; events: string[]; profiles: string[] }[];
  /** Code columns are text: "1.10" is not 1.1. How to load them so. */
  readonly readAs: { readonly textColumns: readonly string[]; readonly pandas: string; readonly r: string };
  readonly codeSystems: { readonly alert: string; readonly dispense: string; readonly severity: string; readonly units: string };
}

export function buildCodebook(
  trialId: string,
  audiences: readonly DatasetAudience[],
  columns: readonly Column[],
  profiles: readonly Profile[],
  catalogue: Catalogue,
): Codebook {
  const sorted = [...profiles].sort((a, b) => a.id.localeCompare(b.id));
  const measurements = new Map<string, string[]>();
  const events = new Map<string, Codebook['events'][number]>();
  for (const p of sorted) {
    const shapes = shapesOf(p);
    for (const r of shapes.flatMap((s) => s.readings)) measurements.set(r.measurement, [...new Set([...(measurements.get(r.measurement) ?? []), p.id])]);
    for (const rule of shapes.flatMap((s) => s.events)) {
      for (const mapping of Object.values(rule.map)) {
        if (!mapping) continue;
        const def = catalogue.events.get(mapping.event);
        // The coding the decoder stores: the profile's own, else the catalogue's (device-profiles/decode.ts).
        const m = {
          event: mapping.event,
          alert: mapping.alert ?? def?.alert ?? undefined,
          dispense: mapping.dispense ?? def?.dispense ?? undefined,
          severity: mapping.severity ?? def?.severity ?? 0,
        };
        // One entry per distinct coding: two profiles may code the same event differently.
        const key = [m.event, m.alert ?? '', m.dispense ?? '', m.severity].join('|');
        const seen = events.get(key);
        if (seen) {
          if (!seen.profiles.includes(p.id)) seen.profiles.push(p.id);
          continue;
        }
        events.set(key, {
          name: m.event,
          meaning: def?.label.en ?? '',
          meaningNb: def?.label.nb ?? '',
          snomed: def?.snomed ?? null,
          alertCode: m.alert ?? null,
          alertDisplay: m.alert === undefined ? null : (VKP_ALERT.display.get(m.alert) ?? null),
          dispenseCode: m.dispense ?? null,
          dispenseDisplay: m.dispense === undefined ? null : (VKP_DISPENSE.display.get(m.dispense) ?? null),
          severity: m.severity,
          profiles: [p.id],
        });
      }
    }
  }
  for (const e of ALARM_EVENTS)
    events.set(`${e.name}|hub`, {
      ...e,
      meaningNb: e.meaningNb,
      snomed: null,
      alertCode: null,
      alertDisplay: null,
      dispenseCode: null,
      dispenseDisplay: null,
      severity: 0,
      profiles: [ALARM_SOURCE_ID],
    });
  const attributes = new Map<string, { key: string; meaning: string; events: string[]; profiles: string[] }>();
  const addAttribute = (key: string, meaning: string, eventNames: readonly string[], profileId: string): void => {
    const a = attributes.get(key) ?? { key, meaning, events: [], profiles: [] };
    a.events = [...new Set([...a.events, ...eventNames])].sort();
    a.profiles = [...new Set([...a.profiles, profileId])].sort();
    attributes.set(key, a);
  };
  for (const p of sorted) {
    for (const rule of shapesOf(p).flatMap((s) => s.events)) {
      const names = Object.values(rule.map).flatMap((m) => (m ? [m.event] : []));
      for (const [key, path] of Object.entries(rule.attributes))
        addAttribute(key, `From the device payload (${String(path)}), as the device sent it.`, names, p.id);
    }
  }
  for (const [key, meaning] of Object.entries(ALARM_ATTRIBUTES))
    addAttribute(
      key,
      meaning,
      ALARM_EVENTS.map((e) => e.name),
      ALARM_SOURCE_ID,
    );
  const visible = columns.filter((col) => col.audiences.some((a) => audiences.includes(a)));
  const textColumns = visible.filter((col) => col.type === 'VARCHAR').map((col) => col.name);
  return {
    trialId,
    audiences: [...audiences],
    columns: columns
      .filter((c) => c.audiences.some((a) => audiences.includes(a)))
      .map((c) => ({ name: c.name, type: c.type, description: c.description, audiences: c.audiences.filter((a) => audiences.includes(a)) })),
    profiles: sorted.map((p) => ({ id: p.id, version: p.version, vendor: p.vendor, model: p.model, family: p.family })),
    measurements: [...measurements.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, ids]) => {
        const def = catalogue.measurements.get(name);
        return {
          name,
          label: def?.label.en ?? '',
          labelNb: def?.label.nb ?? '',
          unit: def?.unit ?? '',
          loinc: def?.loinc ?? null,
          snomed: def?.snomed ?? null,
          profiles: ids,
        };
      }),
    events: [...events.values()].sort((a, b) => a.name.localeCompare(b.name) || a.severity - b.severity),
    severities: [...VKP_SEVERITY.display.entries()].map(([code, display]) => ({ code: Number(code), display })).sort((a, b) => a.code - b.code),
    attributes: [...attributes.values()].sort((a, b) => a.key.localeCompare(b.key)),
    readAs: {
      textColumns,
      pandas: `pd.read_csv(path, dtype={${textColumns.map((n) => `'${n}': str`).join(', ')}}, keep_default_na=False, na_values=[''])`,
      r: `read.csv(path, colClasses = c(${textColumns.map((n) => `${n} = "character"`).join(', ')}), na.strings = "")`,
    },
    codeSystems: { alert: VKP_ALERT.url, dispense: VKP_DISPENSE.url, severity: VKP_SEVERITY.url, units: 'http://unitsofmeasure.org (UCUM)' },
  };
}

/** The same codebook as one CSV table: section, name, type, unit, code, severity, meaning, profiles. */
export function codebookCsv(c: Codebook): string {
  const rows: Cell[][] = [['section', 'name', 'type', 'unit', 'code', 'severity', 'meaning', 'profiles']];
  for (const col of c.columns) rows.push(['column', col.name, col.type, null, null, null, col.description, null]);
  for (const m of c.measurements)
    rows.push([
      'measurement',
      m.name,
      'DOUBLE',
      m.unit,
      [m.loinc && `LOINC ${m.loinc}`, m.snomed && `SNOMED CT ${m.snomed}`].filter(Boolean).join('; ') || null,
      null,
      m.label,
      m.profiles.join(' '),
    ]);
  for (const e of c.events) {
    const code = [
      e.alertCode && `VKP alert ${e.alertCode} ${e.alertDisplay ?? ''}`.trim(),
      e.dispenseCode && `VKP dispense ${e.dispenseCode} ${e.dispenseDisplay ?? ''}`.trim(),
      e.snomed && `SNOMED CT ${e.snomed}`,
    ]
      .filter(Boolean)
      .join('; ');
    rows.push(['event', e.name, null, null, code || null, e.severity, e.meaning, e.profiles.join(' ')]);
  }
  for (const s of c.severities) rows.push(['severity', String(s.code), 'INTEGER', null, String(s.code), s.code, s.display, null]);
  for (const p of c.profiles) rows.push(['profile', p.id, p.family, null, p.version, null, `${p.vendor} ${p.model}`, null]);
  for (const a of c.attributes) rows.push(['attribute', a.key, null, null, null, null, `${a.meaning} Events: ${a.events.join(' ')}`, a.profiles.join(' ')]);
  rows.push(['read-as', 'pandas', null, null, null, null, c.readAs.pandas, null]);
  rows.push(['read-as', 'R', null, null, null, null, c.readAs.r, null]);
  return rows.map(csvRecord).join('');
}
