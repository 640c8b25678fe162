/**
 * Metadata with an example for the OpenAPI document: `.meta(example(value))`. Both
 * keywords: zod drops `examples` from the input (request) form of a schema that
 * transforms, such as one with an ISO 8601 time, while OpenAPI's `example` survives;
 * responses keep `examples`.
 */
export const example = (value: unknown): { example: unknown; examples: unknown[] } => ({ example: value, examples: [value] });
