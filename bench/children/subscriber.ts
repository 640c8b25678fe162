import mqtt from 'mqtt';
import { noDelay } from '../load/generator.js';

/**
 * The one QoS 1 subscriber of a baseline broker, in its own process. Counts what it
 * receives without parsing payloads (the count is checked against the publishers' acks).
 * argv: port, topic filter. IPC: {op:'count'} → {received, dup}.
 */
const [port, filter = 'devices/+/events'] = process.argv.slice(2);
let received = 0;
let dup = 0;
const client = mqtt.connect({
  host: '127.0.0.1',
  port: Number(port),
  clientId: `bench-sub-${process.pid}`,
  clean: true,
  reconnectPeriod: 0,
  protocolVersion: 4,
});
noDelay(client);
client.on('message', (_topic, _payload, packet) => {
  received++;
  if (packet.dup) dup++;
});
client.on('error', (e) => process.send?.({ error: e.message }));
client.once('connect', () =>
  client.subscribe(filter, { qos: 1 }, (err) => (err ? process.send?.({ error: err.message }) : process.send?.({ subscribed: true }))),
);
process.on('message', (m: { op?: string }) => {
  if (m.op === 'count') process.send?.({ received, dup });
});
process.on('disconnect', () => process.exit(0));
process.once('SIGTERM', () => client.end(true, {}, () => process.exit(0)));
