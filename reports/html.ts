import type { Comparison, Histogram, Report, ReportRow } from './compute.js';
import type { IndicatorDefinition } from './definitions.js';

/**
 * The report as one self-contained HTML page: tables, and plots drawn here as inline
 * SVG (no script, no CDN, nothing fetched), with print CSS so the browser's "print to
 * PDF" gives the document for an operations meeting. English or Norwegian (bokmål).
 */

export const REPORT_LANGS = ['en', 'nb'] as const;
export type ReportLang = (typeof REPORT_LANGS)[number];

const T = {
  en: {
    title: 'Trial report',
    status: 'Status',
    period: 'Trial period',
    baseline: 'Baseline',
    intervention: 'Intervention',
    trial: 'Trial',
    none: 'none',
    generated: 'Generated',
    definitions: 'Indicator definitions version',
    exportId: 'Release id',
    audience: 'Audience',
    participants: 'Participants with released data',
    suppressed: (k: number, n: number) => `Cells describing fewer than ${k} participants are suppressed (shown as “–”): ${n} cell(s) in this report.`,
    notSuppressed: 'Arena staff view: no cells are suppressed.',
    comparison: 'Baseline against intervention',
    indicator: 'Indicator',
    statistic: 'Statistic',
    subject: 'Subject',
    measure: 'Measure',
    estimate: 'Estimate',
    ci: '95 % CI',
    weekly: 'By week',
    monthly: 'By month',
    distributions: 'Response times',
    notComputable: 'Not computable yet',
    formula: 'Formula',
    unit: 'Unit',
    statuses: { planned: 'planned', running: 'running', completed: 'completed', archived: 'archived' },
    measures: { rate_ratio: 'rate ratio', difference: 'difference' },
    bins: ['<30 s', '<1 min', '<2 min', '<5 min', '<10 min', '<30 min', '<1 h', '≥1 h'],
    baselineShaded: 'shaded: baseline',
  },
  nb: {
    title: 'Rapport fra utprøvingen',
    status: 'Status',
    period: 'Utprøvingsperiode',
    baseline: 'Nullpunkt',
    intervention: 'Intervensjon',
    trial: 'Utprøving',
    none: 'ingen',
    generated: 'Laget',
    definitions: 'Versjon av indikatordefinisjonene',
    exportId: 'Utleverings-id',
    audience: 'Mottaker',
    participants: 'Deltakere med utleverte data',
    suppressed: (k: number, n: number) => `Celler som beskriver færre enn ${k} deltakere er skjult (vist som «–»): ${n} celle(r) i denne rapporten.`,
    notSuppressed: 'Visning for arenaens ansatte: ingen celler er skjult.',
    comparison: 'Nullpunkt mot intervensjon',
    indicator: 'Indikator',
    statistic: 'Mål',
    subject: 'Gjelder',
    measure: 'Sammenligning',
    estimate: 'Estimat',
    ci: '95 % KI',
    weekly: 'Per uke',
    monthly: 'Per måned',
    distributions: 'Responstider',
    notComputable: 'Kan ikke beregnes ennå',
    formula: 'Formel',
    unit: 'Enhet',
    statuses: { planned: 'planlagt', running: 'pågår', completed: 'avsluttet', archived: 'arkivert' },
    measures: { rate_ratio: 'ratebrøk', difference: 'differanse' },
    bins: ['<30 s', '<1 min', '<2 min', '<5 min', '<10 min', '<30 min', '<1 t', '≥1 t'],
    baselineShaded: 'skravert: nullpunkt',
  },
} as const;

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const day = (t: number): string => new Date(t).toISOString().slice(0, 10);
const fmt = (v: number | null, lang: ReportLang): string => {
  if (v === null || !Number.isFinite(v)) return '–';
  const locale = lang === 'nb' ? 'nb-NO' : 'en-GB';
  const a = Math.abs(v);
  if (a === 0) return '0'; // also −0, from a difference of equal values
  if (a < 1) return v.toLocaleString(locale, { maximumSignificantDigits: 3 });
  return v.toLocaleString(locale, { maximumFractionDigits: a >= 100 ? 0 : a >= 10 ? 1 : 3 });
};

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;color:#1b1f24;margin:2rem auto;max-width:60rem;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .5rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #ccd}
h3{font-size:1rem;margin:1.2rem 0 .3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border-bottom:1px solid #e3e6ea;padding:.25rem .4rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{background:#fff7e0;border-left:4px solid #e0a800;padding:.5rem .8rem}
.meta td:first-child{width:16rem;color:#555}
figure{margin:.5rem 0 1.2rem;break-inside:avoid}figcaption{font-size:.85rem;color:#555}
svg text{font:11px system-ui,sans-serif;fill:#333}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(28rem,1fr));gap:.5rem 1.5rem}
@media print{body{margin:0;max-width:none;font-size:11px}h2{break-after:avoid}table,figure{break-inside:avoid}.charts{grid-template-columns:1fr 1fr}@page{size:A4;margin:15mm}}
`;

export interface HtmlExtras {
  readonly exportId: string;
}

export function reportHtml(report: Report, lang: ReportLang, extras: HtmlExtras): string {
  const t = T[lang];
  const label = (id: string): string => report.indicators.find((d) => d.id === id)?.labels[lang] ?? id;
  const periodName = (p: string): string => (p === 'baseline' ? t.baseline : p === 'intervention' ? t.intervention : t.trial);
  const range = (p: { from: number; to: number } | null): string => (p ? `${day(p.from)} – ${day(p.to)}` : t.none);
  const intervention = report.periods.find((p) => p.name === 'intervention') ?? null;
  const meta: [string, string][] = [
    [t.status, t.statuses[report.trial.status]],
    [t.period, range(report.trial.period)],
    [t.baseline, range(report.trial.baseline)],
    [t.intervention, range(intervention)],
    [t.participants, String(report.participantsReleased)],
    [t.audience, report.audience],
    [t.definitions, report.definitionsVersion],
    [t.exportId, extras.exportId],
    [t.generated, new Date(report.generatedAt).toISOString()],
  ];
  const computable = report.indicators.filter((d) => d.kind !== 'not-computable');
  const missing = report.indicators.filter((d): d is Extract<IndicatorDefinition, { kind: 'not-computable' }> => d.kind === 'not-computable');
  return `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8"><title>${esc(t.title)} · ${esc(report.trial.name)}</title><style>${STYLE}</style></head>
<body>
<h1>${esc(t.title)}: ${esc(report.trial.name)}</h1>
<table class="meta">${meta.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
<p class="note">${esc(report.suppression ? t.suppressed(report.minCellParticipants, report.suppressedCells) : t.notSuppressed)}</p>
<h2>${esc(t.comparison)}</h2>
${comparisonTable(report.comparisons, label, lang)}
<h2>${esc(report.granularity === 'week' ? t.weekly : t.monthly)} <small>(${esc(t.baselineShaded)})</small></h2>
<div class="charts">${seriesCharts(report, computable, label, lang)}</div>
${report.histograms.length ? `<h2>${esc(t.distributions)}</h2><div class="charts">${report.histograms.map((h) => histogramChart(h, label(h.indicator), periodName(h.period), t.bins)).join('')}</div>` : ''}
<h2>${esc(t.formula)}</h2>
<table><tr><th>${esc(t.indicator)}</th><th>${esc(t.formula)}</th><th>${esc(t.unit)}</th></tr>
${computable.map((d) => `<tr><td>${esc(d.labels[lang])}</td><td>${esc(d.formula)}</td><td>${esc(d.unit)}</td></tr>`).join('')}</table>
${missing.length ? `<h2>${esc(t.notComputable)}</h2><ul>${missing.map((d) => `<li><b>${esc(d.labels[lang])}</b>: ${esc(d.reason[lang])}</li>`).join('')}</ul>` : ''}
</body></html>
`;
}

function comparisonTable(list: readonly Comparison[], label: (id: string) => string, lang: ReportLang): string {
  const t = T[lang];
  const rows = list.map(
    (c) =>
      `<tr><td>${esc(label(c.indicator))}</td><td>${esc(c.statistic)}</td><td>${esc(c.subject ?? '')}</td>` +
      `<td class="n">${fmt(c.baseline, lang)}</td><td class="n">${fmt(c.intervention, lang)}</td><td>${esc(t.measures[c.measure])}</td>` +
      `<td class="n">${fmt(c.estimate, lang)}</td><td class="n">${c.low === null ? '–' : `${fmt(c.low, lang)} – ${fmt(c.high, lang)}`}</td></tr>`,
  );
  return `<table><tr><th>${esc(t.indicator)}</th><th>${esc(t.statistic)}</th><th>${esc(t.subject)}</th><th>${esc(t.baseline)}</th><th>${esc(t.intervention)}</th><th>${esc(t.measure)}</th><th>${esc(t.estimate)}</th><th>${esc(t.ci)}</th></tr>${rows.join('')}</table>`;
}

const W = 440;
const H = 170;
const PAD = { l: 44, r: 24, t: 12, b: 34 };

/** One line chart per indicator and statistic over all subjects-less weekly rows. */
function seriesCharts(report: Report, defs: readonly IndicatorDefinition[], label: (id: string) => string, lang: ReportLang): string {
  const out: string[] = [];
  for (const d of defs) {
    const rows = report.rows.filter((r) => r.indicator === d.id && r.bucket !== 'total' && r.subject === null);
    for (const stat of [...new Set(rows.map((r) => r.statistic))]) {
      const series = rows.filter((r) => r.statistic === stat).sort((a, b) => a.bucket.localeCompare(b.bucket));
      if (series.length) out.push(lineChart(series, `${label(d.id)}${stat === 'p50' || stat === 'p90' ? ` (${stat})` : ''}`, lang));
    }
  }
  return out.join('');
}

function lineChart(series: readonly ReportRow[], title: string, lang: ReportLang): string {
  const buckets = [...new Set(series.map((r) => r.bucket))].sort();
  const values = series.map((r) => r.value).filter((v): v is number => v !== null);
  const max = Math.max(1e-9, ...values, ...series.map((r) => r.high ?? 0));
  const x = (i: number): number => PAD.l + (buckets.length === 1 ? (W - PAD.l - PAD.r) / 2 : (i * (W - PAD.l - PAD.r)) / (buckets.length - 1));
  const y = (v: number): number => PAD.t + (1 - v / max) * (H - PAD.t - PAD.b);
  const step = buckets.length > 1 ? x(1) - x(0) : W - PAD.l - PAD.r;
  const baselineIdx = buckets.map((b, i) => (series.some((r) => r.bucket === b && r.period === 'baseline') ? i : -1)).filter((i) => i >= 0);
  const shade = baselineIdx.length
    ? `<rect x="${x(Math.min(...baselineIdx)) - step / 2}" y="${PAD.t}" width="${step * baselineIdx.length}" height="${H - PAD.t - PAD.b}" fill="#dfe8f5"/>`
    : '';
  const points = buckets.map((b, i) => {
    const r = series.find((s) => s.bucket === b && s.value !== null) ?? series.find((s) => s.bucket === b)!;
    return { i, r };
  });
  const path = points
    .filter((p) => p.r.value !== null)
    .map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p.i).toFixed(1)},${y(p.r.value!).toFixed(1)}`)
    .join(' ');
  const marks = points
    .map((p) =>
      p.r.value === null
        ? `<text x="${x(p.i)}" y="${H - PAD.b - 4}" text-anchor="middle">–</text>`
        : `${p.r.low !== null && p.r.high !== null ? `<line x1="${x(p.i)}" x2="${x(p.i)}" y1="${y(p.r.low)}" y2="${y(p.r.high)}" stroke="#8aa"/>` : ''}<circle cx="${x(p.i)}" cy="${y(p.r.value)}" r="3" fill="#1f5fa8"><title>${esc(p.r.bucket)}: ${fmt(p.r.value, lang)}</title></circle>`,
    )
    .join('');
  const labels = buckets
    .map((b, i) =>
      buckets.length <= 12 || i % Math.ceil(buckets.length / 12) === 0
        ? `<text x="${x(i)}" y="${H - PAD.b + 14}" text-anchor="middle">${esc(b.slice(5))}</text>`
        : '',
    )
    .join('');
  const axis = `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${H - PAD.b}" y2="${H - PAD.b}" stroke="#999"/><text x="${PAD.l - 4}" y="${PAD.t + 4}" text-anchor="end">${fmt(max, lang)}</text><text x="${PAD.l - 4}" y="${H - PAD.b}" text-anchor="end">0</text>`;
  return `<figure><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(title)}">${shade}${axis}<path d="${path}" fill="none" stroke="#1f5fa8" stroke-width="1.5"/>${marks}${labels}</svg><figcaption>${esc(title)}</figcaption></figure>`;
}

function histogramChart(h: Histogram, title: string, period: string, bins: readonly string[]): string {
  const caption = `${title}: ${period}`;
  if (!h.counts) return `<figure><figcaption>${esc(caption)}: –</figcaption></figure>`;
  const counts = h.counts;
  const max = Math.max(1, ...counts);
  const bw = (W - PAD.l - PAD.r) / counts.length;
  const bars = counts
    .map((c, i) => {
      const bh = (c / max) * (H - PAD.t - PAD.b);
      const x = PAD.l + i * bw;
      return `<rect x="${x + 2}" y="${H - PAD.b - bh}" width="${bw - 4}" height="${bh}" fill="${h.period === 'baseline' ? '#9db4d3' : '#1f5fa8'}"><title>${c}</title></rect><text x="${x + bw / 2}" y="${H - PAD.b + 14}" text-anchor="middle">${esc(bins[i] ?? '')}</text><text x="${x + bw / 2}" y="${H - PAD.b - bh - 3}" text-anchor="middle">${c}</text>`;
    })
    .join('');
  return `<figure><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(caption)}"><line x1="${PAD.l}" x2="${W - PAD.r}" y1="${H - PAD.b}" y2="${H - PAD.b}" stroke="#999"/>${bars}</svg><figcaption>${esc(caption)}</figcaption></figure>`;
}
