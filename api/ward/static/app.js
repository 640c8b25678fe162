// The ward board: one tile per room with its open alarms, latest readings and device
// health, following GET /v1/live. Plain DOM, no build step. The board says at once when
// it can no longer be sure it is live (promise 6): it dims its data and says since when.
import { TEXTS } from './i18n.js';
import { createAttention } from './attention.js';
import { HttpError, stream } from './stream.js';
import { catalogueLabels, createRenderer, isOpen, byUrgency } from './render.js';

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const RECONNECT_MS = 2000;
/** Resolve and false alarm wait this long with an undo button before they are sent. */
const UNDO_MS = 5000;
/** A shift's name is asked for again after this long. */
const SHIFT_MS = 12 * 3_600_000;

let lang = localStorage.getItem('ward.lang') || (/^(nb|nn|no)\b/i.test(navigator.language) ? 'nb' : 'en');
const ctx = { t: TEXTS[lang] || TEXTS.en, lang, catalogue: catalogueLabels(null), drafts: new Map(), notes: new Map(), pending: new Map() };
let generation = 0;
let current = null;
const state = { siteId: null, site: null, rooms: [], devices: new Map(), alarms: new Map(), ready: false, loaded: false, queue: [] };
/** What the page knows of its connection: the board is live only while all of this holds. */
const live = { connected: false, hubReady: true, reason: null, lastContact: 0, lastEventId: null, heartbeatMs: 5000, attemptAt: 0, view: 'connecting' };
const attention = createAttention();
const tiles = createRenderer(ctx);

/**
 * Credentials. A paired board keeps its board token in localStorage: it survives a restart
 * (the point of pairing), only this origin's own scripts can read it (CSP script-src
 * 'self'), and unlike a cookie it is never sent by itself, so the alarm actions need no
 * CSRF defence and the API stays bearer-only. Revoking it on the hub ends the board.
 * A personal clinician token (#token=) stays in this tab only (sessionStorage).
 */
const credential = {
  board: () => JSON.parse(localStorage.getItem('ward.board') || 'null'),
  token: () => credential.board()?.token || sessionStorage.getItem('ward.token'),
  forget() {
    localStorage.removeItem('ward.board');
    sessionStorage.removeItem('ward.token');
  },
};

/** The token or pairing code arrives once in the fragment (never sent to a server), then leaves the address bar. */
function takeFragment() {
  const token = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  const pair = /(?:^#|&)pair=([^&]+)/.exec(location.hash);
  if (token || pair) history.replaceState(null, '', location.pathname + location.search);
  if (token) sessionStorage.setItem('ward.token', decodeURIComponent(token[1]));
  return pair ? decodeURIComponent(pair[1]) : null;
}

const shift = {
  get() {
    const s = JSON.parse(localStorage.getItem('ward.shift') || 'null');
    return s && Date.now() - s.at < SHIFT_MS ? s.person : null;
  },
  set(person) {
    localStorage.setItem('ward.shift', JSON.stringify({ person, at: Date.now() }));
  },
};

async function api(path, init = {}) {
  const res = await fetch(path, {
    ...init,
    cache: 'no-store',
    headers: { authorization: `Bearer ${credential.token()}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
  });
  const body = (res.headers.get('content-type') || '').includes('json') ? await res.json() : null;
  if (res.status === 401) signOut(credential.board() ? ctx.t.boardRevoked : ctx.t.tokenRejected);
  if (!res.ok) throw new HttpError(res.status, body?.detail || res.statusText);
  return body;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Sets a text only when it changes: a live region rewritten every second would be announced every second. */
const say = (el, text) => {
  if (el.textContent !== text) el.textContent = text;
};
const clock = (ms, seconds = false) =>
  new Date(ms).toLocaleTimeString(lang === 'nb' ? 'nb-NO' : 'en-GB', { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}) });

/** Two heartbeats missed, with a second's grace for the network: then the board is not live. */
const silentAfter = () => 2 * live.heartbeatMs + 1000;

function liveness() {
  if (!state.loaded) return live.connected ? 'connecting' : live.lastContact ? 'offline' : 'connecting';
  if (!live.connected) return 'offline';
  if (Date.now() - live.lastContact > silentAfter()) return 'silent';
  if (!live.hubReady) return 'not-ready';
  return state.ready ? 'live' : 'connecting';
}

/** Shows what the board can vouch for: live, or stale since the last contact. */
function showLiveness() {
  const view = liveness();
  live.view = view;
  const stale = state.loaded && view !== 'live';
  document.body.dataset.live = stale ? 'stale' : view === 'live' ? 'live' : 'connecting';
  const conn = $('conn');
  conn.dataset.state = view;
  say(conn, ctx.t.conn[view]);
  const banner = $('stale');
  banner.hidden = !stale;
  if (stale) {
    say($('stale-why'), view === 'not-ready' ? ctx.t.stale.notReady(live.reason || '') : ctx.t.stale[view] || ctx.t.stale.offline);
    say($('stale-since'), ctx.t.stale.since(clock(live.lastContact, true)));
  }
  $('board').setAttribute('aria-busy', String(stale));
  attend();
}

function attend() {
  const raised = [...state.alarms.values()].filter((a) => a.state === 'raised' && !ctx.pending.has(a.id)).sort(byUrgency);
  const stale = live.view !== 'live' && state.loaded;
  const top = raised[0];
  const room = (a) => state.rooms.find((r) => r.id === a.roomId)?.name || ctx.t.noRoom;
  const describe = (a) => `${ctx.catalogue.label('events', a.event || a.rule, lang)} · ${room(a)}`;
  const title = [stale ? ctx.t.notLive : null, raised.length > 0 ? `(${raised.length}) ${describe(top)}` : null, ctx.t.title].filter(Boolean).join(' – ');
  attention.update({ raised, stale, title, describe });
  const banner = $('alarm-banner');
  banner.hidden = raised.length === 0;
  say($('alarm-count'), ctx.t.newAlarms(raised.length));
  const mutedUntil = attention.mutedUntil();
  $('mute').hidden = raised.length === 0 || mutedUntil > 0 || !attention.unlocked();
  $('unmute').hidden = mutedUntil === 0;
  say($('unmute'), ctx.t.mutedUntil(clock(mutedUntil)));
}

// The watchdog: a stream that has been silent past two heartbeats is given up and opened
// again, and the board says it is stale. A half-open connection (a frozen network path
// that still holds the socket) ends here, not after the kernel's TCP timeout.
setInterval(() => {
  if (current && Date.now() - Math.max(live.lastContact, live.attemptAt) > silentAfter()) current.abort();
  showLiveness();
}, 1000);

async function follow(gen) {
  while (gen === generation) {
    const ctl = new AbortController();
    current = ctl;
    live.attemptAt = Date.now();
    try {
      await stream(`/v1/live?siteId=${encodeURIComponent(state.siteId)}`, {
        token: credential.token(),
        signal: ctl.signal,
        lastEventId: live.lastEventId,
        onEvent: (name, data, id) => onEvent(name, data, id, ctl),
      });
    } catch (e) {
      if (e.status === 401) return signOut(credential.board() ? ctx.t.boardRevoked : ctx.t.tokenRejected);
      if (gen !== generation) return;
      if (e.status === 404) return notice(ctx.t.noSite);
    }
    if (current === ctl) current = null;
    if (gen !== generation) return;
    live.connected = false;
    state.ready = false;
    showLiveness();
    await sleep(RECONNECT_MS);
  }
}

function onEvent(name, data, id, ctl) {
  live.lastContact = Date.now();
  if (id) live.lastEventId = id;
  if (name === 'hello') {
    // The stream does not replay (resume: reload): subscribed first, then the whole board
    // is loaded again, so nothing raised while the board was cut off is missed.
    live.connected = true;
    live.hubReady = true;
    live.heartbeatMs = data.heartbeatMs || live.heartbeatMs;
    state.ready = false;
    state.queue = [];
    loadBoard(ctl.signal).catch(() => ctl.abort());
  } else if (name === 'heartbeat') {
    live.hubReady = data.ready;
    live.reason = data.reason || null;
  } else if (name === 'end') {
    live.connected = false;
  } else if (!state.ready) {
    state.queue.push([name, data]);
  } else {
    apply(name, data);
    render();
  }
  showLiveness();
}

async function loadBoard(signal) {
  // The catalogue names events, alarms and measurements; read with the board, so a catalogue an arena changed shows on the next reload.
  const [b, catalogue] = await Promise.all([api(`/v1/live/board?siteId=${encodeURIComponent(state.siteId)}`, { signal }), api('/v1/catalogue', { signal })]);
  ctx.catalogue = catalogueLabels(catalogue);
  state.site = b.site;
  state.rooms = b.rooms;
  state.devices = new Map(b.devices.map((d) => [d.id, { ...d, readings: new Map(d.readings.map((r) => [r.name, r])) }]));
  state.alarms = new Map(b.alarms.map((a) => [a.id, a]));
  state.ready = true;
  state.loaded = true;
  for (const [name, data] of state.queue.splice(0)) apply(name, data);
  $('site-name').textContent = `· ${b.site.name}`;
  render();
}

function apply(name, d) {
  if (name === 'alarm') {
    const cur = state.alarms.get(d.id);
    if (cur && cur.version > d.version) return;
    if (isOpen(d)) state.alarms.set(d.id, d);
    else {
      state.alarms.delete(d.id);
      cancelPending(d.id);
    }
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

function render() {
  const board = $('board');
  const focused = document.activeElement?.classList.contains('comment') ? document.activeElement.dataset.alarm : null;
  board.replaceChildren(...tiles(state));
  const input = focused && board.querySelector(`input.comment[data-alarm="${CSS.escape(focused)}"]`);
  if (input) {
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }
  attend();
}

async function send(id, action) {
  ctx.notes.delete(id);
  const person = shift.get();
  try {
    const body = { comment: ctx.drafts.get(id) || undefined, person: person || undefined };
    const a = await api(`/v1/alarms/${encodeURIComponent(id)}/${action}`, { method: 'POST', body: JSON.stringify(body) });
    ctx.drafts.delete(id);
    apply('alarm', a);
  } catch (e) {
    ctx.notes.set(id, `${ctx.t.failed}: ${e.message}`);
    // Someone else was quicker: show what they did.
    if (e.status === 409)
      await api(`/v1/alarms/${encodeURIComponent(id)}`).then(
        (a) => apply('alarm', a),
        () => undefined,
      );
  }
  render();
}

/**
 * Resolve and false alarm close the alarm for good, so they wait a few seconds with an
 * undo button before they are sent: a slip of a gloved finger costs nothing. Nothing is
 * sent until then, so a board closed in between leaves the alarm open (the safe side).
 */
function later(id, action) {
  const timer = setTimeout(() => {
    ctx.pending.delete(id);
    clearInterval(tickTimer);
    send(id, action);
  }, UNDO_MS);
  // The countdown changes in place: a board redrawn under a finger would lose the tap on Undo.
  const tickTimer = setInterval(() => {
    const p = ctx.pending.get(id);
    const text = document.querySelector(`li[data-alarm="${CSS.escape(id)}"] [data-pending] span`);
    if (p && text) text.textContent = ctx.t.pending[action](Math.max(0, Math.ceil((p.at - Date.now()) / 1000)));
  }, 1000);
  ctx.pending.set(id, { action, at: Date.now() + UNDO_MS, timer, tickTimer });
  render();
}

function cancelPending(id) {
  const p = ctx.pending.get(id);
  if (!p) return;
  clearTimeout(p.timer);
  clearInterval(p.tickTimer);
  ctx.pending.delete(id);
}

function notice(text) {
  const el = $('notice');
  el.textContent = text;
  el.hidden = !text;
}

function texts() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = ctx.t[el.dataset.i18n];
  $('lang').textContent = ctx.t.other;
  showShift();
  showLiveness();
}

function showShift() {
  const person = shift.get();
  const asking = !person || !attention.unlocked();
  $('shift').hidden = !asking || !credential.token();
  $('on-shift').hidden = asking;
  $('on-shift-name').textContent = person ? ctx.t.onShift(person) : '';
  if (asking && person && !$('person').value) $('person').value = person;
  $('shift-why').textContent = attention.unlocked() ? ctx.t.shiftName : ctx.t.soundOff;
}

function signOut(message) {
  generation++;
  current?.abort();
  current = null;
  credential.forget();
  state.loaded = false;
  state.alarms = new Map();
  $('board').replaceChildren();
  $('signout').hidden = true;
  $('shift').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  showLiveness();
}

async function pair(code) {
  const res = await fetch('/v1/board-pairings/exchange', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new HttpError(res.status, res.status === 404 ? ctx.t.pairingRefused : body?.detail || res.statusText);
  localStorage.setItem('ward.board', JSON.stringify({ token: body.token, siteId: body.siteId, label: body.label }));
  sessionStorage.removeItem('ward.token');
}

async function start() {
  const gen = ++generation;
  $('login').hidden = true;
  $('signout').hidden = false;
  notice('');
  showShift();
  let sites;
  try {
    sites = (await api('/v1/live/sites')).items;
  } catch (e) {
    // A vendor's or researcher's token is valid but not for a ward (403): ask for another.
    if (e.status === 403) signOut(ctx.t.tokenRejected);
    else if (e.status !== 401) notice(e.message);
    return;
  }
  state.siteId = credential.board()?.siteId || query.get('site') || sites[0]?.id || null;
  if (!state.siteId) return notice(ctx.t.noSite);
  const select = $('site-select');
  select.hidden = sites.length < 2;
  select.replaceChildren(...sites.map((s) => new Option(s.name, s.id, false, s.id === state.siteId)));
  follow(gen);
}

$('board').addEventListener('click', (e) => {
  const button = e.target.closest('button[data-action]');
  if (!button) return;
  const { alarm: id, action } = button.dataset;
  if (action === 'undo') {
    cancelPending(id);
    render();
  } else if (action === 'ack') {
    button.disabled = true;
    send(id, 'ack');
  } else later(id, action);
});
$('board').addEventListener('input', (e) => {
  if (e.target.classList.contains('comment')) ctx.drafts.set(e.target.dataset.alarm, e.target.value);
});
$('lang').addEventListener('click', () => {
  lang = lang === 'nb' ? 'en' : 'nb';
  ctx.lang = lang;
  ctx.t = TEXTS[lang];
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
  const code = $('code').value.trim();
  const token = $('token').value.trim();
  $('code').value = '';
  $('token').value = '';
  $('login-error').textContent = '';
  if (code) {
    pair(code)
      .then(start, (err) => signOut(err.message))
      .catch(() => undefined);
  } else if (token) {
    sessionStorage.setItem('ward.token', token);
    start().catch(() => undefined);
  }
});
// The tap that starts the shift is the gesture that lets the board make sound.
$('shift').addEventListener('submit', (e) => {
  e.preventDefault();
  const person = $('person').value.trim();
  if (!person) return;
  shift.set(person);
  attention.unlock();
  showShift();
  attend();
});
$('change-shift').addEventListener('click', () => {
  localStorage.removeItem('ward.shift');
  $('person').value = '';
  showShift();
  $('person').focus();
});
$('mute').addEventListener('click', () => {
  attention.mute();
  attend();
});
$('unmute').addEventListener('click', () => {
  attention.unmute();
  attend();
});
$('show-alarm').addEventListener('click', () => {
  const first = document.querySelector('.alarm.state-raised');
  first?.scrollIntoView({ block: 'center' });
  first?.querySelector('button')?.focus();
});
// Relative times ("2 min ago") move on without new data.
setInterval(() => state.ready && render(), 15_000);

const code = takeFragment();
texts();
if (code)
  pair(code)
    .then(start, (err) => signOut(err.message))
    .catch(() => undefined);
else if (credential.token()) start().catch(() => undefined);
else signOut('');
