import type { ConformanceReport, ConformanceRun } from '../kernel/conformance.js';

const html = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const iso = (ms: number | null): string => (ms === null ? '–' : new Date(ms).toISOString().replace('.000Z', 'Z'));
const W = 640;
const H = 180;
const PAD = 36;

/** Seconds between consecutive messages, against their receive time: the reporting interval at a glance, with the expected one as a line. */
function intervalPlot(r: ConformanceReport, expectedS: number): string {
  const a = r.series.arrivals;
  if (a.length < 2) return '<p class="muted">Fewer than two messages: no interval to plot.</p>';
  const gaps = a.slice(1).map((t, i) => ({ t, s: (t - a[i]!) / 1000 }));
  const maxS = Math.max(expectedS * 2, ...gaps.map((g) => g.s));
  const x = (t: number) => PAD + ((t - r.from) / Math.max(1, r.to - r.from)) * (W - 2 * PAD);
  const y = (s: number) => H - PAD + 10 - (s / maxS) * (H - PAD - 10);
  const dots = gaps.map((g) => `<circle cx="${x(g.t).toFixed(1)}" cy="${y(g.s).toFixed(1)}" r="2.5"/>`).join('');
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="Seconds between messages over the run">
<line x1="${PAD}" y1="${y(0)}" x2="${W - PAD}" y2="${y(0)}" class="axis"/><line x1="${PAD}" y1="${y(0)}" x2="${PAD}" y2="10" class="axis"/>
<line x1="${PAD}" y1="${y(expectedS).toFixed(1)}" x2="${W - PAD}" y2="${y(expectedS).toFixed(1)}" class="expected"/>
<text x="${W - PAD}" y="${(y(expectedS) - 4).toFixed(1)}" text-anchor="end">expected ${expectedS} s</text>
<text x="4" y="14">${maxS.toFixed(1)} s</text><text x="4" y="${y(0)}">0</text>
<text x="${PAD}" y="${H - 4}">${html(iso(r.from))}</text><text x="${W - PAD}" y="${H - 4}" text-anchor="end">${html(iso(r.to))}</text>
<g class="dots">${dots}</g></svg>`;
}

/** Device clock offset (device − hub) as a histogram, with the hub's allowance shaded. */
function clockPlot(r: ConformanceReport, skewMs: number): string {
  const offs = r.series.clockOffsetsMs.map((d) => d / 1000);
  if (offs.length === 0) return '<p class="muted">No point stored: no device time to plot.</p>';
  const skew = skewMs / 1000;
  const lo = Math.min(-skew * 1.5, ...offs);
  const hi = Math.max(skew * 1.5, ...offs);
  const bins = 40;
  const width = (hi - lo) / bins || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const o of offs) counts[Math.min(bins - 1, Math.floor((o - lo) / width))]!++;
  const max = Math.max(...counts);
  const x = (v: number) => PAD + ((v - lo) / (hi - lo || 1)) * (W - 2 * PAD);
  const bw = (W - 2 * PAD) / bins;
  const bars = counts
    .map((c, i) =>
      c === 0
        ? ''
        : `<rect x="${(PAD + i * bw).toFixed(1)}" y="${(H - PAD - (c / max) * (H - PAD - 10)).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${((c / max) * (H - PAD - 10)).toFixed(1)}"/>`,
    )
    .join('');
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="Device clock offset histogram">
<rect x="${x(-skew).toFixed(1)}" y="10" width="${(x(skew) - x(-skew)).toFixed(1)}" height="${H - PAD - 10}" class="allowed"/>
<line x1="${PAD}" y1="${H - PAD}" x2="${W - PAD}" y2="${H - PAD}" class="axis"/>
<g class="bars">${bars}</g>
<text x="${PAD}" y="${H - 18}">${lo.toFixed(0)} s</text><text x="${x(0).toFixed(1)}" y="${H - 18}" text-anchor="middle">0</text><text x="${W - PAD}" y="${H - 18}" text-anchor="end">${hi.toFixed(0)} s</text>
<text x="${x(0).toFixed(1)}" y="${H - 4}" text-anchor="middle">device − hub; shaded: within ±${skew.toFixed(0)} s</text></svg>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:52em;color:#111}
h1{font-size:1.4em;margin:0}table{border-collapse:collapse;width:100%;margin:.5em 0 1em}
th,td{border:1px solid #bbb;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f2f2f2}
.pass{color:#05691c;font-weight:600}.fail{color:#a40000;font-weight:700}.not-applicable{color:#666}
.status{font-size:1.2em;padding:.2em .6em;border:2px solid currentColor;display:inline-block;margin:.5em 0}
.muted{color:#666}svg text{font-size:11px;fill:#333}.axis{stroke:#333}.expected{stroke:#a40000;stroke-dasharray:4 3}
.dots circle{fill:#1f4e99}.bars rect{fill:#1f4e99}.allowed{fill:#dff0d8}pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:12px}
@media print{body{margin:0;max-width:none}a{color:inherit;text-decoration:none}}`;

function evidence(e: Readonly<Record<string, unknown>>): string {
  const text = JSON.stringify(e, null, 1);
  return text === '{}' ? '' : `<details><summary>Evidence</summary><pre>${html(text)}</pre></details>`;
}

/**
 * A conformance run as a printable page: what a vendor hands to an arena or puts in a
 * procurement file. It names the device, the profile version, the hub version and the
 * run's time; each check with its rule, outcome, finding and evidence; the plots as
 * inline SVG, so the page stands alone.
 */
export function reportHtml(run: ConformanceRun): string {
  const r = run.report;
  const head = `<table>
<tr><th>Device</th><td>${html(run.deviceId)}</td><th>Run</th><td>${html(run.id)}</td></tr>
<tr><th>Profile</th><td>${html(run.profileId)} ${html(run.profileVersion)}</td><th>Hub version</th><td>arena-hub ${html(run.hubVersion)}</td></tr>
<tr><th>Started</th><td>${iso(run.startedAt)}</td><th>Ended</th><td>${iso(run.endedAt)} (planned ${iso(run.endsAt)})</td></tr>
</table>`;
  const status = `<div class="status ${run.status === 'passed' ? 'pass' : run.status === 'failed' ? 'fail' : 'not-applicable'}">${html(run.status.toUpperCase())}</div>${
    run.note ? `<p>${html(run.note)}</p>` : ''
  }`;
  const body = r
    ? `<h2>Summary</h2><p>${r.summary.messages} messages (${r.summary.rejectedMessages} with rejections, ${r.summary.duplicates} received again), ${r.summary.points} points, ${r.summary.publishes} publishes, ${r.summary.connects} connects and ${r.summary.disconnects} disconnects during the run.</p>
<h2>Checks</h2><table><tr><th>Check</th><th>Rule</th><th>Outcome</th><th>Finding</th></tr>
${r.checks.map((c) => `<tr id="check-${html(c.id)}"><td>${html(c.title)}<br><span class="muted">${html(c.id)}</span></td><td>${html(c.rule)}</td><td class="${c.outcome}">${c.outcome}</td><td>${html(c.finding)}${evidence(c.evidence)}</td></tr>`).join('\n')}
</table>
<h2>Reporting interval</h2>${intervalPlot(r, r.expectedIntervalS)}
<h2>Device clock</h2>${clockPlot(r, r.skewMs)}`
    : run.status === 'running'
      ? '<p>The run is in progress; its report comes at its end.</p>'
      : '<p>No report: nothing the run saw was kept.</p>';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Conformance report ${html(run.deviceId)} ${html(run.id)}</title><style>${STYLE}</style></head>
<body><h1>Conformance report: ${html(run.deviceId)}</h1>${status}${head}${body}</body></html>`;
}
