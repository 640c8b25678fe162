// aedes-persistence-level 9.2.0 ships no types. It takes an abstract-level database
// (classic-level here) and returns an aedes persistence; broker/aedes-compat.ts AedesPersistence
// names the part the hub calls.
declare module 'aedes-persistence-level' {
  const aedesPersistenceLevel: (db: object) => unknown;
  export default aedesPersistenceLevel;
}
