// The board's DOM: one tile per room, rooms with open alarms first. Every text from the
// API is set as textContent, never as HTML.

const HIDDEN_READINGS = new Set(['battery_level', 'mains_power', 'device_temperature', 'device_uptime']);

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export const isOpen = (a) => a.state === 'raised' || a.state === 'acknowledged';

/**
 * A UCUM unit as people write it: annotations ({dose}) say what is counted and are
 * left out, brackets only mark UCUM's special units (mm[Hg]), and degrees Celsius
 * and Fahrenheit get their symbols (UCUM §4.2, print symbols).
 */
export const unitText = (code) => (code === 'Cel' ? '°C' : code === '[degF]' ? '°F' : code === '1' ? '' : code.replace(/\{[^}]*\}/g, '').replace(/[[\]]/g, ''));

/**
 * The catalogue (GET /v1/catalogue) as the board reads it: each name's label in the
 * board's language, the name itself when the catalogue has none (a board older than an
 * arena's catalogue change, until its next reload).
 */
export function catalogueLabels(doc) {
  const byName = (list) => new Map((list || []).map((e) => [e.name, e]));
  const sections = { events: byName(doc?.events), measurements: byName(doc?.measurements), families: byName(doc?.families), zones: byName(doc?.zones) };
  return {
    label: (section, name, lang) => sections[section].get(name)?.label[lang] || name,
    measurement: (name) => sections.measurements.get(name),
  };
}

/** Most urgent first: severity, then the one waiting longest. */
export const byUrgency = (a, b) => b.severity - a.severity || (a.raisedAt < b.raisedAt ? -1 : a.raisedAt > b.raisedAt ? 1 : 0);

/**
 * Rooms with open alarms first, ranked by their most urgent alarm (severity, then age);
 * calm rooms after, in the ward's own order. Array.prototype.sort is stable.
 */
export function sortRooms(rooms, alarmsOf) {
  const top = new Map(rooms.map((r) => [r.id, [...alarmsOf(r.id)].sort(byUrgency)[0]]));
  return [...rooms].sort((a, b) => {
    const x = top.get(a.id);
    const y = top.get(b.id);
    if (!x || !y) return (x ? 0 : 1) - (y ? 0 : 1);
    return byUrgency(x, y);
  });
}

export function createRenderer(ctx) {
  const { drafts, notes, pending } = ctx;
  const t = () => ctx.t;
  const label = (section, name) => ctx.catalogue.label(section, name, ctx.lang);
  /** An alarm is named by its catalogue event; one stored before alarms named it, by its rule. */
  const alarmName = (a) => label('events', a.event || a.rule);
  const clock = (iso) => new Date(iso).toLocaleTimeString(ctx.lang === 'nb' ? 'nb-NO' : 'en-GB', { hour: '2-digit', minute: '2-digit' });
  const ago = (iso) => t().ago(Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)));

  /** As the catalogue types the measurement: yes/no, a whole number, or a number to one decimal. */
  function value(r) {
    const type = ctx.catalogue.measurement(r.name)?.type;
    if (type === 'boolean') return r.value ? t().yes : t().no;
    const number = r.value.toLocaleString(ctx.lang === 'nb' ? 'nb-NO' : 'en-GB', { maximumFractionDigits: type === 'integer' ? 0 : 1 });
    const unit = unitText(r.unit);
    return unit ? `${number} ${unit}` : number;
  }

  /** The alarm's detail a clinician needs, labelled; other keys (confidence, window...) stay in the API. */
  function detailText(a) {
    const fmt = {
      duration_s: (v) => `${Math.round(v / 60)} min`,
      netMl: (v) => `${v} mL / ${a.detail.windowH ?? 24} h`,
      limitMl: (v) => `${v} mL`,
      weightKg: (v) => `${v} kg`,
      targetKg: (v) => `${v} kg`,
      gainKg: (v) => `${v} kg`,
      batteryPct: (v) => `${Math.round(v)} %`,
      measurement: (v) => label('measurements', v),
      zone: (v) => label('zones', v),
      via: (v) => t().via[v] || v,
      lastSeenAt: (v) => clock(v),
    };
    return Object.entries(a.detail)
      .filter(([k]) => k in t().detail && !(a.rule === 'dose_missed' && k === 'by'))
      .map(([k, v]) => `${t().detail[k]}: ${fmt[k] ? fmt[k](v) : v}`)
      .join(' · ');
  }

  /** "Kari N. (Nurses' station)": the person at the board, then the token that carried the action. */
  const actorText = (actor) => (actor.person ? `${actor.person} (${actor.label})` : actor.label);

  function actions(a) {
    const p = pending.get(a.id);
    if (p) {
      const left = Math.max(0, Math.ceil((p.at - Date.now()) / 1000));
      return h(
        'div',
        { class: 'pending', role: 'status', 'data-pending': p.action },
        h('span', {}, t().pending[p.action](left)),
        h('button', { class: 'btn undo', type: 'button', 'data-action': 'undo', 'data-alarm': a.id }, t().undo),
      );
    }
    return h(
      'div',
      { class: 'actions' },
      a.state === 'raised' ? h('button', { class: 'btn ack', type: 'button', 'data-action': 'ack', 'data-alarm': a.id }, t().ack) : null,
      h('button', { class: 'btn resolve', type: 'button', 'data-action': 'resolve', 'data-alarm': a.id }, t().resolve),
      h('button', { class: 'btn ghost false', type: 'button', 'data-action': 'false-alarm', 'data-alarm': a.id }, t().falseAlarm),
    );
  }

  function alarmItem(a) {
    const detail = detailText(a);
    return h(
      'li',
      { class: `alarm sev-${a.severity} state-${a.state}`, 'data-alarm': a.id, 'data-rule': a.rule, 'data-event': a.event, 'data-state': a.state },
      h('div', { class: 'alarm-head' }, h('strong', { class: 'alarm-title' }, alarmName(a)), h('span', { class: 'badge' }, t().state[a.state])),
      h('div', { class: 'alarm-meta' }, `VKP ${a.alertCode} ${a.alertDisplay} · ${t().raisedAt(clock(a.raisedAt), a.triggerCount)}`),
      a.withheld ? h('div', { class: 'withheld' }, t().withheld) : detail ? h('div', { class: 'detail' }, detail) : null,
      a.acknowledgedBy
        ? h(
            'div',
            { class: 'acked', 'data-acked-by': a.acknowledgedBy.label, 'data-acked-person': a.acknowledgedBy.person ?? null },
            t().ackBy(actorText(a.acknowledgedBy), clock(a.acknowledgedAt)),
            a.ackComment ? ` – “${a.ackComment}”` : '',
          )
        : null,
      a.notify.length > 0 ? h('div', { class: 'notify' }, t().notify(a.notify.join(', '))) : null,
      notes.has(a.id) ? h('div', { class: 'error', role: 'alert' }, notes.get(a.id)) : null,
      pending.has(a.id)
        ? null
        : h('input', {
            class: 'comment',
            'data-alarm': a.id,
            placeholder: t().comment,
            'aria-label': t().comment,
            maxlength: 500,
            value: drafts.get(a.id) || '',
          }),
      actions(a),
    );
  }

  function deviceItem(d) {
    const hl = d.health;
    const status = hl.offlineSince ? 'offline' : hl.lastSeenAt ? 'online' : 'never';
    const parts = [d.label || d.id];
    if (hl.battery !== null && hl.battery !== undefined) parts.push(`${t().battery} ${Math.round(hl.battery)} %`);
    if (hl.mains !== null && hl.mains !== undefined) parts.push(t().mains[String(hl.mains)]);
    parts.push(status === 'offline' ? `${t().offline} ${ago(hl.offlineSince)}` : hl.lastSeenAt ? `${t().lastSeen} ${ago(hl.lastSeenAt)}` : t().never);
    return h('li', { class: `device ${status}`, 'data-device': d.id }, h('span', { class: 'dot', 'aria-hidden': 'true' }), parts.join(' · '));
  }

  function tile(roomId, name, beds, devices, alarms) {
    const top = Math.max(0, ...alarms.map((a) => a.severity));
    const readings = devices.flatMap((d) => [...d.readings.values()]).filter((r) => !HIDDEN_READINGS.has(r.name));
    const last = devices
      .map((d) => d.lastEvent)
      .filter(Boolean)
      .sort((a, b) => (a.deviceTime < b.deviceTime ? 1 : -1))[0];
    alarms.sort(byUrgency);
    return h(
      'article',
      { class: `tile${alarms.length > 0 ? ` alarmed sev-${top}` : ''}`, 'data-room': roomId },
      h('header', {}, h('h2', {}, name), beds ? h('span', { class: 'beds' }, t().beds(beds)) : null),
      alarms.length > 0 ? h('ul', { class: 'alarms' }, alarms.map(alarmItem)) : h('p', { class: 'calm' }, t().noAlarms),
      readings.length > 0
        ? h(
            'dl',
            { class: 'readings' },
            readings.map((r) =>
              h('div', { 'data-reading': r.name }, h('dt', {}, label('measurements', r.name)), h('dd', {}, value(r), h('time', {}, clock(r.deviceTime)))),
            ),
          )
        : null,
      last ? h('p', { class: 'last-event' }, `${t().lastEvent}: ${label('events', last.name)} ${clock(last.deviceTime)}`) : null,
      devices.length > 0 ? h('ul', { class: 'devices' }, devices.map(deviceItem)) : null,
    );
  }

  /** The tiles of a board state: rooms sorted by urgency, devices and alarms without a known room last. */
  return function tiles(state) {
    const roomIds = new Set(state.rooms.map((r) => r.id));
    const devices = [...state.devices.values()];
    const alarms = [...state.alarms.values()];
    const alarmsOf = (roomId) => alarms.filter((a) => a.roomId === roomId);
    const out = sortRooms(state.rooms, alarmsOf).map((r) =>
      tile(
        r.id,
        r.name,
        r.beds,
        devices.filter((d) => d.roomId === r.id),
        alarmsOf(r.id),
      ),
    );
    const looseDevices = devices.filter((d) => !roomIds.has(d.roomId));
    const looseAlarms = alarms.filter((a) => !roomIds.has(a.roomId));
    if (looseDevices.length + looseAlarms.length > 0) {
      const loose = tile('', t().noRoom, 0, looseDevices, looseAlarms);
      // Alarms without a room are as urgent as any: they go first.
      if (looseAlarms.length > 0) out.unshift(loose);
      else out.push(loose);
    }
    return out;
  };
}
