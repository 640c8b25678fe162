import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet, type ClosedLoopResult, type SimDevice } from './load/generator.js';
import { HUB_NODE_FLAGS, HUB_PROCESS_ENV, forkHelper, freePort, stopChild, waitForTcp } from './procs.js';
import { RssSampler, cpuDelta, cpuOf, cpuShare, type CpuTimes } from './proc-stats.js';

/**
 * Brokers without the hub: the same load, forwarded to one QoS 1 subscriber in its own
 * process. The PUBACK a publisher gets from these brokers means "handed to the
 * subscriber's connection", where the hub's means "committed to the store".
 */
export interface BaselineRun {
  readonly broker: string;
  readonly load: ClosedLoopResult;
  readonly subscriberReceived: number;
  readonly connectSeconds: number;
  readonly brokerPeakRssMb: number;
  /** Share of one core over the run. */
  readonly brokerCpu: { process: number; mainThread: number } | null;
  /** CPU seconds over the run. */
  readonly brokerCpuSeconds: CpuTimes | null;
}

type Started = { port: number; pid: number; stop: () => Promise<unknown> };

export interface BaselineBroker {
  readonly name: string;
  /** undefined: not available on this machine (the reason is in `why`). */
  start(workDir: string): Promise<Started | undefined>;
  readonly why?: string;
}

export const rawAedes = (baseEnv: Readonly<Record<string, string | undefined>>): BaselineBroker => ({
  name: 'raw aedes',
  async start() {
    const helper = await forkHelper('raw-broker.js', [], { ...baseEnv, ...HUB_PROCESS_ENV }, HUB_NODE_FLAGS);
    return { port: (helper.ready as { port: number }).port, pid: helper.pid, stop: () => helper.stop() };
  },
});

/**
 * Debian's mosquitto, if installed. Its defaults would drop QoS 1 messages queued for a
 * slow subscriber beyond 1,000 (max_queued_messages) and cap in-flight at 20; both are
 * lifted so that, like aedes, it loses nothing and the comparison is of speed only.
 */
export const mosquitto = (binary: string | undefined): BaselineBroker => ({
  name: 'mosquitto',
  why: binary ? undefined : 'mosquitto not installed (apt-get install -y mosquitto)',
  async start(workDir) {
    if (!binary) return undefined;
    const port = await freePort();
    const conf = join(workDir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'max_queued_messages 0', 'max_inflight_messages 0', 'persistence false', 'log_dest none', ''].join(
        '\n',
      ),
    );
    const child = spawn(binary, ['-c', conf], { stdio: 'ignore' });
    await waitForTcp(port, 10_000, child);
    return { port, pid: child.pid!, stop: () => stopChild(child, 5000) };
  },
});

export async function runBaseline(
  broker: BaselineBroker,
  opts: {
    devices: readonly SimDevice[];
    perDevice: number;
    window: number;
    payload: Parameters<Fleet['closedLoop']>[0]['payload'];
    workDir: string;
    baseEnv: Readonly<Record<string, string | undefined>>;
  },
): Promise<BaselineRun | undefined> {
  const started = await broker.start(opts.workDir);
  if (!started) return undefined;
  const subscriber = await forkHelper('subscriber.js', [String(started.port)], opts.baseEnv);
  let fleet: Fleet | undefined;
  try {
    // No authentication here, so no scrypt: the devices connect without their secrets.
    const anonymous = opts.devices.map((d) => ({ id: d.id }));
    const connected = await Fleet.connect({ port: started.port, devices: anonymous, concurrency: 50 });
    fleet = connected.fleet;
    const rss = new RssSampler(started.pid).start();
    const cpu0 = cpuOf(started.pid);
    const t0 = Date.now();
    const load = await fleet.closedLoop({ perDevice: opts.perDevice, window: opts.window, payload: opts.payload, timeoutMs: 120_000 });
    const cpu1 = cpuOf(started.pid);
    const brokerCpu = cpuShare(cpu0, cpu1, (Date.now() - t0) / 1000);
    const { peakMb } = rss.stop();
    // The subscriber may still be reading what the broker already acked to publishers.
    let received = 0;
    for (let i = 0; i < 100; i++) {
      received = (await subscriber.request<{ received: number }>({ op: 'count' })).received;
      if (received >= load.acked) break;
      await sleep(100);
    }
    return {
      broker: broker.name,
      load,
      subscriberReceived: received,
      connectSeconds: connected.seconds,
      brokerPeakRssMb: peakMb,
      brokerCpu,
      brokerCpuSeconds: cpuDelta(cpu0, cpu1),
    };
  } finally {
    await fleet?.close();
    await subscriber.stop();
    await started.stop();
  }
}
