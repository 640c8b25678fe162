/**
 * The layers README "How it is put together" draws, checked by tests/architecture/layers.test.ts
 * on every top-level folder (by hand: `npx depcruise kernel service stores broker ingest api alarms datasets hub`).
 *
 * kernel/           domain types and ports; imports nothing of ours
 * device-profiles/  builds on the kernel
 * conformance/      the vendor conformance kit's pure parts (trying a sample as ingest
 *                   decides it, judging a run's observations, the report): kernel and
 *                   device-profiles only, so that services and composition roots may use it
 * reports/          the trial evaluation report's indicators and their computation: kernel only,
 *                   so that the API and the dataset export may both use it
 * fhir/             FHIR R4 mapping, validation and the push queue: kernel only, so that
 *                   api/ and the composition roots may use it (a leaf like conformance/)
 * service/          what the service processes share (config pieces, runService, the
 *                   service MQTT client); adapters.ts is for composition roots only
 * broker/ ingest/ api/ alarms/ datasets/
 *                   the services: kernel, device-profiles, service/ and audit/key.ts;
 *                   never each other, never a composition root, never an adapter
 * stores/           adapters: implement kernel ports, import nothing but the kernel
 * composition roots hub/, the split mains (broker|ingest|api/main.ts), sim/main.ts,
 *                   audit/verify.ts, bench/, soak/: the only places that build adapters
 * tests/            may import anything
 *
 * The only allowances are the known exceptions in KNOWN_SERVICE_IMPORTS, each with its reason.
 */

// Any module of this repository, whatever its folder (npm packages and Node.js built-ins are not ours).
const OURS = '^(?!node_modules/)[^/:]+/';
const COMPOSITION_ROOTS = '^(hub/|bench/|soak/|(broker|ingest|api|sim)/main[.]ts$|audit/verify[.]ts$|service/adapters[.]ts$)';
const SERVICES = '^(broker|ingest|api|alarms|datasets)/';

/**
 * KNOWN exceptions to services-never-import-each-other, each limited to the files named
 * and to what they import today. Remove an entry when its fix lands.
 */
const KNOWN_SERVICE_IMPORTS = [
  {
    from: '^api/(routes|schemas)/datasets[.]ts$',
    own: '^api/',
    to: '^datasets/',
    why: 'the API serves trial datasets by calling datasets/ in the request (codebook, columns, export writer, formats, manifest); putting that use case behind a kernel port, with its DuckDB use behind a store port, is its own change',
  },
  {
    from: '^api/config[.]ts$',
    own: '^api/',
    to: '^alarms/config[.]ts$',
    why: "the split API process hosts the alarm engine, so the process's one schema includes the engine's ALARM_* variables",
  },
];

/** The KNOWN exception to stores-implement-kernel-ports. Remove it when its fix lands. */
const KNOWN_STORE_IMPORT = {
  from: '^stores/sql/profile-versions[.]ts$',
  to: '^device-profiles/',
  why: 'the registry of published profile versions compiles each stored version into a decoder as it reads it; the compiling catalog belongs in device-profiles/ with only the SQL left here, its own change',
};

/** The rule that modules matching `from` import nothing of ours but the kernel and the folders (or paths) in `also`. */
const onlyImports = (name, comment, from, also = []) => ({
  name,
  severity: 'error',
  comment,
  from,
  to: { path: OURS, pathNot: ['^kernel/', ...also.map((a) => (a.startsWith('^') ? a : `^${a}/`))], dependencyTypesNot: ['core'] },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes two modules one: neither can be read, tested or moved alone.',
      from: {},
      to: { circular: true },
    },
    onlyImports('kernel-imports-nothing-of-ours', 'The kernel is the domain every layer builds on; it depends on npm packages and itself only.', {
      path: '^kernel/',
    }),
    onlyImports(
      'device-profiles-build-on-kernel',
      'Profiles are data checked by a schema and decoded by pure code; they know the kernel only.',
      { path: '^device-profiles/' },
      ['device-profiles'],
    ),
    onlyImports(
      'conformance-builds-on-profiles',
      'The conformance kit decodes and judges with the profiles and the kernel; it knows no service, store or root.',
      { path: '^conformance/' },
      ['device-profiles', 'conformance'],
    ),
    onlyImports(
      'reports-builds-on-kernel',
      'The report computes indicators from kernel types; the API and the dataset export call it, so it knows neither.',
      { path: '^reports/' },
      ['reports'],
    ),
    onlyImports(
      'fhir-builds-on-kernel',
      'The FHIR mapping turns kernel types into resources; it knows no service, store or root, so every service may speak FHIR.',
      { path: '^fhir/' },
      ['fhir'],
    ),
    onlyImports(
      'service-shared-module-below-services',
      'service/ is shared by every service process, so it knows none of them (adapters.ts, a composition-root helper, excepted).',
      { path: '^service/', pathNot: '^service/adapters[.]ts$' },
      ['service'],
    ),
    onlyImports(
      'stores-implement-kernel-ports',
      'An adapter implements a kernel port and knows nothing of the services that use it.',
      { path: '^stores/', pathNot: KNOWN_STORE_IMPORT.from },
      ['stores'],
    ),
    onlyImports(
      'stores-implement-kernel-ports',
      `KNOWN exception, ${KNOWN_STORE_IMPORT.from} may import ${KNOWN_STORE_IMPORT.to} as well: ${KNOWN_STORE_IMPORT.why}`,
      { path: KNOWN_STORE_IMPORT.from },
      ['stores', KNOWN_STORE_IMPORT.to],
    ),
    {
      name: 'services-never-import-each-other',
      severity: 'error',
      comment: 'broker, ingest, api, alarms and datasets meet through MQTT, the kernel ports and the composition roots.',
      from: { path: SERVICES, pathNot: [COMPOSITION_ROOTS, ...KNOWN_SERVICE_IMPORTS.map((k) => k.from)] },
      to: { path: SERVICES, pathNot: '^$1/' },
    },
    ...KNOWN_SERVICE_IMPORTS.map((k) => ({
      name: 'services-never-import-each-other',
      severity: 'error',
      comment: `KNOWN exception, ${k.from} may import ${k.to} and nothing else of another service: ${k.why}`,
      from: { path: k.from },
      to: { path: SERVICES, pathNot: [k.own, k.to] },
    })),
    {
      name: 'nothing-imports-a-composition-root',
      severity: 'error',
      comment: 'A composition root wires everything; whatever it holds that others need belongs in service/ or the kernel.',
      from: { path: OURS, pathNot: ['^tests/', COMPOSITION_ROOTS] },
      to: { path: COMPOSITION_ROOTS },
    },
    {
      name: 'composition-roots-stay-apart',
      severity: 'error',
      comment: 'The split mains are composition roots like hub/: none borrows from another (bench/ and soak/ drive the hub as tools do).',
      from: { path: '^(hub/|(broker|ingest|api|sim)/main[.]ts$|audit/verify[.]ts$|service/adapters[.]ts$)' },
      to: { path: '^(hub/|bench/|soak/|(broker|ingest|api|sim)/main[.]ts$|audit/verify[.]ts$)', pathNot: '^$1' },
    },
    {
      name: 'only-composition-roots-build-adapters',
      severity: 'error',
      comment: 'Services receive ports; only a composition root opens a store (stores/) or the shared adapters (service/adapters.ts).',
      from: { path: OURS, pathNot: ['^tests/', '^stores/', COMPOSITION_ROOTS] },
      to: { path: '^(stores/|service/adapters[.]ts$)' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve is a typo or a missing dependency.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports are dependencies of the design too (a port named from stores/ is still a leak).
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules)/' },
    // node_modules is a link in some checkouts; keep its paths as node_modules/…
    preserveSymlinks: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts', '.json'],
    },
    skipAnalysisNotInRules: true,
  },
};
