/**
 * The hub's own events in a dataset: the alarm lifecycle (alarms/dataset-events.ts),
 * stored under device and profile `hub-alarms`, attributed like the data that raised the
 * alarm. alert_code and severity are the alarm's own.
 */
export const ALARM_EVENTS: readonly { name: string; meaning: string; meaningNb: string }[] = [
  {
    name: 'alarm_raised',
    meaning: 'The hub raised an alarm (alert_code: its VKP alert code; severity: its severity).',
    meaningNb: 'Huben utløste en alarm (alert_code: VKP-varselkoden; severity: alvorlighetsgraden).',
  },
  { name: 'alarm_acknowledged', meaning: 'A clinician acknowledged the alarm.', meaningNb: 'Helsepersonell kvitterte for alarmen.' },
  { name: 'alarm_resolved', meaning: 'A clinician resolved the alarm.', meaningNb: 'Helsepersonell avsluttet alarmen.' },
  { name: 'alarm_false_alarm', meaning: 'A clinician closed the alarm as a false alarm.', meaningNb: 'Helsepersonell avsluttet alarmen som falsk alarm.' },
];

export const ALARM_ATTRIBUTES: Readonly<Record<string, string>> = {
  alarmId: 'The alarm, by a reference of this trial and audience (never the id the ward sees); the same on every event of one alarm.',
  rule: 'The alarm rule that raised it (event, offline, dose window, daily measurement, fluid, power...).',
  event: 'The catalogue event the alarm reports (the device event that raised it, or the one its rule stands for); its labels are in the events section.',
  sourceDeviceId: 'The device whose data raised the alarm; empty when none (e.g. a missing daily measurement).',
  triggerCount: 'How many times the condition fired while the alarm was open.',
  secondsSinceRaised: 'Seconds from the alarm being raised to this event (0 for alarm_raised).',
};
