// The ward board: one tile per room with its open alarms, latest readings and device
// health, following GET /v1/live. Plain DOM, no build step; every text from the API is
// set as textContent, never as HTML.
import { TEXTS } from './i18n.js';

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const HIDDEN_READINGS = new Set(['battery_level', 'mains_power', 'device_temperature', 'device_uptime']);
const RECONNECT_MS = 2000;

let lang = localStorage.getItem('ward.lang') || (/^(nb|nn|no)\b/i.test(navigator.language) ? 'nb' : 'en');
let t = TEXTS[lang] || TEXTS.en;
let token = takeToken();
let generation = 0;
let current = null;
const state = { siteId: null, site: null, rooms: [], devices: new Map(), alarms: new Map(), ready: false, queue: [] };
const drafts = new Map(); // alarm id → comment being typed
const notes = new Map(); // alarm id → why the last action failed

/** The token arrives once in the fragment (never sent to the server), then lives in this tab only. */
function takeToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('ward.token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('ward.token');
}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, init = {}) {
  const res = await fetch(path, {
    ...init,
    cache: 'no-store',
    headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
  });
  const body = (res.headers.get('content-type') || '').includes('json') ? await res.json() : null;
  if (res.status === 401) signOut(t.tokenRejected);
  if (!res.ok) throw new HttpError(res.status, body?.detail || res.statusText);
  return body;
}

/** Server-sent events over fetch, so the token goes in a header (EventSource cannot send one). */
async function stream(url, signal, onEvent) {
  const res = await fetch(url, { signal, cache: 'no-store', headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } });
  if (res.status === 401) signOut(t.tokenRejected);
  if (!res.ok || !res.body) throw new HttpError(res.status, res.statusText);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const v = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') name = v;
        else if (field === 'data') data.push(v);
      }
      if (data.length > 0) onEvent(name, JSON.parse(data.join('\n')));
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function setConn(s) {
  const el = $('conn');
  el.dataset.state = s;
  el.textContent = t.conn[s];
}

async function follow(gen) {
  while (gen === generation) {
    const ctl = new AbortController();
    current = ctl;
    setConn('connecting');
    try {
      await stream(`/v1/live?siteId=${encodeURIComponent(state.siteId)}`, ctl.signal, (name, data) => onEvent(name, data, ctl));
    } catch (e) {
      if (e.status === 401 || gen !== generation) return;
      if (e.status === 404) return notice(t.noSite);
    }
    if (gen !== generation) return;
    state.ready = false;
    setConn('offline');
    await sleep(RECONNECT_MS);
  }
}

function onEvent(name, data, ctl) {
  if (name === 'hello') {
    // Subscribed first, then loaded: nothing between the snapshot and the stream is lost.
    state.ready = false;
    state.queue = [];
    loadBoard().catch(() => ctl.abort());
    return;
  }
  if (!state.ready) return void state.queue.push([name, data]);
  apply(name, data);
  render();
}

async function loadBoard() {
  const b = await api(`/v1/live/board?siteId=${encodeURIComponent(state.siteId)}`);
  state.site = b.site;
  state.rooms = b.rooms;
  state.devices = new Map(b.devices.map((d) => [d.id, { ...d, readings: new Map(d.readings.map((r) => [r.name, r])) }]));
  state.alarms = new Map(b.alarms.map((a) => [a.id, a]));
  state.ready = true;
  for (const [name, data] of state.queue.splice(0)) apply(name, data);
  $('site-name').textContent = `· ${b.site.name}`;
  setConn('live');
  render();
}

const isOpen = (a) => a.state === 'raised' || a.state === 'acknowledged';

function apply(name, d) {
  if (name === 'alarm') {
    const cur = state.alarms.get(d.id);
    if (cur && cur.version > d.version) return;
    if (isOpen(d)) state.alarms.set(d.id, d);
    else state.alarms.delete(d.id);
    return;
  }
  const dev = state.devices.get(d.deviceId);
  if (!dev) return;
  if (name === 'device') {
    dev.health = { ...d, roomId: dev.roomId };
    return;
  }
  if (name === 'reading') {
    const cur = dev.readings.get(d.name);
    if (!cur || cur.deviceTime <= d.deviceTime) dev.readings.set(d.name, d);
    if (d.name === 'battery_level') dev.health.battery = d.value;
  } else if (name === 'event' && d.name !== 'no_contact') {
    dev.lastEvent = d;
  }
  if (d.name !== 'no_contact' && (!dev.health.lastSeenAt || dev.health.lastSeenAt < d.receivedAt)) dev.health.lastSeenAt = d.receivedAt;
}

const clock = (iso) => new Date(iso).toLocaleTimeString(lang === 'nb' ? 'nb-NO' : 'en-GB', { hour: '2-digit', minute: '2-digit' });
const ago = (iso) => t.ago(Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)));

function value(r) {
  if (r.name === 'bed_occupied') return r.value ? t.yes : t.no;
  const digits = r.unit === 'kg' ? 1 : 0;
  const unit = r.unit === '{dose}' ? '' : ` ${r.unit}`;
  return `${r.value.toFixed(digits)}${unit}`;
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
    measurement: (v) => t.measurements[v] || v,
    via: (v) => t.via[v] || v,
    lastSeenAt: (v) => clock(v),
  };
  return Object.entries(a.detail)
    .filter(([k]) => k in t.detail && !(a.rule === 'dose_missed' && k === 'by'))
    .map(([k, v]) => `${t.detail[k]}: ${fmt[k] ? fmt[k](v) : v}`)
    .join(' · ');
}

function alarmItem(a) {
  const detail = detailText(a);
  return h(
    'li',
    { class: `alarm sev-${a.severity} state-${a.state}`, 'data-alarm': a.id, 'data-rule': a.rule, 'data-state': a.state },
    h('div', { class: 'alarm-head' }, h('strong', { class: 'alarm-title' }, t.rules[a.rule] || a.rule), h('span', { class: 'badge' }, t.state[a.state])),
    h('div', { class: 'alarm-meta' }, `VKP ${a.alertCode} ${a.alertDisplay} · ${t.raisedAt(clock(a.raisedAt), a.triggerCount)}`),
    a.withheld ? h('div', { class: 'withheld' }, t.withheld) : detail ? h('div', { class: 'detail' }, detail) : null,
    a.acknowledgedBy
      ? h('div', { class: 'acked', 'data-acked-by': a.acknowledgedBy.label }, t.ackBy(a.acknowledgedBy.label, clock(a.acknowledgedAt)), a.ackComment ? ` – “${a.ackComment}”` : '')
      : null,
    a.notify.length > 0 ? h('div', { class: 'notify' }, t.notify(a.notify.join(', '))) : null,
    notes.has(a.id) ? h('div', { class: 'error', role: 'alert' }, notes.get(a.id)) : null,
    h('input', { class: 'comment', 'data-alarm': a.id, placeholder: t.comment, 'aria-label': t.comment, maxlength: 500, value: drafts.get(a.id) || '' }),
    h(
      'div',
      { class: 'actions' },
      a.state === 'raised' ? h('button', { class: 'btn ack', type: 'button', 'data-action': 'ack', 'data-alarm': a.id }, t.ack) : null,
      h('button', { class: 'btn resolve', type: 'button', 'data-action': 'resolve', 'data-alarm': a.id }, t.resolve),
      h('button', { class: 'btn ghost false', type: 'button', 'data-action': 'false-alarm', 'data-alarm': a.id }, t.falseAlarm),
    ),
  );
}

function deviceItem(d) {
  const hl = d.health;
  const status = hl.offlineSince ? 'offline' : hl.lastSeenAt ? 'online' : 'never';
  const parts = [d.label || d.id];
  if (hl.battery !== null && hl.battery !== undefined) parts.push(`${t.battery} ${Math.round(hl.battery)} %`);
  if (hl.mains !== null && hl.mains !== undefined) parts.push(t.mains[String(hl.mains)]);
  parts.push(status === 'offline' ? `${t.offline} ${ago(hl.offlineSince)}` : hl.lastSeenAt ? `${t.lastSeen} ${ago(hl.lastSeenAt)}` : t.never);
  return h('li', { class: `device ${status}`, 'data-device': d.id }, h('span', { class: 'dot', 'aria-hidden': 'true' }), parts.join(' · '));
}

function tile(roomId, name, beds, devices, alarms) {
  const top = Math.max(0, ...alarms.map((a) => a.severity));
  const readings = devices.flatMap((d) => [...d.readings.values()]).filter((r) => !HIDDEN_READINGS.has(r.name));
  const last = devices.map((d) => d.lastEvent).filter(Boolean).sort((a, b) => (a.deviceTime < b.deviceTime ? 1 : -1))[0];
  alarms.sort((a, b) => b.severity - a.severity || (a.raisedAt < b.raisedAt ? 1 : -1));
  return h(
    'article',
    { class: `tile${alarms.length > 0 ? ` alarmed sev-${top}` : ''}`, 'data-room': roomId },
    h('header', {}, h('h2', {}, name), beds ? h('span', { class: 'beds' }, t.beds(beds)) : null),
    alarms.length > 0 ? h('ul', { class: 'alarms' }, alarms.map(alarmItem)) : h('p', { class: 'calm' }, t.noAlarms),
    readings.length > 0
      ? h('dl', { class: 'readings' }, readings.map((r) => h('div', { 'data-reading': r.name }, h('dt', {}, t.measurements[r.name] || r.name), h('dd', {}, value(r), h('time', {}, clock(r.deviceTime))))))
      : null,
    last ? h('p', { class: 'last-event' }, `${t.lastEvent}: ${t.events[last.name] || last.name} ${clock(last.deviceTime)}`) : null,
    devices.length > 0 ? h('ul', { class: 'devices' }, devices.map(deviceItem)) : null,
  );
}

function render() {
  const board = $('board');
  const focused = document.activeElement?.classList.contains('comment') ? document.activeElement.dataset.alarm : null;
  const roomIds = new Set(state.rooms.map((r) => r.id));
  const devices = [...state.devices.values()];
  const alarms = [...state.alarms.values()];
  const tiles = state.rooms.map((r) => tile(r.id, r.name, r.beds, devices.filter((d) => d.roomId === r.id), alarms.filter((a) => a.roomId === r.id)));
  const looseDevices = devices.filter((d) => !roomIds.has(d.roomId));
  const looseAlarms = alarms.filter((a) => !roomIds.has(a.roomId));
  if (looseDevices.length + looseAlarms.length > 0) tiles.push(tile('', t.noRoom, 0, looseDevices, looseAlarms));
  board.replaceChildren(...tiles);
  const input = focused && board.querySelector(`input.comment[data-alarm="${CSS.escape(focused)}"]`);
  if (input) {
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }
}

async function act(id, action, button) {
  button.disabled = true;
  notes.delete(id);
  try {
    const a = await api(`/v1/alarms/${encodeURIComponent(id)}/${action}`, { method: 'POST', body: JSON.stringify({ comment: drafts.get(id) || undefined }) });
    drafts.delete(id);
    apply('alarm', a);
  } catch (e) {
    notes.set(id, `${t.failed}: ${e.message}`);
    // Someone else was quicker: show what they did.
    if (e.status === 409) await api(`/v1/alarms/${encodeURIComponent(id)}`).then((a) => apply('alarm', a), () => undefined);
  }
  render();
}

function notice(text) {
  const el = $('notice');
  el.textContent = text;
  el.hidden = !text;
}

function texts() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t[el.dataset.i18n];
  $('lang').textContent = t.other;
  setConn($('conn').dataset.state || 'connecting');
}

function signOut(message) {
  generation++;
  current?.abort();
  token = null;
  sessionStorage.removeItem('ward.token');
  $('board').replaceChildren();
  $('signout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
}

async function start() {
  const gen = ++generation;
  $('login').hidden = true;
  $('signout').hidden = false;
  notice('');
  let sites;
  try {
    sites = (await api('/v1/live/sites')).items;
  } catch (e) {
    // A vendor's or researcher's token is valid but not for a ward (403): ask for another.
    if (e.status === 403) signOut(t.tokenRejected);
    else if (e.status !== 401) notice(e.message);
    return;
  }
  state.siteId = query.get('site') || sites[0]?.id || null;
  if (!state.siteId) return notice(t.noSite);
  const select = $('site-select');
  select.hidden = sites.length < 2;
  select.replaceChildren(...sites.map((s) => h('option', { value: s.id, selected: s.id === state.siteId }, s.name)));
  follow(gen);
}

$('board').addEventListener('click', (e) => {
  const button = e.target.closest('button[data-action]');
  if (button) act(button.dataset.alarm, button.dataset.action, button);
});
$('board').addEventListener('input', (e) => {
  if (e.target.classList.contains('comment')) drafts.set(e.target.dataset.alarm, e.target.value);
});
$('lang').addEventListener('click', () => {
  lang = lang === 'nb' ? 'en' : 'nb';
  t = TEXTS[lang];
  localStorage.setItem('ward.lang', lang);
  texts();
  render();
});
$('signout').addEventListener('click', () => signOut(''));
$('site-select').addEventListener('change', (e) => {
  query.set('site', e.target.value);
  location.search = query.toString();
});
$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  sessionStorage.setItem('ward.token', token);
  $('token').value = '';
  start().catch(() => undefined);
});
// Relative times ("2 min ago") move on without new data.
setInterval(() => state.ready && render(), 15_000);

texts();
if (token) start().catch(() => undefined);
else signOut('');
