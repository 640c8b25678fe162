/**
 * The API attack's researchers, in a process of their own (bench/api-attacks.ts): fetches
 * the requests it is given all at once and reads each body to its end, dropping it, so
 * that hundreds of MB of downloads do not delay the ward's and the device's probes, which
 * run in the bench's own event loop. IPC: {requests: [{url, token}]} → {results: [{status, bytes}]}.
 */
interface Download {
  readonly url: string;
  readonly token: string;
}

async function download(d: Download): Promise<{ status: number; bytes: number }> {
  const res = await fetch(d.url, { headers: { authorization: `Bearer ${d.token}` } });
  let bytes = 0;
  for await (const chunk of res.body ?? []) bytes += chunk.byteLength;
  return { status: res.status, bytes };
}

process.on('message', (m: { requests: Download[] }) => {
  Promise.all(m.requests.map(download)).then(
    (results) => process.send?.({ results }),
    (e: unknown) => process.send?.({ error: (e as Error).message }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
