// What makes a nurse look up: a sound that repeats until every new alarm is acknowledged,
// vibration and a system notification where the device allows, the tab's title and icon,
// and a screen that stays on. Browsers start sound only after a tap (autoplay policy), so
// unlock() is called from the tap that starts the shift. The state is kept on <body> as
// data attributes: what the board shows about sound, and what the tests read.

/** Sound for a new (unacknowledged) alarm of at least this VKP severity: moderate and up. */
const SOUND_FROM_SEVERITY = 20;
const REPEAT_MS = 2000;
export const MUTE_MS = 2 * 60_000;

const ICONS = {
  calm: '#2f855a',
  alarm: '#b00020',
  stale: '#55626e',
};
const icon = (colour, mark) =>
  `data:image/svg+xml,${encodeURIComponent(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="${colour}"/><text x="16" y="23" font-size="20" font-family="sans-serif" font-weight="700" fill="#fff" text-anchor="middle">${mark}</text></svg>`)}`;

export function createAttention() {
  const body = document.body;
  let ctx = null;
  let sounding = [];
  let mutedUntil = 0;
  /** Alarms present when mute was pressed: a new one sounds through the mute. */
  let mutedIds = new Set();
  let beeps = 0;
  let ticks = 0;
  let wakeLock = null;
  const notified = new Set();

  const set = (k, v) => {
    body.dataset[k] = String(v);
  };
  set('audio', 'locked');
  set('beeps', 0);
  set('ticks', 0);
  set('wakeLock', 'none');

  function tone(at, freq, ms) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'square';
    osc.frequency.value = freq;
    // A short ramp in and out: no click, and it cuts through ward noise without being shrill.
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(0.25, at + 0.01);
    gain.gain.setValueAtTime(0.25, at + ms / 1000 - 0.02);
    gain.gain.linearRampToValueAtTime(0, at + ms / 1000);
    osc.connect(gain).connect(ctx.destination);
    osc.start(at);
    osc.stop(at + ms / 1000);
  }

  /** IEC 60601-1-8 style: three quick tones for a critical alarm, two for the rest. */
  function play(severity) {
    const t0 = ctx.currentTime + 0.02;
    const n = severity >= 40 ? 3 : 2;
    for (let i = 0; i < n; i++) tone(t0 + i * 0.22, severity >= 40 ? 988 : 784, 150);
    beeps++;
    set('beeps', beeps);
  }

  function tick() {
    const muted = Date.now() < mutedUntil && sounding.every((a) => mutedIds.has(a.id));
    if (sounding.length === 0) set('audio', ctx ? 'quiet' : 'locked');
    else if (!ctx) set('audio', 'locked');
    else if (muted) set('audio', 'muted');
    else {
      if (ctx.state !== 'running') ctx.resume().catch(() => undefined);
      set('audio', 'alarm');
      play(Math.max(...sounding.map((a) => a.severity)));
    }
    set('audioContext', ctx ? ctx.state : 'none');
  }
  setInterval(() => {
    tick();
    set('ticks', ++ticks);
  }, REPEAT_MS);

  async function holdScreen() {
    if (!('wakeLock' in navigator) || document.visibilityState !== 'visible') return set('wakeLock', 'wakeLock' in navigator ? 'released' : 'unsupported');
    try {
      wakeLock = await navigator.wakeLock.request('screen');
      set('wakeLock', 'held');
      wakeLock.addEventListener('release', () => set('wakeLock', 'released'));
    } catch {
      set('wakeLock', 'refused');
    }
  }
  // A lock is released whenever the page is hidden; it is taken again when it shows.
  document.addEventListener('visibilitychange', () => {
    if (ctx && document.visibilityState === 'visible') holdScreen();
  });

  return {
    /** Called from a tap: the only moment a browser lets a page start sound. */
    unlock() {
      ctx = ctx || new AudioContext();
      ctx.resume().catch(() => undefined);
      if ('Notification' in window && Notification.permission === 'default') Notification.requestPermission().catch(() => undefined);
      holdScreen();
      tick();
    },
    unlocked: () => ctx !== null,
    mute() {
      mutedUntil = Date.now() + MUTE_MS;
      mutedIds = new Set(sounding.map((a) => a.id));
      tick();
    },
    unmute() {
      mutedUntil = 0;
      tick();
    },
    mutedUntil: () => (Date.now() < mutedUntil ? mutedUntil : 0),
    /**
     * The board's state after each change: the alarms not yet acknowledged, and whether
     * the board is live. Sound starts at once for a new alarm, then repeats.
     */
    update({ raised, stale, title, describe }) {
      const before = new Set(sounding.map((a) => a.id));
      sounding = raised.filter((a) => a.severity >= SOUND_FROM_SEVERITY);
      const fresh = raised.filter((a) => !notified.has(a.id));
      for (const a of fresh) {
        notified.add(a.id);
        navigator.vibrate?.([400, 200, 400]);
        if ('Notification' in window && Notification.permission === 'granted') {
          try {
            new Notification(describe(a), { tag: a.id, requireInteraction: a.severity >= 40 });
          } catch {
            // Some platforms allow notifications only from a service worker; the sound and the title remain.
          }
        }
      }
      if (sounding.some((a) => !before.has(a.id))) tick();
      else if (sounding.length === 0) set('audio', ctx ? 'quiet' : 'locked');
      document.title = title;
      const link = document.getElementById('favicon');
      const kind = stale ? 'stale' : raised.length > 0 ? 'alarm' : 'calm';
      if (link.dataset.kind !== kind) {
        link.dataset.kind = kind;
        link.href = icon(ICONS[kind], kind === 'stale' ? '?' : kind === 'alarm' ? '!' : '');
      }
    },
  };
}
