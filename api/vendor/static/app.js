import { TEXTS } from './i18n.js';
import { payloadView } from './payload.js';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
};
const POLL_MS = 5000;

let lang = localStorage.getItem('vendor.lang') || (navigator.language.startsWith('nb') || navigator.language.startsWith('no') ? 'nb' : 'en');
let t = TEXTS[lang];
let timer;
let devices = [];

// The token arrives once in the fragment (never sent to a server), then leaves the address bar; it stays in this tab only.
const fragment = /(?:^#|&)token=([^&]+)/.exec(location.hash);
if (fragment) {
  sessionStorage.setItem('vendor.token', decodeURIComponent(fragment[1]));
  history.replaceState(null, '', location.pathname + location.search);
}
const token = () => sessionStorage.getItem('vendor.token');
const when = (iso) => (iso ? new Date(iso).toLocaleString(lang === 'nb' ? 'nb-NO' : 'en-GB') : t.never);

class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, init = {}) {
  const res = await fetch(path, {
    ...init,
    headers: { authorization: `Bearer ${token()}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
  });
  if (res.status === 401) signOut(t.tokenRejected);
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  return (res.headers.get('content-type') || '').includes('json') ? res.json() : res.text();
}

function applyTexts() {
  document.documentElement.lang = lang;
  document.title = `${t.title} · arena-hub`;
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t[e.dataset.i18n];
  for (const e of document.querySelectorAll('[data-i18n-placeholder]')) e.placeholder = t[e.dataset.i18nPlaceholder];
  $('lang').textContent = t.other;
}

function signOut(why) {
  clearTimeout(timer);
  sessionStorage.removeItem('vendor.token');
  $('content').hidden = true;
  $('signout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = why || '';
}

/**
 * Battery and firmware come from the device's released data (its latest battery reading,
 * a firmware attribute on its latest event): the consent rule applies as everywhere else.
 */
async function telemetryOf(id) {
  const [battery, latest] = await Promise.all([
    api(`/v1/devices/${encodeURIComponent(id)}/readings?name=battery_level&limit=1`).catch(() => ({ items: [] })),
    api(`/v1/devices/${encodeURIComponent(id)}/events?limit=1`).catch(() => ({ items: [] })),
  ]);
  const attrs = latest.items[0]?.attributes || {};
  const fw = Object.entries(attrs).find(([k]) => /^(firmware|fw)/i.test(k));
  return { battery: battery.items[0]?.value ?? null, firmware: fw ? String(fw[1]) : null };
}

async function renderDevices() {
  devices = (await api('/v1/vendor/devices')).items;
  const rows = await Promise.all(
    devices.map(async (d) => {
      const { battery, firmware } = await telemetryOf(d.id);
      const online = d.connected ?? d.offlineSince === null;
      const state = el('td', {
        className: online ? 'online' : 'offline',
        textContent: online ? t.online : d.offlineSince ? t.offlineSince(when(d.offlineSince)) : t.offline,
      });
      if (d.connected && d.will === false) state.append(el('span', { className: 'muted', textContent: ` (${t.noWill})` }));
      return el(
        'tr',
        { id: `device-${d.id}` },
        el('td', { textContent: d.label ? `${d.id} · ${d.label}` : d.id }),
        el('td', { textContent: `${d.profileId} ${d.profileVersion ?? ''}` }),
        state,
        el('td', { textContent: when(d.lastSeenAt) }),
        el('td', { textContent: firmware ?? '–' }),
        el('td', { textContent: battery === null ? '–' : `${battery} %` }),
      );
    }),
  );
  $('devices').tBodies[0].replaceChildren(...rows);
  fillSelect(
    $('run-device'),
    devices.map((d) => [d.id, d.id]),
  );
  fillSelect($('try-device'), [['', t.anyDevice], ...devices.map((d) => [d.id, d.id])]);
  fillSelect(
    $('try-profile'),
    [...new Set(devices.map((d) => d.profileId))].map((p) => [p, p]),
  );
}

function fillSelect(select, options) {
  const keep = select.value;
  select.replaceChildren(...options.map(([value, text]) => el('option', { value, textContent: text })));
  if (options.some(([v]) => v === keep)) select.value = keep;
}

async function renderRejections() {
  const { items } = await api('/v1/rejections?limit=20');
  const list = items.map((r) =>
    el(
      'li',
      {},
      el(
        'div',
        {},
        el('span', { className: 'code', textContent: r.code }),
        ` ${r.deviceId} · ${when(r.receivedAt)} · `,
        el('code', { textContent: r.path || '(payload)' }),
      ),
      el('div', { textContent: r.message }),
      r.payload === null ? el('div', { className: 'withheld', textContent: t.withheld }) : payloadView(r.payload, r.path),
    ),
  );
  $('rejections').replaceChildren(...(list.length ? list : [el('li', { className: 'muted', textContent: t.noRejections })]));
}

/** A report is downloaded as a file: shown inside this page it would run under this page's rules. */
function download(run, kind) {
  const a = el('a', { href: '#', textContent: t[kind] });
  a.addEventListener('click', async (e) => {
    e.preventDefault();
    const body = kind === 'html' ? await api(run.links.html) : JSON.stringify(await api(run.links.self), null, 2);
    const url = URL.createObjectURL(new Blob([body], { type: kind === 'html' ? 'text/html' : 'application/json' }));
    el('a', { href: url, download: `conformance-${run.deviceId}-${run.id}.${kind}` }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  return a;
}

async function renderRuns() {
  const { items } = await api('/v1/conformance-runs?limit=20');
  const rows = items.map((run) => {
    const failed = run.report ? run.report.checks.filter((c) => c.outcome === 'fail').map((c) => c.id) : [];
    return el(
      'tr',
      { id: `run-${run.id}` },
      el('td', { textContent: run.deviceId }),
      el('td', { textContent: when(run.startedAt) }),
      el('td', { className: run.status, textContent: t.statusText[run.status] }),
      el('td', { textContent: run.report ? (failed.length ? t.failedChecks(failed.join(', ')) : t.allPassed) : (run.note ?? '') }),
      el('td', {}, download(run, 'html'), ' · ', download(run, 'json')),
    );
  });
  $('runs').tBodies[0].replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colSpan: 5, className: 'muted', textContent: t.noRuns }))]));
}

async function refresh() {
  clearTimeout(timer);
  try {
    await Promise.all([renderDevices(), renderRejections(), renderRuns()]);
  } catch (e) {
    if (e.status === 403) return signOut(t.notVendor);
  }
  if (token()) timer = setTimeout(refresh, POLL_MS);
}

function showResult(r, raw) {
  const out = [];
  if (r.points.length) {
    out.push(
      el(
        'div',
        { className: 'result ok' },
        el('div', { textContent: t.wouldStore(r.points.length) }),
        el(
          'ul',
          {},
          ...r.points.map((p) =>
            el('li', {
              textContent: `${p.kind} ${p.name} ${p.kind === 'reading' ? `${p.value} ${p.unit}` : `${p.alertCode ?? ''}`} · ${p.deviceTime}${p.clockSkewed ? ' · clockSkewed' : ''}`,
            }),
          ),
        ),
      ),
    );
  }
  if (r.storedWhole) out.push(el('p', { className: 'passed', textContent: t.storedWhole }));
  for (const x of r.rejections) {
    out.push(
      el(
        'div',
        { className: 'result' },
        el('div', {}, `${t.wouldReject} `, el('span', { className: 'code', textContent: x.code }), ' ', el('code', { textContent: x.path || '(payload)' })),
        el('div', { textContent: x.message }),
        payloadView(raw, x.path),
      ),
    );
  }
  $('try-result').replaceChildren(...out);
}

$('try').addEventListener('submit', async (e) => {
  e.preventDefault();
  const raw = $('try-payload').value;
  const body = {
    payload: raw,
    ...($('try-device').value ? { deviceId: $('try-device').value } : {}),
    ...($('try-topic').value.trim() ? { topic: $('try-topic').value.trim() } : {}),
  };
  try {
    showResult(await api(`/v1/profiles/${encodeURIComponent($('try-profile').value)}/decode`, { method: 'POST', body: JSON.stringify(body) }), raw);
  } catch (err) {
    $('try-result').replaceChildren(el('p', { className: 'error', textContent: err.message }));
  }
});

$('start-run').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('run-error').textContent = '';
  try {
    await api('/v1/conformance-runs', {
      method: 'POST',
      body: JSON.stringify({ deviceId: $('run-device').value, durationS: Number($('run-duration').value) }),
    });
    await renderRuns();
  } catch (err) {
    $('run-error').textContent = err.message;
  }
});

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = $('token').value.trim();
  $('token').value = '';
  if (!value) return;
  sessionStorage.setItem('vendor.token', value);
  start();
});
$('signout').addEventListener('click', () => signOut(''));
$('lang').addEventListener('click', () => {
  lang = lang === 'nb' ? 'en' : 'nb';
  t = TEXTS[lang];
  localStorage.setItem('vendor.lang', lang);
  applyTexts();
  if (token()) refresh();
});

function start() {
  $('login').hidden = true;
  $('content').hidden = false;
  $('signout').hidden = false;
  refresh();
}

applyTexts();
if (token()) start();
else signOut('');
