// aedes-persistence-redis 11.2.2 ships no types. It takes ioredis options (or `conn`, a
// connection) and returns an aedes persistence; broker/aedes-compat.ts AedesPersistence
// names the part the hub calls.
declare module 'aedes-persistence-redis' {
  const aedesPersistenceRedis: (opts: object) => unknown;
  export default aedesPersistenceRedis;
}
