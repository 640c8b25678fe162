import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiFixture } from '../api/fixture.js';

let f: ApiFixture;
beforeAll(async () => {
  f = await startApi();
});
afterAll(async () => f?.dispose());

type Op = {
  requestBody?: { content: Record<string, { schema: { example?: unknown } }> };
  responses: Record<string, { content?: Record<string, unknown> }>;
  description?: string;
};

describe('the OpenAPI document', () => {
  it('gives every request body an example', async () => {
    const spec = (await f.call({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, Op>> };
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const body = op.requestBody?.content['application/json']?.schema;
        if (body && body.example === undefined) missing.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('documents the dataset formats, the codebook formats and who may call each trial route', async () => {
    const spec = (await f.call({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, Op>> };
    expect(Object.keys(spec.paths['/v1/trials/{id}/dataset']!.get!.responses['200']!.content!)).toEqual([
      'text/csv',
      'application/x-ndjson',
      'application/vnd.apache.parquet',
    ]);
    expect(Object.keys(spec.paths['/v1/trials/{id}/codebook']!.get!.responses['200']!.content!)).toEqual(['application/json', 'text/csv']);
    expect(spec.paths['/v1/trials/{id}/dataset']!.get!.description).toMatch(/Roles: researcher, vendor\.$/);
    expect(spec.paths['/v1/audit/verify']!.get!.description).toMatch(/Roles: admin\.$/);
  });
});
