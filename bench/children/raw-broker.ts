import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';

/**
 * The raw baseline: the same aedes version as the hub with no hooks (no auth, no ACL,
 * no ingest) and its default in-memory persistence. Replies {port} once listening.
 */
const aedes = await Aedes.createBroker();
const server = createServer((socket) => {
  socket.setNoDelay(true); // as the hub's listener does
  aedes.handle(socket);
});
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
process.on('disconnect', () => process.exit(0));
process.once('SIGTERM', () => aedes.close(() => server.close(() => process.exit(0))));
